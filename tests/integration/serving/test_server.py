"""`modelyard_serving` as the deploy service runs it: a real subprocess answering the Open
Inference Protocol v2 over gRPC, with health, metrics, and exit code 3 when it cannot load."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from serving_models import (
    FEATURES,
    ONNX_BIAS,
    ONNX_WEIGHTS,
    logistic_regression,
    metric,
    push_custom,
    push_onnx,
    push_pickle,
    push_skops,
)
from sklearn.ensemble import RandomForestClassifier

import modelyard
from modelyard.v1 import inference_pb2, inference_pb2_grpc
from modelyard_common.embedded.service import ServiceProcess

Start = Callable[..., ServiceProcess]
ModelDir = Callable[[str], Path]


def oip(server: ServiceProcess) -> Iterator[inference_pb2_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(server.target) as channel:
        yield inference_pb2_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture
def stub(onnx_server: ServiceProcess) -> Iterator[inference_pb2_grpc.GRPCInferenceServiceStub]:
    yield from oip(onnx_server)


def affine(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) @ ONNX_WEIGHTS + ONNX_BIAS


def x_input(x: np.ndarray, **fields: object) -> inference_pb2.ModelInferRequest.InferInputTensor:
    return inference_pb2.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=x.shape, **fields)


def test_health_liveness_readiness_and_metadata(
    onnx_server: ServiceProcess, stub: inference_pb2_grpc.GRPCInferenceServiceStub
) -> None:
    with grpc.insecure_channel(onnx_server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert stub.ServerLive(inference_pb2.ServerLiveRequest()).live
    assert stub.ServerReady(inference_pb2.ServerReadyRequest()).ready
    assert stub.ModelReady(inference_pb2.ModelReadyRequest(name="affine")).ready
    assert stub.ModelReady(inference_pb2.ModelReadyRequest(name="affine", version="1")).ready
    assert not stub.ModelReady(inference_pb2.ModelReadyRequest(name="affine", version="2")).ready
    assert stub.ServerMetadata(inference_pb2.ServerMetadataRequest()).name == "modelyard"

    metadata = stub.ModelMetadata(inference_pb2.ModelMetadataRequest(name="affine"))

    assert (metadata.name, list(metadata.versions), metadata.platform) == ("affine", ["1"], "onnxruntime_onnx")
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [("x", "FP32", [-1, 4])]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [("y", "FP32", [-1, 3])]


def test_infer_with_typed_contents_answers_typed(stub: inference_pb2_grpc.GRPCInferenceServiceStub) -> None:
    x = FEATURES[:5].astype(np.float32)
    contents = inference_pb2.InferTensorContents(fp32_contents=x.ravel().tolist())
    request = inference_pb2.ModelInferRequest(model_name="affine", id="req-7", inputs=[x_input(x, contents=contents)])

    response = stub.ModelInfer(request)

    assert (response.model_name, response.model_version, response.id) == ("affine", "1", "req-7")
    assert not response.raw_output_contents
    [output] = response.outputs
    assert (output.name, output.datatype, list(output.shape)) == ("y", "FP32", [5, 3])
    np.testing.assert_allclose(np.array(output.contents.fp32_contents).reshape(5, 3), affine(x), rtol=1e-5)


def test_infer_with_raw_contents_answers_raw(stub: inference_pb2_grpc.GRPCInferenceServiceStub) -> None:
    x = FEATURES[:3].astype(np.float32)
    request = inference_pb2.ModelInferRequest(
        model_name="affine", model_version="1", inputs=[x_input(x)], raw_input_contents=[x.tobytes()]
    )
    request.outputs.add(name="y")

    response = stub.ModelInfer(request)

    assert [o.name for o in response.outputs] == ["y"] and not response.outputs[0].HasField("contents")
    y = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(3, 3)
    np.testing.assert_allclose(y, affine(x), rtol=1e-5)


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            {"model_name": "nope"},
            grpc.StatusCode.NOT_FOUND,
            "model_name: no model 'nope' here (this server serves 'affine')",
        ),
        (
            {"model_version": "4"},
            grpc.StatusCode.NOT_FOUND,
            "model_version: affine has no version '4' here (it serves 1)",
        ),
        ({"datatype": "FP64"}, grpc.StatusCode.INVALID_ARGUMENT, "x: datatype FP64, the model takes FP32"),
        ({"shape": [4, 2]}, grpc.StatusCode.INVALID_ARGUMENT, "x: shape [4, 2], the model takes [-1, 4]"),
        ({"raw": b"\x00" * 12}, grpc.StatusCode.INVALID_ARGUMENT, "x: shape [2, 4] of FP32 needs 32 bytes"),
        ({"name": "z"}, grpc.StatusCode.INVALID_ARGUMENT, "z: not an input of the model (inputs: x)"),
        ({"output": "w"}, grpc.StatusCode.INVALID_ARGUMENT, "outputs: 'w' is not an output of affine (y)"),
    ],
)
def test_bad_requests_are_refused_naming_what_is_wrong(
    stub: inference_pb2_grpc.GRPCInferenceServiceStub, change: dict[str, object], code: grpc.StatusCode, message: str
) -> None:
    x = np.zeros((2, 4), np.float32)
    tensor = x_input(x)
    tensor.name = str(change.get("name", "x"))
    tensor.datatype = str(change.get("datatype", "FP32"))
    if "shape" in change:
        tensor.shape[:] = change["shape"]  # type: ignore[index]
    raw = change.get("raw", x.astype(np.float64 if "datatype" in change else np.float32).tobytes())
    request = inference_pb2.ModelInferRequest(
        model_name=str(change.get("model_name", "affine")),
        model_version=str(change.get("model_version", "")),
        inputs=[tensor],
        raw_input_contents=[raw],  # type: ignore[list-item]
    )
    if "output" in change:
        request.outputs.add(name=str(change["output"]))

    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request)

    assert raised.value.code() == code
    assert (raised.value.details() or "").startswith(message)


def test_requests_that_do_not_decode_or_outweigh_their_method_are_refused_before_decoding(
    onnx_server: ServiceProcess,
) -> None:
    with grpc.insecure_channel(onnx_server.target) as channel:
        metadata = channel.unary_unary("/inference.GRPCInferenceService/ModelMetadata")
        with pytest.raises(grpc.RpcError) as raised:
            metadata(b"\x0a\x02\xff\xfe", timeout=30)  # name: two bytes that are not UTF-8
        assert (raised.value.code(), raised.value.details()) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "name: is not valid UTF-8",
        )
        ready = inference_pb2.ModelReadyRequest(name="a" * 70_000)
        with pytest.raises(grpc.RpcError) as raised:
            channel.unary_unary("/inference.GRPCInferenceService/ModelReady")(ready.SerializeToString(), timeout=30)
        assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert raised.value.details() == f"request: is {ready.ByteSize()} bytes; ModelReady takes at most 65536"


def test_metrics_count_requests_inferences_and_tensors(
    client: modelyard.Client, project: str, model_dir: ModelDir, start_server: Start
) -> None:
    push_onnx(client, f"{project}/affine", model_dir("affine"))
    server = start_server(f"{project}/affine")  # a server of its own: its counts start at zero
    url = server.metrics_url
    x = np.ones((4, 4), np.float32)
    request = inference_pb2.ModelInferRequest(
        model_name="affine", inputs=[x_input(x)], raw_input_contents=[x.tobytes()]
    )
    for stub in oip(server):
        for _ in range(3):
            stub.ModelInfer(request)
        with pytest.raises(grpc.RpcError):
            stub.ModelInfer(inference_pb2.ModelInferRequest(model_name="affine", inputs=[x_input(x)]))  # no contents

    labels = {"service": "GRPCInferenceService", "method": "ModelInfer"}
    assert metric(url, "modelyard_rpc_requests_total", code="OK", **labels) == 3
    assert metric(url, "modelyard_rpc_requests_total", code="INVALID_ARGUMENT", **labels) == 1
    assert metric(url, "modelyard_rpc_duration_seconds_count", code="OK", **labels) == 3
    served = {"model": "affine", "version": "1"}
    assert metric(url, "modelyard_serving_inference_seconds_count", outcome="ok", **served) == 3
    assert metric(url, "modelyard_serving_tensors_total", direction="input", **served) == 3
    assert metric(url, "modelyard_serving_elements_total", direction="input", **served) == 3 * 16
    assert metric(url, "modelyard_serving_elements_total", direction="output", **served) == 3 * 12
    assert metric(url, "modelyard_serving_model_load_seconds", **served) > 0
    assert metric(url, "modelyard_serving_model_info", platform="onnxruntime_onnx", **served) == 1


def test_a_scikit_learn_model_answers_with_its_own_predictions(
    client: modelyard.Client, project: str, model_dir: ModelDir, start_server: Start
) -> None:
    estimator = logistic_regression()
    push_skops(client, f"{project}/churn", estimator, model_dir("churn"))
    server = start_server(f"{project}/churn", model_name="churn-model")
    contents = inference_pb2.InferTensorContents(fp64_contents=FEATURES.ravel().tolist())
    features = inference_pb2.ModelInferRequest.InferInputTensor(
        name="input", datatype="FP64", shape=FEATURES.shape, contents=contents
    )

    for stub in oip(server):
        response = stub.ModelInfer(inference_pb2.ModelInferRequest(model_name="churn-model", inputs=[features]))

    predict, proba = response.outputs
    assert (predict.name, predict.datatype, proba.name, proba.datatype) == ("predict", "INT64", "predict_proba", "FP64")
    np.testing.assert_array_equal(predict.contents.int64_contents, estimator.predict(FEATURES))
    np.testing.assert_allclose(
        np.array(proba.contents.fp64_contents).reshape(list(proba.shape)), estimator.predict_proba(FEATURES)
    )


class GatedRelay:
    """A TCP relay to ``upstream`` that holds every connection until ``gate`` is set: a registry
    that does not answer yet, so that a server stays in the middle of loading its model."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.target = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.gate = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.gate.set()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(downstream,), daemon=True).start()

    def _relay(self, downstream: socket.socket) -> None:
        self.gate.wait()
        upstream = socket.create_connection(self._upstream)
        threading.Thread(target=_pipe, args=(upstream, downstream), daemon=True).start()
        _pipe(downstream, upstream)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


