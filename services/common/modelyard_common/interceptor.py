"""One server interceptor for every service: request context, RPC metrics, error mapping.

Domain code raises ``modelyard_common.errors`` exceptions; here they become gRPC statuses.
Anything else is a bug: logged with its request id and answered INTERNAL without details.
A unary RPC whose client set no deadline gets the server's ceiling, answered DEADLINE_EXCEEDED.
With authentication on, a call without a bearer token ends UNAUTHENTICATED here, except health
checks and reflection, which stay open for probes and tools; the services check the token itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from prometheus_client import Counter, Gauge, Histogram

from modelyard_common.calls import current_call, start_call
from modelyard_common.errors import DeadlineExceededError, ModelyardError, UnauthenticatedError

__all__ = ["ServiceInterceptor"]

logger = logging.getLogger(__name__)

RPC_REQUESTS = Counter(
    "modelyard_rpc_requests_total", "RPCs served, by method and status code", ["service", "method", "code"]
)
RPC_LATENCY = Histogram(
    "modelyard_rpc_duration_seconds",
    "Time to serve an RPC (whole stream for streaming RPCs), by method and status code",
    ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RPC_IN_FLIGHT = Gauge("modelyard_rpc_in_flight", "RPCs being served", ["service", "method"])

# Services every caller may use without a token.
OPEN_SERVICES = frozenset(
    {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"}
)


class _Observed:
    """Metrics and error mapping for one RPC method; shared by all its calls."""

    def __init__(self, full_method: str, auth_required: bool) -> None:
        service, _, method = full_method.lstrip("/").rpartition("/")
        self.needs_token = auth_required and service not in OPEN_SERVICES
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
    ``auth_required`` calls need a bearer token."""

    def __init__(self, rpc_timeout_seconds: float | None = None, auth_required: bool = False) -> None:
        self._ceiling = rpc_timeout_seconds
        self._auth_required = auth_required
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
            wrapped = self._wrapped[method] = _wrap(handler, _Observed(method, self._auth_required), self._ceiling)
        return wrapped


def _wrap(
    handler: grpc.RpcMethodHandler[Any, Any], observed: _Observed, ceiling: float | None
) -> grpc.RpcMethodHandler[Any, Any]:
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(_unary(observed, handler.unary_unary, ceiling), **kwargs)
    if handler.stream_unary:
        # A client stream (an upload) lasts as long as its bytes take: no ceiling.
        return grpc.stream_unary_rpc_method_handler(_unary(observed, handler.stream_unary, None), **kwargs)
    # On a grpc.aio server streaming behaviours are async generators; the stubs say Iterator.
    if handler.unary_stream:
        streaming = _streaming(observed, handler.unary_stream)  # type: ignore[arg-type]
        return grpc.unary_stream_rpc_method_handler(streaming, **kwargs)
    streaming = _streaming(observed, handler.stream_stream)  # type: ignore[arg-type]
    return grpc.stream_stream_rpc_method_handler(streaming, **kwargs)


def _unary(
    observed: _Observed, behavior: Callable[..., Awaitable[Any]], ceiling: float | None
) -> Callable[..., Awaitable[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        async with observed.serving(context):
            if ceiling is None or context.time_remaining() is not None:
                return await behavior(request, context)
            timeout = asyncio.timeout(ceiling)
            try:
                async with timeout:
                    return await behavior(request, context)
            except TimeoutError:
                if not timeout.expired():
                    raise
                raise DeadlineExceededError(
                    f"the call took longer than the server's {ceiling:g} s limit for calls without a deadline"
                ) from None

    return handle


def _streaming(observed: _Observed, behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        async with observed.serving(context):
            async for response in behavior(request, context):
                yield response

    return handle
