"""Real Postgres, Redis and SeaweedFS servers (and Prometheus, when installed) on loopback, for tests
and ``make run``.

Each runs as a direct child process that we start, wait for and stop by pid; a ``Supervisor``
restarts those that exit (``make run``).
"""

from ._process import ManagedProcess, StartError, free_port
from ._supervisor import Backoff, Supervisor, describe_exit
from .postgres import EmbeddedPostgres
from .prometheus import EmbeddedPrometheus, prometheus_binary, rule_groups
from .redis import EmbeddedRedis
from .seaweedfs import EmbeddedSeaweedFS

__all__ = [
    "Backoff",
    "EmbeddedPostgres",
    "EmbeddedPrometheus",
    "EmbeddedRedis",
    "EmbeddedSeaweedFS",
    "ManagedProcess",
    "StartError",
    "Supervisor",
    "describe_exit",
    "free_port",
    "prometheus_binary",
    "rule_groups",
]
