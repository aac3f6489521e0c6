"""Real Postgres, Redis and SeaweedFS servers on loopback, for tests and ``make run``.

Each runs as a direct child process that we start, wait for and stop by pid.
"""

from ._process import free_port
from .postgres import EmbeddedPostgres
from .redis import EmbeddedRedis
from .seaweedfs import EmbeddedSeaweedFS

__all__ = ["EmbeddedPostgres", "EmbeddedRedis", "EmbeddedSeaweedFS", "free_port"]
