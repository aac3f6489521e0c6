"""A standard Open Inference Protocol client, tritonclient from PyPI, against `modelyard serve`.

It runs in a process of its own: tritonclient registers the same `inference.*` protobuf
messages as modelyard.v1.inference_pb2, and one process cannot hold both definitions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from serving_models import FEATURES, ONNX_BIAS, ONNX_WEIGHTS, SHOUT_SIGNATURE, push_custom

import modelyard
from modelyard_common.embedded.service import ServiceProcess

TRITON_SCRIPT = """
import json, sys
import numpy as np
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

affine_url, shout_url = sys.argv[1:]
report = {}
affine = triton.InferenceServerClient(affine_url)
report["live"] = affine.is_server_live()
report["ready"] = affine.is_server_ready()
report["model_ready"] = affine.is_model_ready("affine")
report["metadata"] = affine.get_model_metadata("affine", as_json=True)
x = np.array(json.loads(sys.stdin.read()), dtype=np.float32)
features = triton.InferInput("x", list(x.shape), "FP32")
features.set_data_from_numpy(x)
result = affine.infer("affine", [features], outputs=[triton.InferRequestedOutput("y")], request_id="t-1")
report["y"] = result.as_numpy("y").tolist()
report["id"] = result.get_response().id
try:
    affine.infer("other", [features])
except InferenceServerException as exc:
    report["error"] = [exc.status(), exc.message()]

shout = triton.InferenceServerClient(shout_url)
words = np.array([b"hello", "caf\\u00e9".encode()], dtype=object)
text = triton.InferInput("text", [2], "BYTES")
text.set_data_from_numpy(words)
report["upper"] = [w.decode() for w in shout.infer("shout", [text]).as_numpy("upper")]
print(json.dumps(report))
"""


def test_tritonclient_works_unchanged(
    client: modelyard.Client,
    project: str,
    model_dir: Callable[[str], Path],
    start_server: Callable[..., ServiceProcess],
    onnx_server: ServiceProcess,
) -> None:
    shout = push_custom(client, f"{project}/shout", model_dir("shout"), 1.0, "predictor:Shout", SHOUT_SIGNATURE)
    shout_server = start_server(shout)
    x = FEATURES[:3].astype(np.float32)

    ran = subprocess.run(
        [sys.executable, "-c", TRITON_SCRIPT, onnx_server.target, shout_server.target],
        input=json.dumps(x.tolist()),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    report = json.loads(ran.stdout)
    assert (report["live"], report["ready"], report["model_ready"]) == (True, True, True)
    assert report["metadata"]["platform"] == "onnxruntime_onnx"
    assert report["metadata"]["inputs"] == [{"name": "x", "datatype": "FP32", "shape": ["-1", "4"]}]
    np.testing.assert_allclose(report["y"], x @ ONNX_WEIGHTS + ONNX_BIAS, rtol=1e-5)
    assert report["id"] == "t-1"
    assert report["error"] == [
        "StatusCode.NOT_FOUND",
        "model_name: no model 'other' here (this server serves 'affine')",
    ]
    assert report["upper"] == ["HELLO", "CAFé"]  # bytes.upper: ASCII only, the rest intact
