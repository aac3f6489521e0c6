"""A push rides through the registry being killed mid-upload and restarted, and resumes near the cut."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from test_resume import durable_offset

import modelyard
from modelyard.v1 import registry_pb2_grpc
from modelyard_common.embedded import EmbeddedSeaweedFS
from modelyard_common.embedded._process import free_port
from modelyard_common.embedded.service import ServiceProcess

MiB = 1024 * 1024
PART_MIB, PARTS_IN_FLIGHT = 5, 2
SIZE = 160 * MiB
KILL_AT = 96 * MiB  # past S3's warm-up, when the registry's first parts are still in flight
# What may be sent but not durable when the registry dies: the stream's parts in flight to S3,
# the part being filled, and what gRPC's flow-control windows hold between the SDK and the
# registry (up to ~24 MiB measured on loopback).
UNDURABLE = (PARTS_IN_FLIGHT + 1) * PART_MIB * MiB + 24 * MiB


def test_push_rides_through_a_registry_kill_and_resumes_near_the_cut(
    tmp_path: Path,
    seaweedfs: EmbeddedSeaweedFS,
    fresh_database: str,
    registry_config: Callable[..., dict[str, str]],
    start_registry: Callable[[dict[str, str]], ServiceProcess],
    metadata_service: ServiceProcess,
    metadata: modelyard.Client,
    content: Callable[[int], bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = registry_config(
        seaweedfs,
        fresh_database,
        port=str(free_port()),  # the restarted registry answers where the SDK's channel points
        part_size_mib=str(PART_MIB),
        stream_parts_in_flight=str(PARTS_IN_FLIGHT),
    )
    del settings["lease_seconds"]  # the default lease, as in production
    registry = start_registry(settings)
    source = tmp_path / "weights.bin"
    source.write_bytes(content(SIZE))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    metadata.create_project("restart")
    metadata.create_model("restart/m")
    reference = metadata.create_version("restart/m").reference

    killed = threading.Event()
    stub = registry_pb2_grpc.RegistryServiceStub(grpc.insecure_channel(registry.target))
    durable_at_kill: list[int] = []
    starts: list[int] = []  # the offset each UploadFile stream started from
    sent = [-1]  # bytes the SDK handed to gRPC so far, in the current stream

    def progress(event: modelyard.TransferProgress) -> None:
        if event.phase is not modelyard.TransferPhase.UPLOAD:
            return
        if event.done <= sent[0] or not starts:  # chunks only move forward: a stream (re)starts
            starts.append(event.done)
        sent[0] = event.done
        if event.done >= KILL_AT and not killed.is_set():
            durable_at_kill.append(durable_offset(stub, reference, "weights.bin"))
            os.kill(registry.pid, signal.SIGKILL)
            killed.set()

    caplog.set_level(logging.WARNING, logger="modelyard")
    with (
        modelyard.connect(metadata_service.target, registry=registry.target, actor="tester") as client,
        ThreadPoolExecutor(1) as pool,
    ):
        pushed = pool.submit(client.push, reference, source, progress=progress)
        assert killed.wait(120), "the upload never reached the point where the registry is killed"
        sent_at_kill = sent[0]
        registry.stop()  # reaps the killed process
        registry.start()  # a new process on the same port, Postgres, bucket and metadata
        version = pushed.result(timeout=180)
        pulled = client.pull(reference, tmp_path / "pulled")

    assert version.status is modelyard.VersionStatus.READY
    assert version.artifact is not None
    assert [(f.path, f.size, f.sha256) for f in version.artifact.files] == [("weights.bin", SIZE, digest)]
    assert hashlib.sha256((pulled / "weights.bin").read_bytes()).hexdigest() == digest

    resumed_from = starts[1]  # the first stream after the kill
    assert resumed_from >= durable_at_kill[0]  # nothing durable was lost
    assert 0 < resumed_from <= sent_at_kill and resumed_from % (PART_MIB * MiB) == 0, starts
    assert sent_at_kill - resumed_from <= UNDURABLE, (sent_at_kill, durable_at_kill, starts)
    retries = [r.getMessage() for r in caplog.records if "weights.bin" in r.getMessage()]
    assert retries and "retrying" in retries[0], retries
    print(
        f"killed at {sent_at_kill / MiB:.1f} MiB sent, {durable_at_kill[0] / MiB:.1f} MiB durable; "
        f"resumed from {resumed_from / MiB:.1f} MiB ({(sent_at_kill - resumed_from) / MiB:.1f} MiB sent again)"
    )
