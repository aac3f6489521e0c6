"""Several metadata processes on one port (MLREG_METADATA_PROCESSES): both serve, each counts its
own calls on its own metrics page, and none outlives the first process."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import grpc
from replica_processes import alive, until
from service_processes import children, copy_ports, served_by_every_process

from modelyard.v1 import metadata_pb2, metadata_pb2_grpc
from modelyard_common.embedded import EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess


def _platform_info(channel: grpc.Channel) -> None:
    metadata_pb2_grpc.MetadataServiceStub(channel).GetPlatformInfo(metadata_pb2.GetPlatformInfoRequest(), timeout=10)


def test_two_processes_both_serve_the_one_port_and_stop_with_the_first(
    tmp_path: Path, launch_metadata: Callable[..., ServiceProcess], metadata_dsn: str, redis_server: EmbeddedRedis
) -> None:
    service = launch_metadata(tmp_path, metadata_dsn, redis_server.url, processes="2")
    try:
        assert copy_ports(service, 1)["grpc_port"] == int(service.target.rpartition(":")[2])
        (copy,) = children(service.pid)
        served_by_every_process(service, 2, "GetPlatformInfo", _platform_info)
    finally:
        service.stop()
    assert not alive(copy), "the first process returned before its copy ended"
    # Both drained and stopped cleanly (the copy writes to the same log).
    assert service.log_path.read_text().count("modelyard_common.server: stopped") == 2


def test_a_copy_stops_when_the_first_process_is_killed(
    tmp_path: Path, launch_metadata: Callable[..., ServiceProcess], metadata_dsn: str, redis_server: EmbeddedRedis
) -> None:
    service = launch_metadata(tmp_path, metadata_dsn, redis_server.url, processes="2")
    (copy,) = children(service.pid)
    os.kill(service.pid, signal.SIGKILL)
    service.stop()  # reaps it
    until(lambda: not alive(copy), f"copy {copy} gone once the first was killed", timeout=30)


def test_the_first_process_stops_with_an_error_when_a_copy_dies(
    tmp_path: Path, launch_metadata: Callable[..., ServiceProcess], metadata_dsn: str, redis_server: EmbeddedRedis
) -> None:
    service = launch_metadata(tmp_path, metadata_dsn, redis_server.url, processes="2")
    try:
        (copy,) = children(service.pid)
        os.kill(copy, signal.SIGKILL)
        until(lambda: service.returncode is not None, "the first process ended once its copy died", timeout=30)
        assert service.returncode != 0
        assert f"a copy of this service ended before it was asked to: pid {copy} exited with -9" in (
            service.log_path.read_text()
        )
    finally:
        service.stop()
