"""Change notices per deployment, for WatchDeployment: a version counter and one condition."""

from __future__ import annotations

import asyncio
from collections import defaultdict

__all__ = ["Changes"]


class Changes:
    def __init__(self) -> None:
        self._versions: defaultdict[str, int] = defaultdict(int)
        self._condition = asyncio.Condition()

    def version(self, name: str) -> int:
        return self._versions[name]

    async def notify(self, name: str) -> None:
        async with self._condition:
            self._versions[name] += 1
            self._condition.notify_all()

    async def wait(self, name: str, seen: int) -> int:
        """Returns the version of ``name`` once it is past ``seen``."""
        async with self._condition:
            await self._condition.wait_for(lambda: self._versions[name] != seen)
            return self._versions[name]
