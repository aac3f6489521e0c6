"""The launch contract: what a launcher writes with ``ServingLaunch`` is what ``ServingSettings``
reads back, field by field, and a launcher's TLS files pass on to the servers it starts."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path, PurePosixPath

import pytest
from pydantic_settings import SettingsConfigDict

from modelyard_common.settings import ServiceSettings
from modelyard_serving.launch import ENV_PREFIX, Assignment, BatchConnection, ServingLaunch, ServingTLS, variable
from modelyard_serving.settings import BatchWorkerSettings, ServingSettings

CERT, KEY, CA = Path("svc.pem"), Path("svc-key.pem"), Path("ca.pem")

EVERYTHING = ServingLaunch(
    reference="fraud/scorer:3",
    model_name="scorer-prod",
    metadata_addr="metadata.modelyard:7410",
    registry_addr="registry.modelyard:7411",
    trusted_types=("numpy.dtype", "sklearn.tree._tree.Tree"),
    allow_pickle=True,
    cache_dir=PurePosixPath("/models"),
    token="myd_secret",
    host="0.0.0.0",
    port=8081,
    metrics_port=9090,
    ready_file=PurePosixPath("/run/ready.json"),
    log_format="console",
    tls=ServingTLS(tls_cert_file=CERT, tls_key_file=KEY, tls_client_ca_file=CA, tls_ca_file=CA, health_port=8082),
)


class Launcher(ServiceSettings):
    """A launcher's settings, with a prefix no environment sets."""

    model_config = SettingsConfigDict(env_prefix="MLREG_LAUNCH_TEST_", frozen=True, extra="ignore")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_every_field_is_read_back_by_the_servers_settings_under_its_own_name(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    for name, value in EVERYTHING.environment().items():
        clean_environment.setenv(name, value)
    settings = ServingSettings()
    launched = {f.name: getattr(EVERYTHING, f.name) for f in dataclasses.fields(EVERYTHING) if f.name != "tls"}
    launched |= dataclasses.asdict(EVERYTHING.tls)
    read = {name: getattr(settings, name) for name in launched}
    assert settings.token is not None
    read["token"] = settings.token.get_secret_value()
    assert read == {name: Path(v) if isinstance(v, PurePosixPath) else v for name, v in launched.items()}


def test_a_remote_batch_workers_connection_is_read_back_by_its_settings(clean_environment: pytest.MonkeyPatch) -> None:
    connection = BatchConnection(
        batch_addr="10.1.2.3:7412",
        batch_job="0123abcd",
        batch_secret="the-worker-secret",
        batch_worker="modelyard-job-0123abcd-x7k2p",
        batch_server_name="deploy.modelyard.svc",
    )
    for name, value in (EVERYTHING.environment() | connection.environment()).items():
        clean_environment.setenv(name, value)
    settings = BatchWorkerSettings()
    assert settings.batch_secret is not None
    read = {f.name: getattr(settings, f.name) for f in dataclasses.fields(connection)}
    read["batch_secret"] = settings.batch_secret.get_secret_value()
    assert read == dataclasses.asdict(connection)
    assert settings.reference == EVERYTHING.reference
    assert "the-worker-secret" not in repr(connection)
    assert variable("batch_secret") == "MLREG_SERVING_BATCH_SECRET"


def test_fields_left_unset_are_not_passed_and_the_server_takes_its_defaults() -> None:
    launch = ServingLaunch(reference="fraud/scorer:3", model_name="scorer", metadata_addr="m:1", registry_addr="r:2")
    assert launch.environment() == {
        "MLREG_SERVING_REFERENCE": "fraud/scorer:3",
        "MLREG_SERVING_MODEL_NAME": "scorer",
        "MLREG_SERVING_METADATA_ADDR": "m:1",
        "MLREG_SERVING_REGISTRY_ADDR": "r:2",
        "MLREG_SERVING_TRUSTED_TYPES": "[]",
        "MLREG_SERVING_ALLOW_PICKLE": "false",
    }
    assert json.loads(EVERYTHING.environment()["MLREG_SERVING_TRUSTED_TYPES"]) == list(EVERYTHING.trusted_types)
    assert "myd_secret" not in repr(EVERYTHING)


def test_a_started_server_gets_the_launchers_files_and_a_health_port_of_its_own() -> None:
    mtls = Launcher(tls_cert_file=CERT, tls_key_file=KEY, tls_client_ca_file=CA, tls_ca_file=CA)
    launch = ServingLaunch(
        reference="p/m:1", model_name="m", metadata_addr="m:1", registry_addr="r:2", tls=ServingTLS.like(mtls)
    )
    assert {k: v for k, v in launch.environment().items() if "TLS" in k or "HEALTH" in k} == {
        "MLREG_SERVING_TLS_CERT_FILE": "svc.pem",
        "MLREG_SERVING_TLS_KEY_FILE": "svc-key.pem",
        "MLREG_SERVING_TLS_CLIENT_CA_FILE": "ca.pem",
        "MLREG_SERVING_TLS_CA_FILE": "ca.pem",
        "MLREG_SERVING_HEALTH_PORT": "0",
    }
    assert ServingTLS.like(Launcher()) == ServingTLS()
    calling_only = ServingTLS.like(Launcher(tls_ca_file=CA))
    assert (calling_only.tls_ca_file, calling_only.tls_cert_file, calling_only.health_port) == (CA, None, None)


def test_a_setting_passed_another_way_is_named_by_the_contract() -> None:
    assert variable("token") == "MLREG_SERVING_TOKEN"
    assert variable("tls_cert_file") == "MLREG_SERVING_TLS_CERT_FILE"
    with pytest.raises(ValueError, match="'tls' is not a setting a launcher passes"):
        variable("tls")


def test_an_assignment_is_one_line_read_back_as_sent_that_never_shows_its_credential() -> None:
    assignment = Assignment(EVERYTHING.environment(), PurePosixPath("/run/replicas/scorer-1-ab12/replica.log"))

    line = assignment.encode()

    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert Assignment.decode(line) == assignment
    assert "myd_secret" not in repr(assignment)
