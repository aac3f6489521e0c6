"""The asyncio flavour of the client: ``client = modelyard.aio.connect()``, then ``await``."""

from __future__ import annotations

from modelyard._client import AsyncClient
from modelyard._client import connect_async as connect

__all__ = ["AsyncClient", "connect"]
