"""Signed-in sessions, kept in Redis: the browser holds only a random id in an HttpOnly cookie;
the user's API token stays on the server, under the SHA-256 of that id (a Redis dump names no
live session). A session lasts ``ttl`` from sign-in; sign-out deletes it at once."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

__all__ = ["COOKIE", "Session", "SessionStore"]

COOKIE = "modelyard_session"
_KEY = "modelyard:console:session:"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    token: str
    principal: str
    csrf: str  # the form field every POST of this session must carry


class SessionStore:
    def __init__(self, redis: aioredis.Redis, ttl_seconds: float) -> None:
        self._redis = redis
        self._ttl = int(ttl_seconds)

    async def create(self, token: str, principal: str) -> Session:
        session = Session(secrets.token_urlsafe(32), token, principal, secrets.token_urlsafe(32))
        document = {"token": token, "principal": principal, "csrf": session.csrf}
        await self._redis.set(_key(session.id), json.dumps(document), ex=self._ttl)
        return session

    async def get(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > 128:
            return None
        stored = await self._redis.get(_key(session_id))
        if stored is None:
            return None
        document = json.loads(stored)
        return Session(session_id, document["token"], document["principal"], document["csrf"])

    async def end(self, session_id: str) -> None:
        await self._redis.delete(_key(session_id))


def _key(session_id: str) -> str:
    return _KEY + hashlib.sha256(session_id.encode()).hexdigest()
