"""One server interceptor for every service: request context, RPC metrics, error mapping.

Domain code raises ``modelyard_common.errors`` exceptions; here they become gRPC statuses.
Anything else is a bug: logged with its request id and answered INTERNAL without details.
A unary RPC whose client set no deadline gets the server's ceiling, answered DEADLINE_EXCEEDED.
Requests are decoded here too (modelyard_common.decoding): one over its method's size bound is
answered RESOURCE_EXHAUSTED unparsed, one protobuf cannot decode INVALID_ARGUMENT naming the field.
A handler may answer with bytes: its response already serialized, sent as it is.
With authentication on, a call without a bearer token ends UNAUTHENTICATED here, except health
checks and reflection, which stay open for probes and tools; the services check the token itself.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import grpc

from modelyard_common.calls import current_call, start_call
from modelyard_common.decoding import Refusal, decoder
from modelyard_common.errors import DeadlineExceededError, ModelyardError, UnauthenticatedError
from modelyard_common.metrics import RPC_IN_FLIGHT, RPC_LATENCY, RPC_REQUESTS

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "ServiceInterceptor"]

logger = logging.getLogger(__name__)

# Bytes of a request to a method no bound is given for (health, reflection): ample for what they take.
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024

# Services every caller may use without a token.
OPEN_SERVICES = frozenset(
    {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"}
)


class _Observed:
    """Metrics and error mapping for one RPC method; shared by all its calls."""

    def __init__(self, full_method: str, auth_required: bool, request_bytes: Mapping[str, int]) -> None:
        service, _, method = full_method.lstrip("/").rpartition("/")
        self.needs_token = auth_required and service not in OPEN_SERVICES
        self.max_request_bytes = request_bytes.get(full_method, request_bytes.get(service, DEFAULT_MAX_REQUEST_BYTES))
        self.service = service.rsplit(".", 1)[-1]
        self.method = method
        self.in_flight = RPC_IN_FLIGHT.labels(self.service, self.method)
        self._by_code: dict[str, tuple[Any, Any]] = {}

    def _record(self, code: str, seconds: float) -> None:
        children = self._by_code.get(code)
        if children is None:
            children = self._by_code[code] = (
                RPC_REQUESTS.labels(self.service, self.method, code),
                RPC_LATENCY.labels(self.service, self.method, code),
            )
        children[0].inc()
        children[1].observe(seconds)

    @asynccontextmanager
    async def serving(self, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
        """Around one call: its context, in-flight gauge, count and latency, and error mapping."""
        call = start_call(context.invocation_metadata(), self.method)
        self.in_flight.inc()
        started = time.perf_counter()
        code = "OK"
        try:
            if self.needs_token and not call.token:
                raise UnauthenticatedError(
                    f"{self.method}: no token; send the header 'authorization: Bearer <token>' "
                    "(the SDK and CLI read MODELYARD_TOKEN)"
                )
            yield
            code = _code_of(context)
        except grpc.aio.AbortError:
            code = _code_of(context)
            raise
        except Exception as exc:
            code = exc.code if isinstance(exc, ModelyardError) else "INTERNAL"
            await self._fail(context, exc)
        except BaseException:
            code = "CANCELLED"
            raise
        finally:
            self.in_flight.dec()
            self._record(code, time.perf_counter() - started)
            if code != "OK":
                logger.info("rpc %s/%s ended %s", self.service, self.method, code)

    async def _fail(self, context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> None:
        """Answers the RPC with the status ``exc`` maps to; the abort raises AbortError."""
        if isinstance(exc, ModelyardError):
            await context.abort(grpc.StatusCode[exc.code], exc.message)
        call = current_call()
        request_id = call.request_id if call else "-"
        logger.error("rpc %s/%s failed", self.service, self.method, exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")


def _code_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "OK"


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler with request context, metrics and error mapping; unary-unary calls
    without a client deadline end after ``rpc_timeout_seconds`` (None: never); with
    ``auth_required`` calls need a bearer token. ``request_bytes`` bounds a request's size by full
    method ("/pkg.Service/Method") or service ("pkg.Service"), else DEFAULT_MAX_REQUEST_BYTES."""

    def __init__(
        self,
        rpc_timeout_seconds: float | None = None,
        auth_required: bool = False,
        request_bytes: Mapping[str, int] | None = None,
    ) -> None:
        self._ceiling = rpc_timeout_seconds
        self._auth_required = auth_required
        self._request_bytes = dict(request_bytes or {})
        # A method's handler never changes, so it is wrapped once, on its first call.
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            observed = _Observed(method, self._auth_required, self._request_bytes)
            wrapped = self._wrapped[method] = _wrap(handler, observed, self._ceiling)
        return wrapped


