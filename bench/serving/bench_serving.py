"""Benchmark of serving: deploy-to-first-prediction, and ModelInfer latency and throughput beside
the same model called in-process.

Usage::

    .venv/bin/python bench/serving/bench_serving.py            # about 3 minutes on 2 cores
    .venv/bin/python bench/serving/bench_serving.py --quick    # fewer deployments, shorter runs
    ... --deploys N --requests N --seconds S --concurrency 1,2,4,8 --rows N --warm-replicas N --json out.json
    ... --profile DIR

Starts everything in a temporary folder and removes it at the end: Postgres (not durable),
SeaweedFS, the metadata, registry and deploy services (process runtime). Two small models are
pushed through the registry: a scikit-learn LogisticRegression saved with skops (8 features,
``predict`` and ``predict_proba``) and an ONNX graph (sigmoid of a Gemm, 8 features to 2).

- deploy-to-first-prediction: the SDK's ``deploy`` (CreateDeployment) is sent, GetDeployment is
  polled every 10 ms until the deployment lists an endpoint, then ModelInfer is sent to it until
  an answer comes: from the send of CreateDeployment to that answer. Each repetition is a new
  deployment, deleted afterwards. "cold": the replicas' artifact cache is emptied first, so the
  replica downloads the artifact from the registry; "warm": the cache holds it. The replica is
  one of the deploy service's warm interpreters (its default pool, or ``--warm-replicas N``),
  which already imported the model runtimes: each deployment is sent once one of them says it
  is waiting, so that it measures a deploy to a service at rest, not how fast the pool refills.
  With ``--warm-replicas 0`` every replica is a new Python process that imports them.
- latency: one deployment per model, one replica. Each case calls the model sequentially (one
  call in flight), in alternating blocks so that drift touches every case alike, with the same
  one-row input (``--rows``): in-process ``modelyard.load(...).predict``; ModelInfer through the
  generated stub, request encoded from and response decoded to numpy with ``modelyard.predictors``'
  codec (raw contents, as Triton clients send), counted in the time; ``Client.predict`` when the
  SDK has it; and a bare ServerLive round trip, the floor of one Python gRPC call here.
- throughput: the same calls from N threads for ``--seconds`` each, one channel shared.

The client, the replica and every service share this machine's cores: a client thread's Python
work is taken from the replica and the other way round. "other load" is CPU used on the machine
by processes outside the benchmark while a case ran, in % of all cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

import modelyard
from modelyard import DeploymentState
from modelyard.v1 import inference_pb2, inference_pb2_grpc
from modelyard_deploy.runtimes.process import INTERPRETER_ENV, INTERPRETER_FILE, MARKER_ENV
from modelyard_serving.launch import WAITING

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench._cpu import CpuMeter
from bench._load import percentile, sequential, threaded
from bench._machine import other_load_cell
from bench._profile import Profiler
from bench._report import Check, print_aligned, print_targets, write_json
from bench._run import arguments, measure_background_load, print_header, run_info, scratch
from bench._stack import Stack, platform_stack
from bench.serving._models import Calls, Model, infer_request, push_models

POLL_SECONDS = 0.01
DEPLOY_DEADLINE = 60.0
WARMUP_CALLS = 200
BLOCKS = 4
# Issue 17: deploy to first prediction, per model (the part of its key before a blank).
FIRST_PREDICTION_S = {"sklearn": 1.5, "onnx": 0.7}
OVERHEAD_P50_MS = 1.0
LOAD_METRIC = re.compile(r"^modelyard_serving_model_load_seconds\{[^}]*\} (\S+)$", re.MULTILINE)


@dataclass
class Case:
    model: str
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    throughput: dict[int, float] = field(default_factory=dict)
    other_load: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


# --- deploy to first prediction ------------------------------------------------------------------


@dataclass
class FirstPrediction:
    model: str
    cache: str
    create_rpc_s: float
    endpoint_s: float
    first_s: float
    load_s: float
    delete_s: float
    pool_wait_s: float


def replica_load_seconds(stack: Stack, replica_id: str) -> float:
    """modelyard_serving_model_load_seconds of a replica, from its /metrics (its ready file has
    the port)."""
    ready = json.loads((stack.root / "deploy" / "replicas" / replica_id / "ready.json").read_text())
    with urllib.request.urlopen(f"http://127.0.0.1:{ready['metrics_port']}/metrics", timeout=5) as response:
        match = LOAD_METRIC.search(response.read().decode())
    return float(match.group(1)) if match else float("nan")


def first_infer(endpoint: str, request: inference_pb2.ModelInferRequest, deadline: float) -> None:
    with grpc.insecure_channel(endpoint) as channel:
        stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
        while True:
            try:
                stub.ModelInfer(request, timeout=max(0.1, deadline - time.monotonic()))
                return
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
            time.sleep(POLL_SECONDS)


def until_pool_warm(stack: Stack) -> float:
    """Waits until a warm interpreter of the deploy service says it is waiting (in its log, which
    goes with it when it becomes a replica); returns how long that took."""
    started = time.monotonic()
    while not any(says_waiting(log) for log in (stack.root / "deploy" / "replicas" / "warm").glob("*.log")):
        if time.monotonic() - started > DEPLOY_DEADLINE:
            raise RuntimeError(f"no warm interpreter waiting after {DEPLOY_DEADLINE:g} s")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def says_waiting(log: Path) -> bool:
    try:
        return log.read_text().rstrip().endswith(WAITING)
    except OSError:  # taken meanwhile
        return False


def deploy_once(
    client: modelyard.Client,
    stack: Stack,
    model: Model,
    name: str,
    cold: bool,
    datatypes: dict[str, str],
    pool: bool,
) -> FirstPrediction:
    if cold:
        shutil.rmtree(stack.root / "deploy" / "cache", ignore_errors=True)
    pool_wait = until_pool_warm(stack) if pool else 0.0
    request = infer_request(name, model.inputs, datatypes)
    deadline = time.monotonic() + DEPLOY_DEADLINE
    started = time.perf_counter()
    client.deploy(name, model.reference)
    created = time.perf_counter()
    while True:
        deployment = client.get_deployment(name)
        if deployment.endpoints:
            break
        if deployment.state is DeploymentState.FAILED:
            raise RuntimeError(f"deployment {name} failed: {deployment.status_message}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"deployment {name} has no endpoint after {DEPLOY_DEADLINE:g} s")
        time.sleep(POLL_SECONDS)
    listed = time.perf_counter()
    first_infer(deployment.endpoints[0], request, deadline)
    answered = time.perf_counter()
    load = replica_load_seconds(stack, deployment.replica_status[0].id)
    client.delete_deployment(name)
    return FirstPrediction(
        model.key,
        "cold" if cold else "warm",
        created - started,
        listed - started,
        answered - started,
        load,
        time.perf_counter() - answered,
        pool_wait,
    )


# --- the run -----------------------------------------------------------------------------------


def replica_pid(stack: Stack, deployment: str) -> int | None:
    """The process of a replica of ``deployment``: its environment has the replica's marker, or
    the id of the warm interpreter that the replica's folder names."""
    marks = [f"{MARKER_ENV}={deployment}/".encode()]
    for folder in (stack.root / "deploy" / "replicas").glob(f"{deployment}-*"):
        with contextlib.suppress(OSError):
            marks.append(f"{INTERPRETER_ENV}={(folder / INTERPRETER_FILE).read_text()}\0".encode())
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                environ = Path(f"/proc/{entry}/environ").read_bytes()
                if any(mark in environ for mark in marks):
                    return int(entry)
    return None


