"""The pipelined Redis connection of the cache's lookups, against a real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modelyard_common.embedded import EmbeddedRedis
from modelyard_metadata.storage.redis_pipe import RedisPipe


def _pipe(url: str, timeout: float = 2.0) -> RedisPipe:
    pipe = RedisPipe.for_url(url, timeout)
    assert pipe is not None
    return pipe


def test_calls_in_flight_together_each_get_their_own_reply(redis_server: EmbeddedRedis) -> None:
    async def run() -> None:
        pipe = _pipe(redis_server.url)
        try:
            values = [f"value-{i}".encode() * (i % 7 + 1) for i in range(200)]
            await asyncio.gather(*(pipe.call("SET", f"pipe:{i}", v) for i, v in enumerate(values)))
            assert await asyncio.gather(*(pipe.call("GET", f"pipe:{i}") for i in range(200))) == values
            script = "return {KEYS[1], redis.call('GET', KEYS[1]), false, 7}"
            assert await pipe.call("EVAL", script, 1, "pipe:3") == [b"pipe:3", values[3], None, 7]
            with pytest.raises(ResponseError, match="NOSCRIPT"):
                await pipe.call("EVALSHA", "0" * 40, 0)
            assert await pipe.call("GET", "pipe:0") == values[0]  # an error reply leaves it usable
        finally:
            pipe.close()

    asyncio.run(run())


def test_commands_sent_in_one_turn_of_the_loop_leave_in_one_write(redis_server: EmbeddedRedis) -> None:
    async def run() -> None:
        pipe = _pipe(redis_server.url)
        try:
            assert pipe.send("PING") is None  # not connected yet: the caller awaits ``call`` instead
            await pipe.call("SET", "pipe:sent", "x")
            reads = int((await pipe.call("INFO", "stats")).split(b"total_reads_processed:")[1].split(b"\r\n")[0])
            first, second = pipe.send("GET", "pipe:sent"), pipe.send("EVALSHA", "0" * 40, 0)
            third = await pipe.call("INFO", "stats")
            assert first is not None and second is not None
            assert (await first, type(await second)) == (b"x", ResponseError)  # an error reply is a value
            after = int(third.split(b"total_reads_processed:")[1].split(b"\r\n")[0])
            assert after - reads == 1  # the two sends and the INFO in one read
        finally:
            pipe.close()

    asyncio.run(run())


def test_a_url_selects_its_database_and_tls_urls_are_left_to_redis_py(redis_server: EmbeddedRedis) -> None:
    async def run() -> None:
        base = redis_server.url.rsplit("/", 1)[0]
        first, second = _pipe(f"{base}/1"), _pipe(f"{base}/2")
        try:
            await first.call("SET", "pipe:db", "one")
            assert (await first.call("GET", "pipe:db"), await second.call("GET", "pipe:db")) == (b"one", None)
        finally:
            first.close()
            second.close()

    asyncio.run(run())
    assert RedisPipe.for_url("rediss://localhost:6380/0", 1.0) is None


def test_a_late_reply_fails_every_call_waiting_and_the_next_call_connects_again(redis_server: EmbeddedRedis) -> None:
    async def run() -> None:
        pipe = _pipe(redis_server.url, timeout=0.2)
        try:
            blocked = asyncio.gather(pipe.call("BLPOP", "pipe:never", 1), pipe.call("PING"), return_exceptions=True)
            assert [type(e) for e in await blocked] == [RedisTimeoutError, RedisTimeoutError]
            assert await pipe.call("PING") == b"PONG"
        finally:
            pipe.close()

    asyncio.run(run())


def test_calls_fail_while_redis_is_down_and_work_once_it_is_back(tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()

    async def run() -> None:
        pipe = _pipe(redis.url)
        try:
            assert await pipe.call("PING") == b"PONG"
            redis.stop()
            with pytest.raises((RedisConnectionError, OSError)):
                await pipe.call("PING")
            with pytest.raises((RedisConnectionError, OSError)):
                await pipe.call("PING")  # connecting fails too
            redis.start()
            assert await pipe.call("PING") == b"PONG"
        finally:
            pipe.close()

    try:
        asyncio.run(run())
    finally:
        redis.stop()
