"""The registry on several processes (MLREG_REGISTRY_PROCESSES), as the metadata service runs them."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from replica_processes import alive
from service_processes import children, served_by_every_process

from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_common.embedded import EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess


def _stat_missing(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        registry_pb2_grpc.RegistryServiceStub(channel).StatArtifact(
            registry_pb2.StatArtifactRequest(reference="no-such/model:1"), timeout=10
        )
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


def test_two_registry_processes_both_serve_and_stop_with_the_first(
    start_registry: Callable[[dict[str, str]], ServiceProcess],
    registry_config: Callable[..., dict[str, str]],
    seaweedfs: EmbeddedSeaweedFS,
    metadata_dsn: str,
) -> None:
    service = start_registry(registry_config(seaweedfs, metadata_dsn, processes="2"))
    (copy,) = children(service.pid)
    served_by_every_process(service, 2, "StatArtifact", _stat_missing)
    service.stop()
    assert not alive(copy)
