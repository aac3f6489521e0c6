"""Progress bars for ``push`` and ``pull``: one per file and one over all files, on stderr."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from modelyard import TransferPhase, TransferProgress

__all__ = ["Tally", "TransferBars"]


class Tally:
    """Bytes moved over all files, from the latest event of each. A file counts toward ``total``
    from its first event (hashing announces its size), toward ``done`` only through upload and
    download events: hashing moves nothing."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[int, int]] = {}
        self.done = 0
        self.total = 0

    def add(self, event: TransferProgress) -> None:
        moved, total = self._files.get(event.path, (0, 0))
        now_moved = moved if event.phase is TransferPhase.HASH else event.done
        self.done += now_moved - moved
        self.total += event.total - total
        self._files[event.path] = (now_moved, event.total)


class TransferBars:
    """A ``progress`` callback for ``Client.push`` / ``pull`` drawing the bars while in a ``with``
    block. Drawn only on a terminal (never with --json): a log or a pipe gets no bar debris."""

    def __init__(self, title: str, *, enabled: bool) -> None:
        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),  # paths are shown as they are
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not (enabled and console.is_terminal),
        )
        self._overall = self._progress.add_task(title, total=None)
        self._files: dict[str, tuple[TaskID, TransferPhase]] = {}
        self._tally = Tally()
        # Events come from the calling thread and from gRPC's request thread (uploads).
        self._lock = threading.Lock()

    def __enter__(self) -> TransferBars:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def __call__(self, event: TransferProgress) -> None:
        with self._lock:
            description = f"{event.phase.value:<8} {event.path}"
            known = self._files.get(event.path)
            if known is None:
                task = self._progress.add_task(description, total=event.total, completed=event.done)
            else:
                task, phase = known
                if phase is event.phase:
                    self._progress.update(task, completed=event.done)
                else:  # a new phase starts over: its speed must not count the last one's bytes
                    self._progress.reset(task, total=event.total, completed=event.done, description=description)
            self._files[event.path] = (task, event.phase)
            self._tally.add(event)
            self._progress.update(self._overall, total=self._tally.total or None, completed=self._tally.done)
