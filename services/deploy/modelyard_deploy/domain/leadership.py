"""Several deploy services, one reconciler: the leader runs it, the others (followers) only
serve the API until they win the leadership.

Losing it is not recovered from inside: the service stops its replicas and exits (crash-only),
so that a restart rejoins as a follower and the new leader stops whatever it left behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from modelyard_deploy.domain.ports import Leadership
from modelyard_deploy.domain.reconcile import Reconciler

__all__ = ["lead"]

logger = logging.getLogger(__name__)


async def lead(
    leadership: Leadership,
    reconciler: Reconciler,
    interval: float,
    on_leading: Callable[[bool], None],
    duties: Mapping[str, Callable[[], Coroutine[Any, Any, None]]],
) -> str:
    """Waits to become the leader, then reconciles, and runs the other leader ``duties`` (name ->
    a loop that runs until cancelled), until the leadership is lost (or one of them fails);
    returns why it stopped leading."""
    on_leading(False)
    await leadership.acquire()
    logger.info("leading: this deploy service runs the reconciler")
    on_leading(True)
    await reconciler.adopt_or_stop_leftovers()
    running = {asyncio.ensure_future(reconciler.run_forever(interval)): "the reconciler"}
    running.update({asyncio.ensure_future(loop()): name for name, loop in duties.items()})
    losing = asyncio.ensure_future(leadership.lost())
    try:
        done, _ = await asyncio.wait({*running, losing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*running, losing):
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    on_leading(False)
    if losing in done:
        return f"lost the leader lock: {losing.result()}"
    stopped = next(task for task in running if task in done)
    return f"{running[stopped]} stopped: {stopped.exception()!r}"