def _wrap(
    handler: grpc.RpcMethodHandler[Any, Any], observed: _Observed, ceiling: float | None
) -> grpc.RpcMethodHandler[Any, Any]:
    deserialize = handler.request_deserializer or _raw
    kwargs = {
        "request_deserializer": decoder(observed.method, deserialize, observed.max_request_bytes),
        "response_serializer": _bytes_as_they_are(handler.response_serializer),
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(_unary(observed, handler.unary_unary, ceiling), **kwargs)
    if handler.stream_unary:
        # A client stream (an upload) lasts as long as its bytes take: no ceiling.
        uploading = _unary(observed, handler.stream_unary, None, _client_stream)
        return grpc.stream_unary_rpc_method_handler(uploading, **kwargs)
    # grpc.aio takes a streaming behaviour in two shapes (the stubs say Iterator): an async
    # generator, or a coroutine function that sends with context.write (health's Watch does).
    if handler.unary_stream:
        streaming = _streaming(observed, handler.unary_stream, _unary_request)
        return grpc.unary_stream_rpc_method_handler(streaming, **kwargs)  # type: ignore[arg-type]
    streaming = _streaming(observed, handler.stream_stream, _client_stream)  # type: ignore[arg-type]
    return grpc.stream_stream_rpc_method_handler(streaming, **kwargs)  # type: ignore[arg-type]


def _raw(data: bytes) -> bytes:
    return data


def _bytes_as_they_are(serialize: Callable[[Any], bytes] | None) -> Callable[[Any], bytes] | None:
    """``serialize``, except that a handler may return its response serialized already (a
    message kept as bytes): bytes are sent as they are."""
    if serialize is None:
        return None

    def serialized(response: Any) -> bytes:
        return response if isinstance(response, bytes) else serialize(response)

    return serialized


def _decoded(request: Any) -> Any:
    """The request, or the error its deserializer refused it with, raised in the call."""
    if isinstance(request, Refusal):
        raise request.error
    return request


async def _each_decoded(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A client stream's requests, raising at the first one its deserializer refused."""
    async for request in requests:
        yield _decoded(request)


class _DecodedReads:
    """A call's context whose ``read()`` raises at a request its deserializer refused, as the
    request iterator does: a handler reading with context.read() meets the same refusals."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def read(self) -> Any:
        return _decoded(await self._context.read())


# What a behaviour is called with: its request(s), decoded, and the context.
_Arguments = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], tuple[Any, Any]]


def _unary_request(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> tuple[Any, Any]:
    return _decoded(request), context


def _client_stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> tuple[Any, Any]:
    return _each_decoded(requests), _DecodedReads(context)


def _unary(
    observed: _Observed,
    behavior: Callable[..., Awaitable[Any]],
    ceiling: float | None,
    arguments: _Arguments = _unary_request,
) -> Callable[..., Awaitable[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        async with observed.serving(context):
            request, behavior_context = arguments(request, context)
            if ceiling is None or context.time_remaining() is not None:
                return await behavior(request, behavior_context)
            timeout = asyncio.timeout(ceiling)
            try:
                async with timeout:
                    return await behavior(request, behavior_context)
            except TimeoutError:
                if not timeout.expired():
                    raise
                raise DeadlineExceededError(
                    f"the call took longer than the server's {ceiling:g} s limit for calls without a deadline"
                ) from None

    return handle


def _streaming(observed: _Observed, behavior: Callable[..., Any], arguments: _Arguments) -> Callable[..., Any]:
    """``behavior`` observed, wrapped in its own shape: grpc.aio tells an async generator from a
    coroutine function that writes by the kind of the function it is given, the wrapper. (Sync
    handlers need a thread pool these servers do not give grpc, so they never come here.)"""
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            async with observed.serving(context):
                async for response in behavior(*arguments(request, context)):
                    yield response

        return stream

    async def write(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        async with observed.serving(context):
            await behavior(*arguments(request, context))

    return write
