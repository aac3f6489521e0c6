"""Change notices per deployment, shared by every deploy service through a ChangeFeed.

A counter per deployment, bumped by each notice (from this service or another), which
WatchDeployment and the changes' RPCs wait on; subscribers (the leader's reconciler) hear the
notices from the feed. While the feed is down, waits end every ``fallback_seconds`` so that
waiters read the store again instead of missing a change.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable

from modelyard_deploy.domain.ports import ChangeFeed

__all__ = ["Changes"]


class Changes:
    def __init__(self, feed: ChangeFeed, fallback_seconds: float) -> None:
        self._feed, self._fallback = feed, fallback_seconds
        self._versions: defaultdict[str, int] = defaultdict(int)
        self._woken = asyncio.Event()
        self._live = False
        self._subscribers: list[Callable[[str], None]] = []

    def subscribe(self, on_change: Callable[[str], None]) -> None:
        """``on_change(name)`` for each notice from the feed (any service's, this one's too)."""
        self._subscribers.append(on_change)

    def version(self, name: str) -> int:
        return self._versions[name]

    async def notify(self, name: str) -> None:
        """Tells every deploy service (this one at once) that ``name`` changed."""
        self._bump(name)
        await self._feed.publish(name)

    async def follow(self) -> None:
        """Receives the feed's notices, forever."""
        await self._feed.follow(self._arrived, self._set_live)

    def _arrived(self, name: str) -> None:
        self._bump(name)
        for on_change in self._subscribers:
            on_change(name)

    def _set_live(self, live: bool) -> None:
        """Either way, every waiter reads again: notices may have been missed meanwhile."""
        self._live = live
        for name in list(self._versions):
            self._bump(name)

    def _bump(self, name: str) -> None:
        self._versions[name] += 1
        self._woken.set()
        self._woken = asyncio.Event()

    async def wait(self, name: str, seen: int, timeout: float | None = None) -> int:
        """The version of ``name`` once it is past ``seen``, or as it is after ``timeout``
        seconds (or ``fallback_seconds`` while the feed is down)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._versions[name] == seen:
            remaining = None if deadline is None else deadline - time.monotonic()
            if not self._live:
                remaining = self._fallback if remaining is None else min(remaining, self._fallback)
            if remaining is not None and remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._woken.wait(), remaining)
            except TimeoutError:
                break
        return self._versions[name]
