"""Predictions over the Open Inference Protocol v2 (gRPC): ``InferenceClient`` calls one
inference server; ``DeploymentRouter`` (behind ``Client.predict``) spreads calls over the ready
replicas of a deployment.

Inputs travel as raw contents, encoded and decoded by the tensor codec of
``modelyard.predictors``: numeric arrays go out with one ``tobytes`` and come back with one
``frombuffer`` (read-only arrays, no copy), never through a Python loop.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
from numpy.typing import ArrayLike

from modelyard._tls import TLSConfig, open_channel
from modelyard._types import Deployment, Signature, TensorSpec
from modelyard.errors import Reachable, UnavailableError, from_rpc_error
from modelyard.predictors import Arrays, as_array, datatype_of, from_contents, from_raw, to_raw
from modelyard.v1 import inference_pb2, inference_pb2_grpc

__all__ = ["ENDPOINT_TTL_SECONDS", "DeploymentRouter", "InferenceClient"]

# How long the ready endpoints of a deployment are trusted before they are read again; an
# UNAVAILABLE answer makes them be read again at once.
ENDPOINT_TTL_SECONDS = 5.0
_REQUEST_ID_HEADER = "modelyard-request-id"
_OPTIONS = [("grpc.primary_user_agent", "modelyard-python"), ("grpc.max_receive_message_length", 64 * 1024 * 1024)]

T = TypeVar("T")


def infer_request(
    model_name: str, inputs: Mapping[str, ArrayLike], outputs: Sequence[str] | None
) -> inference_pb2.ModelInferRequest:
    """The ModelInferRequest of ``inputs`` (name -> array), raw contents, datatypes from the
    arrays' dtypes (text is BYTES); ``outputs`` asks for those outputs only."""
    request = inference_pb2.ModelInferRequest(model_name=model_name)
    for name, value in inputs.items():
        array = as_array(name, value)
        datatype = datatype_of(array, name)
        request.inputs.add(name=name, datatype=datatype, shape=array.shape)
        request.raw_input_contents.append(to_raw(array, datatype))
    for name in outputs or ():
        request.outputs.add(name=name)
    return request


def outputs_from_response(response: inference_pb2.ModelInferResponse) -> Arrays:
    """The response's output tensors by name, from raw contents when the server used them."""
    raw = response.raw_output_contents
    arrays: Arrays = {}
    for index, tensor in enumerate(response.outputs):
        if raw:
            arrays[tensor.name] = from_raw(tensor.name, tensor.datatype, tensor.shape, raw[index])
        else:
            arrays[tensor.name] = from_contents(tensor.name, tensor.datatype, tensor.shape, tensor.contents)
    return arrays


def _specs(tensors: Iterable[inference_pb2.ModelMetadataResponse.TensorMetadata]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in tensors)


class InferenceClient:
    """A blocking client of one Open Inference Protocol v2 server (``modelyard serve``, a
    deployment's replica, or any OIP server) for one model. Safe to share between threads.

        with modelyard.InferenceClient("127.0.0.1:8001", "scorer") as server:
            labels = server.infer({"input": features})["predict"]

    Errors are the SDK's typed errors (``InvalidArgumentError`` for inputs the model refuses,
    ``NotFoundError`` for another model name, ``UnavailableError`` when the server is down).
    """

    def __init__(
        self, target: str, model_name: str, *, timeout: float | None = 30.0, tls: TLSConfig | None = None
    ) -> None:
        self.target = target
        self.model_name = model_name
        self.timeout = timeout
        self._channel = open_channel(target, tls, _OPTIONS)
        self._stub = inference_pb2_grpc.GRPCInferenceServiceStub(self._channel)

    def __repr__(self) -> str:
        return f"InferenceClient(target={self.target!r}, model_name={self.model_name!r})"

    def infer(self, inputs: Mapping[str, ArrayLike], *, outputs: Sequence[str] | None = None) -> Arrays:
        """Runs the model on ``inputs`` (name -> array); returns every output (or those named
        in ``outputs``) by name, read-only arrays in their declared datatypes."""
        return outputs_from_response(self._call("ModelInfer", infer_request(self.model_name, inputs, outputs)))

    def signature(self) -> Signature:
        """The model's input and output tensors as the server declares them (ModelMetadata)."""
        response = self._call("ModelMetadata", inference_pb2.ModelMetadataRequest(name=self.model_name))
        return Signature(inputs=_specs(response.inputs), outputs=_specs(response.outputs))

    def _call(self, method: str, request: Any) -> Any:
        request_id = uuid.uuid4().hex[:16]
        try:
            return getattr(self._stub, method)(
                request, timeout=self.timeout, metadata=((_REQUEST_ID_HEADER, request_id),)
            )
        except grpc.RpcError as exc:
            reachable = Reachable("inference server", self.target)
            raise from_rpc_error(exc, request_id=request_id, reachable=reachable) from exc

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(slots=True)
class _Route:
    """The ready endpoints of a deployment as last read, until ``expires`` (monotonic)."""

    endpoints: tuple[str, ...]
    expires: float
    turn: int = 0
    servers: dict[str, InferenceClient] = field(default_factory=dict)


