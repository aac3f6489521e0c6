"""Where webhooks may POST: a guard against server-side request forgery.

The metadata service sits inside the platform's network, so a URL a user gives could reach what
only the platform should (Postgres, the cloud's metadata endpoint, an admin port on loopback).
A destination is allowed when its host name matches a name of ``webhook_allowed_hosts``, or when
every address it resolves to is public (unless ``webhook_allow_public`` is off) or inside a CIDR
listed there. It is checked when a
subscription is made or changed, and again before every attempt, as DNS may have changed since;
an attempt connects to the very address it checked (storage/webhook_http.py).
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["MAX_URL", "Address", "Destinations", "Refused", "parse_allowed_hosts"]

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


class Refused(ValueError):
    """Why a URL may not be posted to."""


class Destinations:
    def __init__(self, allowed_hosts: Sequence[str], allow_public: bool = True) -> None:
        self._networks, self._patterns = parse_allowed_hosts(allowed_hosts)
        self._public = allow_public

    async def refusal(self, url: str) -> str:
        """Why ``url`` may not be posted to ("" when it may); resolves its host unless allowed by name."""
        try:
            host, port = _host_and_port(url)
            if not self._named(host):
                self._check(host, await _addresses(host, port))
        except Refused as refused:
            return str(refused)
        return ""

    async def addresses(self, url: str) -> list[Address]:
        """The addresses to connect to for ``url``, in order: its host's, resolved once and
        checked here, so that DNS answering otherwise a moment later changes nothing (Refused:
        why not)."""
        host, port = _host_and_port(url)
        addresses = await _addresses(host, port)
        if not self._named(host):
            self._check(host, addresses)
        return list(dict.fromkeys(addresses))

    def _named(self, host: str) -> bool:
        return any(fnmatch.fnmatchcase(host, pattern) for pattern in self._patterns)

    def _check(self, host: str, addresses: Sequence[Address]) -> None:
        for address in addresses:
            if not ((self._public and address.is_global) or any(address in network for network in self._networks)):
                raise Refused(f"{host!r} resolves to {address}, which webhook_allowed_hosts does not allow")


def _host_and_port(url: str) -> tuple[str, int]:
    if len(url) > MAX_URL:
        raise Refused(f"is {len(url)} characters long; at most {MAX_URL} allowed")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise Refused(f"is not a URL: {exc}") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise Refused(f"{url!r} is not an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise Refused("must not carry a user name or password (the signature authenticates deliveries)")
    return host, port


async def _addresses(host: str, port: int) -> list[Address]:
    try:
        found = await _resolve(host, port)
    except OSError as exc:
        raise Refused(f"cannot resolve {host!r}: {exc}") from None
    if not found:
        raise Refused(f"cannot resolve {host!r}: no address")
    return found


async def _resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]
