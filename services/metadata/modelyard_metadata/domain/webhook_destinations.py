"""Where webhooks may POST: a guard against server-side request forgery.

The metadata service sits inside the platform's network, so a URL a user gives could reach what
only the platform should (Postgres, the cloud's metadata endpoint, an admin port on loopback).
A destination is allowed when its host name matches a name of ``webhook_allowed_hosts``, or when
every address it resolves to is public or inside a CIDR listed there. It is checked when a
subscription is made or changed, and again before every attempt, as DNS may have changed since.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["MAX_URL", "Destinations", "parse_allowed_hosts"]

MAX_URL = 2048

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_allowed_hosts(entries: Sequence[str]) -> tuple[tuple[Network, ...], tuple[str, ...]]:
    """(networks, host name patterns) of ``entries``; ValueError naming a bad one."""
    networks: list[Network] = []
    patterns: list[str] = []
    for entry in entries:
        text = entry.strip().lower()
        if not text:
            raise ValueError("an entry is empty")
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            if not all(part == "*" or part.replace("-", "").isalnum() for part in text.split(".")):
                raise ValueError(f"{entry!r} is neither a CIDR nor a host name (such as *.hooks.example.com)") from None
            patterns.append(text)
    return tuple(networks), tuple(patterns)


class Destinations:
    def __init__(self, allowed_hosts: Sequence[str]) -> None:
        self._networks, self._patterns = parse_allowed_hosts(allowed_hosts)

    async def refusal(self, url: str) -> str:
        """Why ``url`` may not be posted to ("" when it may); resolves its host."""
        if len(url) > MAX_URL:
            return f"is {len(url)} characters long; at most {MAX_URL} allowed"
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            return f"is not a URL: {exc}"
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return f"{url!r} is not an http:// or https:// URL with a host"
        if parts.username is not None or parts.password is not None:
            return "must not carry a user name or password (the signature authenticates deliveries)"
        if any(fnmatch.fnmatchcase(host, pattern) for pattern in self._patterns):
            return ""
        try:
            addresses = await _resolve(host, port)
        except OSError as exc:
            return f"cannot resolve {host!r}: {exc}"
        for address in addresses:
            if not (address.is_global or any(address in network for network in self._networks)):
                return f"{host!r} resolves to {address}, which webhook_allowed_hosts does not allow"
        return ""


async def _resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]
