"""Several metadata processes on one port (MLREG_METADATA_PROCESSES): both serve, each counts its
own calls on its own metrics port, and none outlives the first process."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
from replica_processes import alive, until

from modelyard.v1 import metadata_pb2, metadata_pb2_grpc
from modelyard_common.embedded import EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess

CALL = re.compile(r'^modelyard_rpc_requests_total{[^}]*method="GetPlatformInfo"[^}]*} (\S+)$', re.M)


def _calls_counted(metrics_port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return sum(float(value) for value in CALL.findall(text))


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _start_two(launch: Callable[..., ServiceProcess], data_dir: Path, dsn: str, redis: EmbeddedRedis) -> ServiceProcess:
    return launch(data_dir, dsn, redis.url, processes="2")


def test_two_processes_both_serve_the_one_port_and_stop_with_the_first(
    tmp_path: Path, launch_metadata: Callable[..., ServiceProcess], metadata_dsn: str, redis_server: EmbeddedRedis
) -> None:
    service = _start_two(launch_metadata, tmp_path, metadata_dsn, redis_server)
    try:
        copy_ports = json.loads((tmp_path / "metadata.ready.1.json").read_text())
        first_ports = json.loads(service.ready_file.read_text())
        assert copy_ports["grpc_port"] == first_ports["grpc_port"]
        assert copy_ports["metrics_port"] != first_ports["metrics_port"]
        (copy,) = _children(service.pid)

        def both_served() -> tuple[float, float] | None:
            # A fresh channel is a fresh connection, which the kernel hands to either process.
            with grpc.insecure_channel(service.target) as channel:
                metadata_pb2_grpc.MetadataServiceStub(channel).GetPlatformInfo(
                    metadata_pb2.GetPlatformInfoRequest(), timeout=10
                )
            counts = (_calls_counted(first_ports["metrics_port"]), _calls_counted(copy_ports["metrics_port"]))
            return counts if all(counts) else None

        until(both_served, "calls counted by both processes", timeout=60)
    finally:
        service.stop()
    assert not alive(copy), "the first process returned before its copy ended"
    # Both drained and stopped cleanly (the copy writes to the same log).
    assert service.log_path.read_text().count("modelyard_common.server: stopped") == 2


def test_a_copy_stops_when_the_first_process_is_killed(
    tmp_path: Path, launch_metadata: Callable[..., ServiceProcess], metadata_dsn: str, redis_server: EmbeddedRedis
) -> None:
    service = _start_two(launch_metadata, tmp_path, metadata_dsn, redis_server)
    (copy,) = _children(service.pid)
    os.kill(service.pid, signal.SIGKILL)
    service.stop()  # reaps it
    until(lambda: not alive(copy), f"copy {copy} gone once the first was killed", timeout=30)