LAYERS = (
    ("model (sklearn, onnxruntime, numpy)", ("sklearn/", "onnxruntime/", "numpy/", "scipy/")),
    ("predictor and codec (modelyard.predictors)", ("modelyard/predictors/",)),
    ("servicer, convert, served model", ("modelyard_serving/",)),
    ("metrics, interceptor", ("modelyard_common/", "prometheus_client/")),
    ("protobuf runtime", ("google/protobuf/",)),
    ("grpc Python layer", ("grpc/",)),
    ("to_thread plumbing", ("concurrent/futures/", "threading.py", "queue.py")),
    ("event loop + C callbacks (grpc core, sockets)", ("asyncio/", "selectors.py")),
)


def profile_replica(args: argparse.Namespace, stack: Stack, calls: Calls) -> list[str]:
    pid = replica_pid(stack, calls.model.deployment)
    if pid is None:
        print(f"profile: no replica of {calls.model.deployment} found; skipped")
        return []
    profiler = Profiler.create(args.profile, LAYERS, args.native)
    if profiler is None:
        return []
    name, what = f"replica-{calls.model.deployment}", f"the {calls.model.key} replica during sequential ModelInfer"
    with profiler.record(pid, name, what) as summary:
        sequential(calls.model_infer, args.requests * 2)
    return summary


