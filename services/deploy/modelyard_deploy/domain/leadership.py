"""Several deploy services, one reconciler: the leader runs it, the others (followers) only
serve the API until they win the leadership.

Losing it is not recovered from inside: the service stops its replicas and exits (crash-only),
so that a restart rejoins as a follower and the new leader stops whatever it left behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from modelyard_deploy.domain.ports import Leadership
from modelyard_deploy.domain.reconcile import Reconciler

__all__ = ["lead"]

logger = logging.getLogger(__name__)


async def lead(
    leadership: Leadership,
    reconciler: Reconciler,
    interval: float,
    on_leading: Callable[[bool], None],
    also: Sequence[Callable[[], Awaitable[None]]] = (),
) -> str:
    """Waits to become the leader, then reconciles (and runs ``also``: the job runner) until
    the leadership is lost (or one of them fails); returns why it stopped leading."""
    on_leading(False)
    await leadership.acquire()
    logger.info("leading: this deploy service runs the reconciler")
    on_leading(True)
    await reconciler.adopt_or_stop_leftovers()
    reconciling = asyncio.ensure_future(reconciler.run_forever(interval))
    losing = asyncio.ensure_future(leadership.lost())
    others = [asyncio.ensure_future(run()) for run in also]
    try:
        await asyncio.wait({reconciling, losing, *others}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reconciling, losing, *others):
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
    on_leading(False)
    if losing.done() and not losing.cancelled():
        return f"lost the leader lock: {losing.result()}"
    if reconciling.done() and not reconciling.cancelled():
        return f"the reconciler stopped: {reconciling.exception()!r}"
    stopped = next(t for t in others if t.done() and not t.cancelled())
    return f"the job runner stopped: {stopped.exception()!r}"
