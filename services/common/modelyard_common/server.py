"""Runs a service's gRPC server with health, reflection, metrics and graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import start_http_server

from modelyard_common.interceptor import DEFAULT_MAX_REQUEST_BYTES, ServiceInterceptor
from modelyard_common.limits import MAX_MESSAGE_BYTES
from modelyard_common.processes import Copies, reuse_port, watch_parent
from modelyard_common.reflection import enable_reflection
from modelyard_common.settings import ServiceSettings
from modelyard_common.tls import server_credentials, tls_mode

__all__ = ["MAX_MESSAGE_BYTES", "ServiceBinding", "serve"]

logger = logging.getLogger(__name__)

_KEEPALIVE_MS, _KEEPALIVE_TIMEOUT_MS = 60_000, 20_000


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer to host: its full proto name (for health and reflection) and how to add it.

    A request to it may weigh ``max_request_bytes``, or what ``larger_requests`` gives its method
    (by name, e.g. "LogMetrics"); a heavier one is refused before it is decoded. The server's own
    receive cap is the largest of these, so grpc drops anything heavier before buffering it.
    """

    name: str
    add_to_server: Callable[[grpc.aio.Server], None]
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    larger_requests: Mapping[str, int] = field(default_factory=dict)

    def request_bytes(self) -> dict[str, int]:
        """Bounds by service and by full method name, as ServiceInterceptor takes them."""
        by_method = {f"/{self.name}/{method}": size for method, size in self.larger_requests.items()}
        return {self.name: self.max_request_bytes, **by_method}


async def serve(
    settings: ServiceSettings,
    services: Sequence[ServiceBinding],
    *,
    before_stop: Callable[[], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
    warm_up: Callable[[], Awaitable[None]] | None = None,
    auth_required: bool = False,
) -> None:
    """Serves until SIGTERM/SIGINT (or ``stop`` is set), then drains in-flight RPCs.

    ``before_stop`` runs once the service reports NOT_SERVING, so that open streams can end
    cleanly instead of waiting out the grace period. ``warm_up`` runs once the server listens
    and its ready file is written; health reports NOT_SERVING until it returns, and an error it
    raises stops the server and is raised from here.

    The gRPC port speaks TLS (mTLS) when the settings name the files; ``health_port`` adds a
    plaintext port serving only health, with the same answers, for probes that cannot do TLS.
    With ``auth_required``, every call but health and reflection needs a bearer token.
    With ``processes`` above 1 in the settings, copies of this process share its ports
    (modelyard_common.processes), and the ready file is written once they all serve.
    """
    request_bytes = {name: size for binding in services for name, size in binding.request_bytes().items()}
    receive_cap = max([DEFAULT_MAX_REQUEST_BYTES, *request_bytes.values()])
    shared = ("grpc.so_reuseport", int(reuse_port(settings)))
    server = grpc.aio.server(
        interceptors=[ServiceInterceptor(settings.rpc_timeout_seconds, auth_required, request_bytes)],
        options=[
            ("grpc.max_receive_message_length", receive_cap),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            shared,
            # While calls are open, a peer that went without a word (its node lost) is noticed
            # within ~80 s, and its streams (a watch, a job's remote worker) end, not hang for hours.
            ("grpc.keepalive_time_ms", _KEEPALIVE_MS),
            ("grpc.keepalive_timeout_ms", _KEEPALIVE_TIMEOUT_MS),
            ("grpc.http2.max_pings_without_data", 0),  # a stream may be quiet for long (a model at work)
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for binding in services:
        binding.add_to_server(server)
    names = [binding.name for binding in services]
    enable_reflection([*names, health.SERVICE_NAME], server)

    address = f"{settings.host}:{settings.port}"
    credentials = server_credentials(settings)
    port = server.add_insecure_port(address) if credentials is None else server.add_secure_port(address, credentials)
    health_server, ports = None, {"grpc_port": port}
    if settings.health_port is not None:
        health_server = grpc.aio.server(options=[shared])
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        ports["health_port"] = health_server.add_insecure_port(f"{settings.host}:{settings.health_port}")
    metrics_server, metrics_thread = start_http_server(settings.metrics_port, addr=settings.host)
    ports["metrics_port"] = metrics_server.server_port
    await server.start()
    if health_server is not None:
        await health_server.start()

    async def set_health(status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        for name in ["", *names]:
            await health_servicer.set(name, status)

    await set_health(health_pb2.HealthCheckResponse.NOT_SERVING if warm_up else health_pb2.HealthCheckResponse.SERVING)
    logger.info(
        "serving" if warm_up is None else "listening",
        extra={"tls": tls_mode(settings)} | {name: f"{settings.host}:{number}" for name, number in ports.items()},
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    parent_watch = watch_parent(settings, stop)
    copies = Copies(settings, ports, stop)
    try:
        if len(copies):
            await copies.start()
        if settings.ready_file is not None and await copies.ready():
            settings.ready_file.write_text(json.dumps(ports))
        if warm_up is not None and await _warmed_up(warm_up, stop):
            await set_health(health_pb2.HealthCheckResponse.SERVING)
            logger.info("serving")
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        logger.info("stopping", extra={"grace_seconds": settings.shutdown_grace_seconds})
        copies.signal_stop()
        if parent_watch is not None:
            parent_watch.cancel()
        await health_servicer.enter_graceful_shutdown()
        if before_stop is not None:
            await before_stop()
        await server.stop(settings.shutdown_grace_seconds)
        await copies.stopped()
        if health_server is not None:
            await health_server.stop(None)
        metrics_server.shutdown()
        metrics_server.server_close()
        metrics_thread.join(timeout=5)
        logger.info("stopped")
    copies.check()


async def _warmed_up(warm_up: Callable[[], Awaitable[None]], stop: asyncio.Event) -> bool:
    """Runs ``warm_up`` unless ``stop`` is set first (then cancels it): whether it finished."""
    warming = asyncio.ensure_future(warm_up())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({warming, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not warming.done():
        warming.cancel()
        return False
    warming.result()
    return True
