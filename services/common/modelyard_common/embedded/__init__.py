"""Real Postgres, Redis and SeaweedFS servers (and Prometheus, when installed) on loopback, for tests
and ``make run``.

Each runs as a direct child process that we start, wait for and stop by pid.
"""

from ._process import free_port
from .postgres import EmbeddedPostgres
from .prometheus import EmbeddedPrometheus, prometheus_binary, rule_groups
from .redis import EmbeddedRedis
from .seaweedfs import EmbeddedSeaweedFS

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedPrometheus",
    "EmbeddedRedis",
    "EmbeddedSeaweedFS",
    "free_port",
    "prometheus_binary",
    "rule_groups",
]