def run_bench(args: argparse.Namespace, stack: Stack, info: dict[str, Any]) -> tuple[list[FirstPrediction], list[Case]]:
    assert stack.deploy is not None
    meter = CpuMeter(stack.parties())
    firsts: list[FirstPrediction] = []
    cases: list[Case] = []
    with modelyard.connect(
        stack.metadata.target, registry=stack.registry.target, deploy=stack.deploy.target, actor="bench"
    ) as client:
        models = push_models(client, stack.root / "models", args.rows)
        predictors = {
            m.key: modelyard.load(m.reference, client=client, cache_dir=stack.root / "client-cache") for m in models
        }
        print("\ndeploy to first prediction (CreateDeployment sent -> first ModelInfer answer)", flush=True)
        for model in models:
            datatypes = {spec.name: spec.datatype for spec in predictors[model.key].inputs}
            for index in range(args.deploys * 2):
                cold = index % 2 == 0  # alternate, so both see the same drift
                name = f"first-{len(firsts)}"
                sample = deploy_once(client, stack, model, name, cold, datatypes, args.warm_replicas != 0)
                firsts.append(sample)
                print(
                    f"  {model.key:<16} {sample.cache}: first prediction {sample.first_s:6.3f} s "
                    f"(CreateDeployment answered {sample.create_rpc_s * 1000:5.0f} ms, endpoint listed "
                    f"{sample.endpoint_s:6.3f} s, model load in the replica {sample.load_s:6.3f} s; "
                    f"delete {sample.delete_s:5.2f} s; waited {sample.pool_wait_s:5.2f} s for a warm interpreter)",
                    flush=True,
                )

        for model in models:
            model.deployment = model.key.split(" ")[0].replace("sklearn", "logreg")
            client.deploy(model.deployment, model.reference)
        for model in models:
            model.endpoint = client.wait_deployment(model.deployment, timeout=DEPLOY_DEADLINE).endpoints[0]

        for model in models:
            calls = Calls(model, predictors[model.key], client)
            try:
                measured = [(Case(model.key, name), call) for name, call in calls.cases()]
                for _, call in measured:
                    sequential(call, WARMUP_CALLS)
                for _ in range(BLOCKS):
                    for case, call in measured:
                        with meter.window() as cpu:
                            case.latencies_ms += sequential(call, args.requests // BLOCKS)
                        case.other_load.append(cpu.other_pct)
                for threads in args.concurrency:
                    for case, call in measured:
                        with meter.window() as cpu:
                            case.throughput[threads] = threaded(call, threads, args.seconds)
                        case.other_load.append(cpu.other_pct)
                for case, _ in measured:
                    print(
                        f"  {model.key:<16} {case.name:<20} p50 {case.p(0.5):7.3f} ms  p99 {case.p(0.99):7.3f} ms  "
                        + "  ".join(f"{t}x {case.throughput[t]:7.0f}/s" for t in args.concurrency),
                        flush=True,
                    )
                cases += [case for case, _ in measured]
                if args.profile and model is models[0]:
                    info["profile"] = profile_replica(args, stack, calls)
            finally:
                calls.close()
    return firsts, cases


def median_max(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.3f} / {max(values):.3f}"


def report(firsts: Sequence[FirstPrediction], cases: Sequence[Case], concurrency: Sequence[int]) -> None:
    print("\nDeploy to first prediction, seconds (median / max)")
    rows = []
    for key in dict.fromkeys(f.model for f in firsts):
        for cache in ("cold", "warm"):
            group = [f for f in firsts if f.model == key and f.cache == cache]
            rows.append(
                [
                    key,
                    cache,
                    str(len(group)),
                    median_max([f.first_s for f in group]),
                    median_max([f.endpoint_s for f in group]),
                    median_max([f.load_s for f in group]),
                    f"{statistics.median(f.create_rpc_s for f in group) * 1000:.0f} ms",
                ]
            )
    headers = ["model", "cache", "n", "first prediction", "endpoint listed", "model load", "CreateDeployment"]
    print_aligned(headers, rows, numeric={2, 3, 4, 5, 6})

    print("\nLatency (sequential, ms) and throughput (calls/s at N threads)")
    rows = []
    for case in cases:
        base = next(c for c in cases if c.model == case.model and c.name == "in-process predict")
        overhead = "" if case is base else f"{case.p(0.5) - base.p(0.5):+.3f}"
        rows.append(
            [
                case.model,
                case.name,
                str(len(case.latencies_ms)),
                f"{case.p(0.5):.3f}",
                f"{case.p(0.99):.3f}",
                overhead,
                *(f"{case.throughput[t]:,.0f}" for t in concurrency),
                other_load_cell(max(case.other_load)),
            ]
        )
    headers = ["model", "path", "n", "p50", "p99", "p50 - in-process", *(f"{t} thr/s" for t in concurrency)]
    print_aligned([*headers, "other load %"], rows, numeric=set(range(2, len(headers) + 1)))


def targets(firsts: Sequence[FirstPrediction], cases: Sequence[Case]) -> list[Check]:
    checks = []
    for key in dict.fromkeys(f.model for f in firsts):
        for cache in ("cold", "warm"):
            worst = max(f.first_s for f in firsts if f.model == key and f.cache == cache)
            limit = FIRST_PREDICTION_S[key.split(" ")[0]]
            checks.append(
                Check(f"first prediction <= {limit:g} s, {key}, {cache} cache (max)", f"{worst:.2f} s", worst <= limit)
            )
    for case in cases:
        if case.name == "ModelInfer (stub)":
            base = next(c for c in cases if c.model == case.model and c.name == "in-process predict")
            overhead = case.p(0.5) - base.p(0.5)
            checks.append(
                Check(
                    f"ModelInfer overhead p50 < {OVERHEAD_P50_MS:g} ms, {case.model}",
                    f"{overhead:.3f} ms",
                    overhead < OVERHEAD_P50_MS,
                )
            )
    return checks


def main() -> int:
    parser = arguments(
        __doc__,
        "2 deployments per cache state, 1 s per throughput run",
        "the sklearn replica during sequential ModelInfer",
    )
    parser.add_argument("--deploys", type=int, help="deployments per model and cache state (default 5)")
    parser.add_argument("--requests", type=int, default=2000, help="sequential calls per case (default 2000)")
    parser.add_argument("--seconds", type=float, help="seconds per throughput run (default 2)")
    parser.add_argument("--concurrency", default="1,2,4,8", help="threads for the throughput runs")
    parser.add_argument("--rows", type=int, default=1, help="rows per prediction (default 1)")
    parser.add_argument(
        "--warm-replicas", type=int, help="the deploy service's warm interpreters (default: its own default)"
    )
    args = parser.parse_args()
    args.deploys = args.deploys or (2 if args.quick else 5)
    args.seconds = args.seconds or (1.0 if args.quick else 2.0)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]

    packages = ("grpcio", "protobuf", "scikit-learn", "onnxruntime")
    info = run_info("bench/serving/bench_serving.py", packages, rows=args.rows, warm_replicas=args.warm_replicas)
    print_header(
        info,
        f"{args.deploys} deployments per model and cache state, {args.requests} sequential calls per case",
        "client, replicas, deploy, metadata, registry, SeaweedFS and Postgres",
    )
    # The reconciler's periodic pass is not what makes a deployment ready (a replica's readiness
    # triggers a pass at once); the default interval is kept.
    deploy_settings = {"ready_timeout_seconds": "60", "replica_stop_grace_seconds": "5"}
    if args.warm_replicas is not None:
        deploy_settings["warm_replicas"] = str(args.warm_replicas)
    with scratch("modelyard-bench-serving-", args.keep) as root, platform_stack(root, {}, deploy_settings) as stack:
        assert stack.deploy is not None
        print(f"deploy {stack.deploy.target} pid {stack.deploy.pid}", flush=True)
        measure_background_load(info)
        firsts, cases = run_bench(args, stack, info)

    report(firsts, cases, args.concurrency)
    checks = targets(firsts, cases)
    print_targets(checks)
    figures = [
        {
            "model": c.model,
            "path": c.name,
            "p50_ms": c.p(0.5),
            "p99_ms": c.p(0.99),
            "throughput": c.throughput,
            "other_load_pct": c.other_load,
        }
        for c in cases
    ]
    write_json(args.json, info, checks, first_prediction=[vars(f) for f in firsts], cases=figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
