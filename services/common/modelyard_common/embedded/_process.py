"""What every embedded store shares: a free port, and a child process we start, watch and stop by pid."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["ManagedProcess", "StartError", "free_port"]

_POLL_INTERVAL = 0.1
_LOG_TAIL_BYTES = 4000


def free_port() -> int:
    """Returns a TCP port that is free on 127.0.0.1 right now, so stores never fight over defaults."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class StartError(RuntimeError):
    """A server did not come up; ``reason`` says why in one line, the message adds its log tail."""

    def __init__(self, reason: str, log_tail: str = "") -> None:
        super().__init__(reason + log_tail)
        self.reason = reason


def _never() -> bool:
    return False


class ManagedProcess(ABC):
    """A store server run as our direct child, so we always know its pid and never kill by name.

    Subclasses say how to run it (``_command``), when it is usable (``_is_ready``) and what to set
    up on disk first (``_prepare``). Its stdout and stderr go to ``<data_dir>/<name>.log``.
    """

    name = "process"
    start_timeout = 30.0
    """Seconds ``start()`` waits for readiness before giving up."""
    stop_signal: int = signal.SIGTERM
    """The signal that asks the server for a clean shutdown."""
    stop_grace = 10.0
    """Seconds a clean shutdown may take before the process is killed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go; its tail is quoted in start errors."""
        return self.data_dir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        """Process id of the running server."""
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited (or been stopped) since."""
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit code of a process that exited by itself; None while it runs or once stopped."""
        return None if self._process is None else self._process.poll()

    def last_log_line(self) -> str:
        """The last non-blank line of its log, or "" when there is none."""
        lines = self._log_tail(with_header=False).strip().splitlines()
        return lines[-1].strip() if lines else ""

    def start(self, cancelled: Callable[[], bool] = _never) -> None:
        """Starts the server and returns once it answers.

        Args:
            cancelled: polled while waiting for readiness; once it returns True the half-started
                server is killed and StartError raised (a supervisor being stopped mid-restart).

        Raises:
            StartError: it exited early, was not ready in time, or was cancelled; the message ends
                with its log tail.
        """
        if self._process is not None and self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self._process.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._popen_options(),
                # Its own session: a Ctrl-C meant for us must not race our ordered stop().
                start_new_session=True,
            )
        try:
            self._wait_ready(self._process, cancelled)
        except BaseException:
            self.stop(grace=0)
            raise

    def stop(self, grace: float | None = None) -> None:
        """Asks the server to shut down, kills it by pid after ``grace`` seconds, and reaps it.

        Args:
            grace: seconds to wait after ``stop_signal``; defaults to ``stop_grace``. 0 kills at once.
        """
        process, self._process = self._process, None
        if process is None:
            return
        grace = self.stop_grace if grace is None else grace
        if process.poll() is None and grace > 0:
            process.send_signal(self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(grace)
        if process.poll() is None:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _prepare(self) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """Sets up the data directory before each start; nothing by default."""

    def _popen_options(self) -> dict[str, Any]:
        """Extra ``subprocess.Popen`` options, such as the user or environment to run with; none by default."""
        return {}

    @abstractmethod
    def _command(self) -> list[str]:
        """The server's command line."""

    @abstractmethod
    def _is_ready(self) -> bool:
        """Whether the server answers requests yet; called repeatedly while starting."""

    def _wait_ready(self, process: subprocess.Popen[bytes], cancelled: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = process.poll()
            if code is not None:
                raise StartError(f"{self.name} exited with code {code} while starting", self._log_tail())
            if self._is_ready():
                return
            if cancelled():
                raise StartError(f"{self.name} was stopped while starting")
            if time.monotonic() > deadline:
                raise StartError(f"{self.name} was not ready after {self.start_timeout:.0f}s", self._log_tail())
            time.sleep(_POLL_INTERVAL)

    def _log_tail(self, *, with_header: bool = True) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, 2) - _LOG_TAIL_BYTES))
                tail = log.read().decode(errors="replace")
        except OSError:
            return ""
        return f"; tail of {self.log_path}:\n{tail}" if with_header else tail