def test_health_turns_serving_only_once_the_model_is_loaded(
    client: modelyard.Client,
    project: str,
    model_dir: ModelDir,
    tmp_path: Path,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
) -> None:
    reference = push_onnx(client, f"{project}/affine", model_dir("affine"))
    relay = GatedRelay(registry_service.target)
    settings = {"reference": reference, "metadata_addr": metadata_service.target, "registry_addr": relay.target}
    server = ServiceProcess(
        "serving", "modelyard_serving", tmp_path / "gated", {**settings, "cache_dir": str(tmp_path)}
    )
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        starting = pool.submit(server.start)  # returns once health says SERVING
        try:
            deadline = time.monotonic() + 30
            while not server.ready_file.exists():  # written as soon as the server listens
                assert time.monotonic() < deadline and not starting.done()
                time.sleep(0.05)
            target = "127.0.0.1:{grpc_port}".format(**json.loads(server.ready_file.read_text()))
            with grpc.insecure_channel(target) as channel:
                stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING
                assert stub.ServerLive(inference_pb2.ServerLiveRequest()).live
                assert not stub.ServerReady(inference_pb2.ServerReadyRequest()).ready
                assert not stub.ModelReady(inference_pb2.ModelReadyRequest(name="affine")).ready
                with pytest.raises(grpc.RpcError) as raised:
                    stub.ModelMetadata(inference_pb2.ModelMetadataRequest(name="affine"))
                assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
                assert raised.value.details() == "affine: the model is still loading"

                relay.gate.set()
                starting.result(timeout=60)

                assert stub.ModelReady(inference_pb2.ModelReadyRequest(name="affine")).ready
        finally:
            relay.close()
            server.stop()


