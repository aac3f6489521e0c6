"""A platform of its own (metadata, registry, deploy and the inference servers it starts), and a
workload through it, for the observability tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow
import pyarrow.parquet
import pytest
from classifiers import FEATURES, push_classifier
from observed_platform import DATASET, Platform
from webhook_receiver import Receiver, eventually

import modelyard
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess


@pytest.fixture(scope="package")
def platform(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: EmbeddedPostgres,
    redis_server: EmbeddedRedis,
    seaweedfs: EmbeddedSeaweedFS,
) -> Iterator[Platform]:
    """Three services of their own, then a workload: a webhook subscription to a loopback
    receiver, register, push, alias and metrics, cached reads, a dataset pushed, a deployment of
    one inference server answering predictions, a pull, a scoring test run by the deploy service
    and a batch scoring job."""
    data = tmp_path_factory.mktemp("observed")
    dsn = postgres.create_database("observed")
    started: list[ServiceProcess] = []

    def start(name: str, settings: dict[str, str]) -> ServiceProcess:
        service = ServiceProcess(name, f"modelyard_{name}", data / name, {"shutdown_grace_seconds": "2", **settings})
        started.append(service)
        service.start()
        return service

    targets_file = data / "prometheus" / "serving-targets.json"
    receiver = Receiver()
    try:
        metadata = start(
            "metadata",
            {
                "db_dsn": dsn,
                "redis_url": redis_server.url,
                "model_metrics_interval_seconds": "0.5",
                "webhook_poll_seconds": "0.2",
                "webhook_allowed_hosts": '["127.0.0.0/8"]',
            },
        )
        registry = start(
            "registry",
            {
                "db_dsn": dsn,
                "metadata_addr": metadata.target,
                "s3_endpoint": seaweedfs.endpoint,
                "s3_access_key": seaweedfs.access_key,
                "s3_secret_key": seaweedfs.secret_key,
                "s3_bucket": "observed",
            },
        )
        deploy = start(
            "deploy",
            {
                "db_dsn": dsn,
                "metadata_addr": metadata.target,
                "registry_addr": registry.target,
                "cache_dir": str(data / "deploy-cache"),
                "run_dir": str(data / "replicas"),
                "scrape_targets_file": str(targets_file),
                "reconcile_interval_seconds": "0.5",
                "events_interval_seconds": "0.2",
                "jobs_poll_seconds": "0.2",
                "scoring_poll_seconds": "0.2",
                "replica_stop_grace_seconds": "5",
            },
        )
        with modelyard.connect(
            metadata.target, registry=registry.target, deploy=deploy.target, actor="observer"
        ) as client:
            client.create_project("observed", owner="observer")
            client.create_webhook("observed", receiver.url, kinds=["version.created"])
            client.create_model("observed/churn")
            reference = push_classifier(client, "observed/churn", data / "model")
            client.log_metrics(reference, {"accuracy": 0.93, "auc": 0.97})
            client.set_alias("observed/churn", "champion", 1)
            for _ in range(5):
                client.get_version(reference)
            artifact_bytes = sum(f.size for f in client.get_version(reference).artifact.files)
            client.deploy("churn", "observed/churn@champion", replicas=1)
            client.wait_deployment("churn", timeout=120)
            for _ in range(4):
                client.predict("churn", {"input": FEATURES[:2]})
            client.pull(reference, data / "pulled")
            (data / "customers.csv").write_bytes(DATASET)
            client.create_dataset("observed/customers")
            client.push_dataset("observed/customers", data / "customers.csv")
            holdout = _holdout(client, data / "holdout.parquet")
            client.set_score_definition(
                "observed/churn", task="classification", inputs={"input": FEATURE_COLUMNS}, label_column="label",
                prediction_output="predict", metrics=["f1"],  # accuracy stays the one logged
            )  # fmt: skip
            test = client.create_scoring_test("observed/churn", "holdout", dataset=holdout, version=1)
            client.wait_scoring_run(client.run_scoring_test(test.id).id, timeout=120)
            job = client.create_job(
                reference, dataset=holdout, key="row", output="observed/scores", inputs={"input": FEATURE_COLUMNS}
            )
            output = client.wait_job(job.id, timeout=120).output_version
            eventually(receiver.events, what="a webhook delivery")
            sizes = [
                client.get_dataset_version(r).artifact.total_size for r in ("observed/customers:1", holdout, output)
            ]
        yield Platform(metadata, registry, deploy, targets_file, "churn", artifact_bytes, sum(sizes), sizes[1])
    finally:
        for service in reversed(started):
            service.stop()
        receiver.close()


FEATURE_COLUMNS = [f"f{i}" for i in range(FEATURES.shape[1])]


def _holdout(client: modelyard.Client, path: Path) -> str:
    """The classifiers' features with their labels, as dataset observed/holdout."""
    columns = {"row": np.arange(len(FEATURES))} | {c: FEATURES[:, i] for i, c in enumerate(FEATURE_COLUMNS)}
    labels = (FEATURES[:, 0] + FEATURES[:, 1] > 0).astype(np.int64)
    pyarrow.parquet.write_table(pyarrow.table(columns | {"label": labels}), path)
    client.create_dataset("observed/holdout")
    return client.push_dataset("observed/holdout", path).reference
