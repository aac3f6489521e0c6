"""A state's badge on every page: one table from a state (a job's, a scoring run's, a webhook
delivery's) to its colour class in console.css; a state it does not name is amber (pending)."""

from __future__ import annotations

__all__ = ["state_class"]

_CLASSES = {
    "SUCCEEDED": "available",
    "PASSED": "available",
    "DELIVERED": "available",
    "FAILED": "failed",
    "ERROR": "error",
    "CANCELLED": "cancelled",
}


def state_class(state: str) -> str:
    """The badge class of ``state`` (a StrEnum's value, or its text): green for success, red
    FAILED, ERROR apart, grey CANCELLED, amber the rest (queued, running...)."""
    return "state-" + _CLASSES.get(str(state), "pending")