@pytest.mark.parametrize("case", ["pending", "pickle", "untrusted", "entry_point"])
def test_a_model_that_cannot_be_loaded_ends_the_server_with_code_3(
    client: modelyard.Client, project: str, model_dir: ModelDir, start_server: Start, case: str
) -> None:
    if case == "pending":
        client.create_model(f"{project}/m")
        reference = client.create_version(f"{project}/m").reference
        reason = f"{reference} is PENDING_UPLOAD; only READY versions can be loaded"
    elif case == "pickle":
        reference = push_pickle(client, f"{project}/m", logistic_regression(), model_dir("m"))
        reason = "model.pkl is a pkl file, which runs arbitrary code"
    elif case == "untrusted":
        forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(FEATURES, FEATURES[:, 0] > 0)
        reference = push_skops(client, f"{project}/m", forest, model_dir("m"))
        reason = "types skops does not trust: sklearn.tree._tree.Tree"
    else:
        reference = push_custom(client, f"{project}/m", model_dir("m"), 1.0, "predictor:Nothing")
        reason = "serving.entry_point predictor:Nothing failed: AttributeError"

    with pytest.raises(RuntimeError, match=r"serving exited with code 3 while starting") as raised:
        start_server(reference)

    [line] = [line for line in str(raised.value).splitlines() if line.startswith("E ")]
    assert line.startswith(f"E modelyard_serving.main: cannot serve {reference}: ")
    assert reason in line


def test_the_cli_serves_in_the_foreground_and_exits_3_when_it_cannot_load(
    client: modelyard.Client, project: str, tmp_path: Path
) -> None:
    missing = f"{project}/absent:1"

    ran = subprocess.run(
        [
            str(Path(sys.executable).with_name("modelyard")),
            "--target",
            client.target,
            "--registry",
            client.registry,
            "serve",
            missing,
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--cache-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert ran.returncode == 3
    assert f"cannot serve {missing}: model '{project}/absent' does not exist" in ran.stderr