class DeploymentRouter:
    """``Client.predict``'s routing: the ready endpoints of each deployment, read through
    ``lookup`` (GetDeployment) and kept ``ENDPOINT_TTL_SECONDS``; calls go round robin over
    them, one channel per endpoint. An UNAVAILABLE endpoint makes the call go on to the next
    one and the endpoints be read again; when a whole pass failed, the call makes one more pass
    over the endpoints read anew."""

    def __init__(self, lookup: Callable[[str], Deployment], timeout: float | None, tls: TLSConfig | None) -> None:
        self._lookup = lookup
        self._timeout = timeout
        self._tls = tls
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}

    def infer(self, deployment: str, inputs: Mapping[str, ArrayLike], outputs: Sequence[str] | None) -> Arrays:
        request = infer_request(deployment, inputs, outputs)
        return outputs_from_response(self._on_replicas(deployment, lambda server: server._call("ModelInfer", request)))

    def signature(self, deployment: str) -> Signature:
        return self._on_replicas(deployment, InferenceClient.signature)

    def _on_replicas(self, deployment: str, call: Callable[[InferenceClient], T]) -> T:
        failure = UnavailableError(f"deployment {deployment}: every ready replica was unavailable")
        for _ in range(2):  # the second pass over endpoints read again
            for server in self._rotation(deployment):
                try:
                    return call(server)
                except UnavailableError as exc:
                    failure = exc
                    self._expire(deployment)
        raise failure

    def _rotation(self, deployment: str) -> list[InferenceClient]:
        """The servers of the deployment's endpoints, starting with the next one's turn."""
        route = self._route(deployment)
        with self._lock:
            servers = [self._server(route, endpoint, deployment) for endpoint in route.endpoints]
            start = route.turn % len(servers)
            route.turn += 1
        return servers[start:] + servers[:start]

    def _route(self, deployment: str) -> _Route:
        """The cached route, or one read now; UnavailableError when no replica is ready."""
        with self._lock:
            route = self._routes.get(deployment)
            if route is not None and route.expires > time.monotonic():
                return route
        found = self._lookup(deployment)  # outside the lock: a gRPC call
        if not found.endpoints:
            detail = f": {found.status_message}" if found.status_message else ""
            raise UnavailableError(f"deployment {deployment} has no ready replica ({found.state}{detail})")
        with self._lock:
            old = self._routes.get(deployment)
            route = _Route(found.endpoints, time.monotonic() + ENDPOINT_TTL_SECONDS, old.turn if old else 0)
            if old is not None:
                for endpoint, server in old.servers.items():
                    if endpoint in route.endpoints:
                        route.servers[endpoint] = server
                    else:
                        server.close()
            self._routes[deployment] = route
            return route

    def _server(self, route: _Route, endpoint: str, deployment: str) -> InferenceClient:
        server = route.servers.get(endpoint)
        if server is None:
            server = route.servers[endpoint] = InferenceClient(
                endpoint, deployment, timeout=self._timeout, tls=self._tls
            )
        return server

    def _expire(self, deployment: str) -> None:
        with self._lock:
            route = self._routes.get(deployment)
            if route is not None:
                route.expires = 0.0

    def close(self) -> None:
        with self._lock:
            for route in self._routes.values():
                for server in route.servers.values():
                    server.close()
            self._routes.clear()
