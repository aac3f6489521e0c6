"""Keeps running what ``make run`` started: a process that exits is restarted, with backoff, and says so."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._process import ManagedProcess, StartError

__all__ = ["Backoff", "Supervisor", "describe_exit"]

_TICK = 0.2
"""Seconds between looks at the processes."""


class Backoff:
    """The wait before each restart of one process: 1 s, doubling up to 30 s; a run that lasted
    a minute starts it over, so a process that crashes once in a while comes back at once."""

    first = 1.0
    cap = 30.0
    stable_after = 60.0
    """Seconds a process must stay up for its next failure to count as the first in a row."""

    def __init__(self) -> None:
        self.failures = 0
        """Failures in a row, counting failed restarts."""

    def after_failure(self, uptime: float) -> float:
        """Seconds to wait before the next start, once a process that was up ``uptime`` s failed."""
        if uptime >= self.stable_after:
            self.failures = 0
        self.failures += 1
        return min(self.cap, self.first * 2.0 ** (self.failures - 1))


def describe_exit(code: int | None) -> str:
    """``exited with code 1`` or ``was killed by SIGKILL``, from a ``Popen.returncode``."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class _Child:
    process: ManagedProcess
    label: str
    up_since: float = field(default_factory=time.monotonic)
    backoff: Backoff = field(default_factory=Backoff)
    restart_at: float | None = None
    """Set while the process is down, waiting for its next start."""


class Supervisor:
    """Restarts any watched process that exits, until SIGINT or SIGTERM; all on the calling thread.

    Restarts are sequential and happen inside ``run()``, so a stop request cannot race one: it
    cancels a start in progress (which kills what it started) and ``run()`` returns, leaving the
    caller to stop everything in its own order. A process that keeps failing is retried forever
    (``Backoff.cap`` seconds apart at most), because what it needs, such as a store, may come back.
    """

    keeps_failing = 5
    """Failures in a row after which a process is said to keep failing (once, until it stays up)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._children: list[_Child] = []
        self._stopping = False

    def watch(self, process: ManagedProcess, label: str) -> None:
        """Supervises ``process``, which has just started; ``label`` names it in what we say."""
        self._children.append(_Child(process, label))
        self._say(f"started {label} (pid {process.pid})")

    def run(self) -> None:
        """Supervises until SIGINT or SIGTERM; stops nothing itself."""

        def request_stop(*_: object) -> None:
            # Only a flag: this handler may run in the middle of a restart.
            self._stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        while not self._stopping:
            for child in self._children:
                if self._stopping:
                    break
                self._look_after(child)
            time.sleep(_TICK)

    def _look_after(self, child: _Child) -> None:
        if child.restart_at is None:
            if not child.process.running:
                self._exited(child)
        elif time.monotonic() >= child.restart_at:
            self._restart(child)

    def _exited(self, child: _Child) -> None:
        process = child.process
        pid, code, last = process.pid, process.returncode, process.last_log_line()
        process.stop()  # reaps it and cleans up after it (SeaweedFS's sockets)
        delay = child.backoff.after_failure(time.monotonic() - child.up_since)
        self._say(f"{child.label} (pid {pid}) {describe_exit(code)}{_quoted(last)}; {self._schedule(child, delay)}")

    def _restart(self, child: _Child) -> None:
        self._say(f"restarting {child.label} ...")
        try:
            child.process.start(cancelled=lambda: self._stopping)
        except (RuntimeError, OSError) as exc:  # StartError, or a failed set-up such as Postgres's initdb
            if not self._stopping:
                reason = exc.reason if isinstance(exc, StartError) else str(exc).partition("\n")[0]
                last = _quoted(child.process.last_log_line())
                delay = child.backoff.after_failure(0.0)
                self._say(f"{child.label} failed to restart: {reason}{last}; {self._schedule(child, delay)}")
            return
        child.restart_at, child.up_since = None, time.monotonic()
        self._say(f"restarted {child.label} (pid {child.process.pid})")

    def _schedule(self, child: _Child, delay: float) -> str:
        """Sets the time of the next start; what to say about it."""
        child.restart_at = time.monotonic() + delay
        said = f"restarting it in {delay:g} s (failure {child.backoff.failures} in a row)"
        if child.backoff.failures == self.keeps_failing:
            said += (
                f"; it keeps failing (see {child.process.log_path}): still retrying it, "
                f"up to {child.backoff.cap:g} s apart, until it stays up {child.backoff.stable_after:g} s"
            )
        return said


def _quoted(line: str) -> str:
    return f"; its log ends: {line}" if line else ""
