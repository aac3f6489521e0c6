"""Remote predictor workers' bookkeeping: who may attach to a job, and the bounded pipes their
bytes go through (a worker that sends ahead is held back, never buffered without bound)."""

from __future__ import annotations

import asyncio

import pytest

from modelyard_common.errors import FailedPreconditionError, PermissionDeniedError, UnauthenticatedError
from modelyard_deploy.runtimes.remote_workers import BytePipe, RemoteWorkers


async def test_bytes_come_out_in_order_whatever_the_pieces_they_went_in() -> None:
    pipe = BytePipe(limit=16)
    await pipe.put(b"abc")
    await pipe.put(b"defgh")
    assert await pipe.readexactly(2) == b"ab"
    assert await pipe.readexactly(5) == b"cdefg"
    assert await pipe.read(100) == b"h"


async def test_a_sender_waits_while_the_limit_is_unread() -> None:
    pipe = BytePipe(limit=4)
    await pipe.put(b"12345")  # the limit is not reached before this one: it goes in whole
    held = asyncio.ensure_future(pipe.put(b"6"))
    await asyncio.sleep(0.01)
    assert not held.done()
    assert await pipe.readexactly(3) == b"123"
    await asyncio.wait_for(held, 1)
    assert await pipe.readexactly(3) == b"456"


async def test_a_reader_that_wants_more_than_the_limit_lets_the_sender_go_on() -> None:
    pipe = BytePipe(limit=4)
    reading = asyncio.ensure_future(pipe.readexactly(10))

    async def send() -> None:
        for piece in (b"1234", b"5678", b"90"):
            await pipe.put(piece)

    await asyncio.wait_for(send(), 1)
    assert await asyncio.wait_for(reading, 1) == b"1234567890"


async def test_a_closed_pipe_gives_what_is_left_then_its_end_and_refuses_more() -> None:
    pipe = BytePipe()
    await pipe.put(b"abc")
    pipe.close()
    assert await pipe.read(2) == b"ab"
    with pytest.raises(asyncio.IncompleteReadError) as ended:
        await pipe.readexactly(4)
    assert ended.value.partial == b"c"
    assert await pipe.read(4) == b""
    with pytest.raises(ConnectionResetError):
        await pipe.put(b"d")


async def test_a_job_takes_its_count_of_workers_that_present_its_secret_and_no_other() -> None:
    workers = RemoteWorkers()
    first, second = workers.expect("job-a", 1), workers.expect("job-b", 2)
    assert first.secret != second.secret and len(first.secret) >= 43

    with pytest.raises(FailedPreconditionError, match="job 'job-c' is not running on this replica"):
        workers.attach("job-c", first.secret, "pod-1")
    with pytest.raises(UnauthenticatedError, match="job job-a: no worker secret"):
        workers.attach("job-a", "", "pod-1")
    with pytest.raises(PermissionDeniedError, match="job job-b: that is not its worker secret"):
        workers.attach("job-b", first.secret, "pod-1")
    attached = workers.attach("job-a", first.secret, "pod-1\n\x1b[31m")
    assert attached.name == "pod-1[31m"  # only printable: it is quoted in the job's error
    assert first.arrived.get_nowait() is attached
    with pytest.raises(FailedPreconditionError, match="job job-a has all its 1 predictor workers"):
        workers.attach("job-a", first.secret, "pod-2")

    workers.forget(first)
    assert await attached.outgoing.read(1) == b""  # its stream ends
    with pytest.raises(FailedPreconditionError, match="not running on this replica"):
        workers.attach("job-a", first.secret, "pod-1")
    renewed = workers.expect("job-b", 2)  # a restarted start: the secret made before is void
    with pytest.raises(PermissionDeniedError):
        workers.attach("job-b", second.secret, "pod-1")
    assert workers.attach("job-b", renewed.secret, "pod-1").name == "pod-1"
