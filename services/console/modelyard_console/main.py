"""Composition root of the console: settings -> Redis (sessions) -> app -> HTTP server.

It binds its port itself (0 picks a free one) and writes the bound ports to the ready file,
as every Modelyard service does, then serves with uvicorn until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import redis.asyncio as aioredis
import uvicorn
from prometheus_client import start_http_server

from modelyard_common.logs import configure_logging
from modelyard_common.settings import load_settings
from modelyard_common.tls import client_tls
from modelyard_console.app import Console, build_app
from modelyard_console.sessions import SessionStore
from modelyard_console.settings import ConsoleSettings

logger = logging.getLogger(__name__)


async def run(settings: ConsoleSettings) -> None:
    redis = aioredis.Redis.from_url(settings.redis_url)
    tls = settings.tls_cert_file is not None
    console = Console(SessionStore(redis, settings.session_ttl_seconds), settings, client_tls(settings))
    listener = socket.create_server((settings.host, settings.port), reuse_port=False)
    # Accepted connections inherit it. asyncio sets it only on sockets made with proto=IPPROTO_TCP,
    # which create_server's are not; without it, a response's body waits behind its headers for
    # the browser's delayed ACK: 40 ms more for every page (bench/console).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    metrics_server, metrics_thread = start_http_server(settings.metrics_port, addr=settings.host)
    ports = {"http_port": listener.getsockname()[1], "metrics_port": metrics_server.server_port}
    config = uvicorn.Config(
        build_app(console),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        ssl_certfile=str(settings.tls_cert_file) if tls else None,
        ssl_keyfile=str(settings.tls_key_file) if tls else None,
    )
    server = uvicorn.Server(config)
    scheme = "https" if tls else "http"
    logger.info("serving", extra={"url": f"{scheme}://{settings.host}:{ports['http_port']}"})
    if settings.ready_file is not None:
        settings.ready_file.write_text(json.dumps(ports))
    try:
        await server.serve(sockets=[listener])
    finally:
        await console.close()
        await redis.aclose()
        metrics_server.shutdown()
        metrics_server.server_close()
        metrics_thread.join(timeout=5)
        logger.info("stopped")


def main() -> None:
    """``python -m modelyard_console``: settings from MLREG_CONSOLE_* variables."""
    settings = load_settings(ConsoleSettings)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
