"""The Redis cache: no stale read after a write, across replicas, and life without Redis."""

from __future__ import annotations

import re
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import modelyard
from modelyard.internal import InternalCalls
from modelyard_common.embedded import EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess

FILE = modelyard.ArtifactFile(path="m", size=1, sha256="1" * 64, storage_key="k", content_type="")


def _cache_lookups(service: ServiceProcess, result: str) -> float:
    text = urllib.request.urlopen(service.metrics_url, timeout=5).read().decode()
    match = re.search(rf'^modelyard_metadata_cache_lookups_total{{result="{result}"}} (\S+)$', text, re.M)
    return float(match[1]) if match else 0.0


def _model_with_versions(client: modelyard.Client, count: int) -> str:
    project = f"c-{uuid.uuid4().hex[:8]}"
    client.create_project(project)
    client.create_model(f"{project}/m")
    for _ in range(count):
        ref = client.create_version(f"{project}/m").reference
        InternalCalls(client).commit_artifact(ref, modelyard.Artifact(files=(FILE,), total_size=1))
    return f"{project}/m"


@pytest.fixture
def second_replica(
    start_service: Callable[..., ServiceProcess], metadata_dsn: str, redis_server: EmbeddedRedis
) -> ServiceProcess:
    """Another replica of the service on the same Postgres and Redis as ``metadata_service``."""
    return start_service(metadata_dsn, redis_server.url)


def test_repeated_reads_hit_the_cache(metadata_service: ServiceProcess, client: modelyard.Client) -> None:
    model = _model_with_versions(client, 1)
    client.set_alias(model, "champion", 1)
    hits_before = _cache_lookups(metadata_service, "hit")
    for _ in range(5):
        assert client.get_version(f"{model}@champion").version == 1
    assert _cache_lookups(metadata_service, "hit") - hits_before >= 4


def test_no_stale_read_across_replicas(
    metadata_service: ServiceProcess, second_replica: ServiceProcess, client: modelyard.Client
) -> None:
    model = _model_with_versions(client, 3)
    with modelyard.connect(second_replica.target) as other:
        for round_ in range(30):
            target = round_ % 3 + 1
            client.set_alias(model, "champion", target)  # written through replica one ...
            assert other.get_version(f"{model}@champion").version == target  # ... read through two
            assert other.get_version(f"{model}@champion").version == target  # (now from its cache)
            other.log_metrics(f"{model}:{target}", {"round": round_})  # and the other way round
            assert client.get_version(f"{model}:{target}").metrics["round"] == round_


def test_service_keeps_working_without_redis(
    tmp_path: Path, metadata_dsn: str, start_service: Callable[..., ServiceProcess]
) -> None:
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    service = start_service(metadata_dsn, redis.url)
    try:
        with modelyard.connect(service.target) as client:
            model = _model_with_versions(client, 2)
            client.set_alias(model, "champion", 1)
            assert client.get_version(f"{model}@champion").version == 1  # cached
            redis.stop()
            assert client.get_version(f"{model}@champion").version == 1  # from Postgres
            client.set_alias(model, "champion", 2)  # the write succeeds without Redis
            assert client.get_version(f"{model}@champion").version == 2
            redis.start()
            for _ in range(3):  # Redis is back: reads are correct whether cached or not
                assert client.get_version(f"{model}@champion").version == 2
            client.set_alias(model, "champion", 1)
            assert client.get_version(f"{model}@champion").version == 1
        assert _cache_lookups(service, "bypass") >= 2
    finally:
        redis.stop()
