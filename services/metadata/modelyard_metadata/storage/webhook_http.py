"""Posting webhooks with httpx: the destination checked again before each attempt (DNS may
have changed since the subscription was made) and the connection made to the very address
checked (no second lookup that DNS could answer otherwise), no redirects followed, one deadline for the
whole attempt (a receiver that hangs or trickles holds no one else up), and at most a few
hundred bytes of a failed answer read, for the delivery log."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

import httpx

from modelyard_metadata.domain.webhook_destinations import Address, Destinations, Refused
from modelyard_metadata.domain.webhook_entities import Attempt

__all__ = ["HttpSender", "pinned"]

# Of a failed answer's body, the delivery log keeps at most this much.
_ERROR_BYTES = 256


class HttpSender:
    """Implements WebhookSender."""

    def __init__(self, destinations: Destinations, timeout_seconds: float) -> None:
        self._destinations = destinations
        self._timeout = timeout_seconds
        # No connection kept: one made for a host name must not carry a request for another
        # name of the same address (its TLS was verified for the first).
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=timeout_seconds,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                response = await self.send_first(url, await self._destinations.addresses(url), body, headers)
                try:
                    error = ""
                    if not 200 <= response.status_code < 300:
                        error = await _start_of(response)
                    return Attempt(response.status_code, error, time.perf_counter() - started)
                finally:
                    await response.aclose()
        except Refused as refused:
            return Attempt(0, f"url: {refused}", time.perf_counter() - started)
        except TimeoutError:
            return Attempt(0, f"no answer within {self._timeout:g} s", time.perf_counter() - started)
        except httpx.HTTPError as exc:
            return Attempt(0, f"{type(exc).__name__}: {exc}"[:_ERROR_BYTES], time.perf_counter() - started)

    async def send_first(
        self, url: str, addresses: list[Address], body: bytes, headers: Mapping[str, str]
    ) -> httpx.Response:
        """The answer from the first of ``addresses`` that takes the connection."""
        for address in addresses[:-1]:
            with contextlib.suppress(httpx.ConnectError):
                return await self._client.send(self._request(url, address, body, headers), stream=True)
        return await self._client.send(self._request(url, addresses[-1], body, headers), stream=True)

    def _request(self, url: str, address: Address, body: bytes, headers: Mapping[str, str]) -> httpx.Request:
        target, extra, extensions = pinned(url, address)
        return self._client.build_request(
            "POST", target, content=body, headers={**headers, **extra}, extensions=extensions
        )

    async def close(self) -> None:
        await self._client.aclose()


def pinned(url: str, address: Address) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL that reaches ``address``, and the Host header and TLS server name (for the
    certificate's verification too) of ``url``, so that the receiver sees ``url`` requested."""
    original = httpx.URL(url)
    extensions: dict[str, Any] = {"sni_hostname": original.host} if original.scheme == "https" else {}
    return original.copy_with(host=str(address)), {"host": original.netloc.decode("ascii")}, extensions


async def _start_of(response: httpx.Response) -> str:
    """The first bytes of the body, as text."""
    start = b""
    async for chunk in response.aiter_raw():
        start += chunk
        if len(start) >= _ERROR_BYTES:
            break
    return start[:_ERROR_BYTES].decode("utf-8", "replace")
