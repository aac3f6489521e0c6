"""The warm pool: serving interpreters the leader starts ahead, each to become one replica, that
hold nothing of the service while they wait, are replaced after a take or a death, and end with
the service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from classifiers import push_classifier
from replica_processes import alive, environ, infer, replica_pids, until, waiting_interpreters

import modelyard
from modelyard_common.embedded.service import ServiceProcess
from modelyard_deploy.runtimes.process import INTERPRETER_ENV, PASSED_ON
from modelyard_deploy.runtimes.warm_pool import WarmPool

TIMEOUT = 120.0


def test_a_replica_is_an_interpreter_that_waited_with_nothing_of_the_service_and_the_pool_refills(
    start_deploy: Callable[..., ServiceProcess],
    fresh_database: str,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
    name: str,
    project: str,
    tmp_path: Path,
) -> None:
    service = start_deploy(fresh_database, warm_replicas="1")
    (interpreter,) = until(lambda: waiting_interpreters(service.pid), "an interpreter waiting")
    # No credential, no setting, no address: what every replica gets of the service, and its id.
    assert {v.partition(b"=")[0].decode() for v in environ(interpreter)} <= {*PASSED_ON, INTERPRETER_ENV}

    with modelyard.connect(
        metadata_service.target, registry=registry_service.target, deploy=service.target, actor="tester"
    ) as client:
        client.create_model(f"{project}/scorer")
        client.deploy(name, push_classifier(client, f"{project}/scorer", tmp_path / "v1"))
        deployment = client.wait_deployment(name, timeout=TIMEOUT)
        assert list(replica_pids(name).values()) == [interpreter]
        assert infer(deployment.endpoints[0], name).model_version == "1"
        (refilled,) = until(lambda: waiting_interpreters(service.pid), "another interpreter waiting")
        assert refilled != interpreter

    service.stop()  # SIGTERM: its replicas stop, and the interpreter that waits is killed
    assert not alive(interpreter) and not alive(refilled)


async def test_the_pool_replaces_an_interpreter_that_died_and_hands_out_none_that_cannot_take_a_replica(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pool = WarmPool(tmp_path / "warm", 1)
    running = asyncio.ensure_future(pool.run_forever())
    try:
        (first,) = await _waiting(lambda pid: True)
        os.kill(first, signal.SIGKILL)
        (second,) = await _waiting(lambda pid: pid != first)  # after a second: it died waiting

        os.kill(second, signal.SIGKILL)
        # Blocking, so that the pool has not seen it: until every thread of it is gone, and with
        # them its end of the pipe (its main thread may be a zombie before the others end).
        with contextlib.suppress(ChildProcessError):  # reaped already
            os.waitid(os.P_PID, second, os.WEXITED | os.WNOWAIT)
        assert await pool.assign({"PATH": "/bin"}, tmp_path / "replica.log") is None
        assert "a warm interpreter could not take a replica" in caplog.text
        (third,) = await _waiting(lambda pid: pid not in (first, second))
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert not alive(third)
    assert list((tmp_path / "warm").iterdir()) == []  # their logs went with them


async def _waiting(wanted: Callable[[int], bool]) -> list[int]:
    """The interpreters this process started that wait, done importing, once one is ``wanted``."""
    deadline = time.monotonic() + TIMEOUT
    while not [pid for pid in waiting_interpreters(os.getpid()) if wanted(pid)]:
        assert time.monotonic() < deadline, "no interpreter waiting"
        await asyncio.sleep(0.05)
    return waiting_interpreters(os.getpid())
