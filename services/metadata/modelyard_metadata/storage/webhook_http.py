"""Posting webhooks with httpx: the destination checked again before each attempt (DNS may
have changed since the subscription was made), no redirects followed, one deadline for the
whole attempt (a receiver that hangs or trickles holds no one else up), and at most a few
hundred bytes of a failed answer read, for the delivery log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import httpx

from modelyard_metadata.domain.webhook_destinations import Destinations
from modelyard_metadata.domain.webhook_entities import Attempt

__all__ = ["HttpSender"]

# Of a failed answer's body, the delivery log keeps at most this much.
_ERROR_BYTES = 256


class HttpSender:
    """Implements WebhookSender."""

    def __init__(self, destinations: Destinations, timeout_seconds: float) -> None:
        self._destinations = destinations
        self._timeout = timeout_seconds
        self._client = httpx.AsyncClient(follow_redirects=False, timeout=timeout_seconds, trust_env=False)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        started = time.perf_counter()
        if problem := await self._destinations.refusal(url):
            return Attempt(0, f"url: {problem}", time.perf_counter() - started)
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.stream("POST", url, content=body, headers=dict(headers)) as response:
                    error = ""
                    if not 200 <= response.status_code < 300:
                        error = await _start_of(response)
                    return Attempt(response.status_code, error, time.perf_counter() - started)
        except TimeoutError:
            return Attempt(0, f"no answer within {self._timeout:g} s", time.perf_counter() - started)
        except httpx.HTTPError as exc:
            return Attempt(0, f"{type(exc).__name__}: {exc}"[:_ERROR_BYTES], time.perf_counter() - started)

    async def close(self) -> None:
        await self._client.aclose()


async def _start_of(response: httpx.Response) -> str:
    """The first bytes of the body, as text."""
    start = b""
    async for chunk in response.aiter_raw():
        start += chunk
        if len(start) >= _ERROR_BYTES:
            break
    return start[:_ERROR_BYTES].decode("utf-8", "replace")
