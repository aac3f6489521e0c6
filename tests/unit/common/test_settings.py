"""Settings refuse what they would otherwise ignore: a variable with the service's prefix that
names none of its settings (a misspelling) stops the service at start, naming the variable and
the setting it was probably meant to be. Other services' variables are theirs to check."""

from __future__ import annotations

import os
import subprocess
import sys
from unittest.mock import patch

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from modelyard_common.settings import MetadataCallerSettings, load_settings, unknown_variables
from modelyard_deploy.settings import DeploySettings
from modelyard_registry.settings import RegistrySettings


class Settings(MetadataCallerSettings):
    """A service that calls the metadata service, with a prefix no environment sets."""

    model_config = SettingsConfigDict(env_prefix="MLREG_SETTINGS_TEST_", frozen=True, extra="ignore")


def test_a_misspelt_variable_is_named_with_the_setting_it_is_close_to() -> None:
    environ = {"MLREG_REGISTRY_PART_SIZE_MB": "16", "MLREG_REGISTRY_PART_SIZE_MIB": "16"}
    assert unknown_variables(RegistrySettings, environ) == [
        "MLREG_REGISTRY_PART_SIZE_MB: is no setting of RegistrySettings; did you mean MLREG_REGISTRY_PART_SIZE_MIB?"
    ]


def test_a_variable_close_to_no_setting_is_named_alone() -> None:
    assert unknown_variables(RegistrySettings, {"MLREG_REGISTRY_XYZZY": "1"}) == [
        "MLREG_REGISTRY_XYZZY: is no setting of RegistrySettings"
    ]


def test_settings_of_the_service_and_variables_of_others_pass() -> None:
    environ = {
        "MLREG_REGISTRY_S3_BUCKET": "artifacts",
        "mlreg_registry_port": "7411",  # read whatever its case, so accepted whatever its case
        "MLREG_DEPLOY_PART_SIZE_MB": "16",  # another service's: one environment may hold several
        "MLREG_REGISTRYX": "1",
        "PATH": "/usr/bin",
    }
    assert unknown_variables(RegistrySettings, environ) == []


def test_load_settings_exits_naming_each_unknown_and_each_bad_variable() -> None:
    environ = {"MLREG_SETTINGS_TEST_METADATA_ADR": "db:7410", "MLREG_SETTINGS_TEST_PORT": "-1"}
    with patch.dict(os.environ, environ), pytest.raises(SystemExit) as exited:
        load_settings(Settings)
    lines = str(exited.value.code).splitlines()
    assert lines[0] == "invalid configuration for Settings:"
    assert lines[1].strip() == (
        "MLREG_SETTINGS_TEST_METADATA_ADR: is no setting of Settings; did you mean MLREG_SETTINGS_TEST_METADATA_ADDR?"
    )
    assert lines[2].strip().startswith("MLREG_SETTINGS_TEST_PORT: Input should be greater than or equal to 0")
    assert len(lines) == 3


def test_load_settings_reads_the_shared_settings_of_a_metadata_caller() -> None:
    environ = {"MLREG_SETTINGS_TEST_METADATA_ADDR": "metadata:7410", "MLREG_SETTINGS_TEST_AUTH_ENABLED": "true"}
    with patch.dict(os.environ, environ), pytest.raises(SystemExit, match="auth_token: required when auth_enabled"):
        load_settings(Settings)
    with patch.dict(os.environ, {**environ, "MLREG_SETTINGS_TEST_AUTH_TOKEN": "secret"}):
        settings = load_settings(Settings)
    assert (settings.metadata_addr, settings.metadata_timeout_seconds) == ("metadata:7410", 10.0)
    assert settings.auth_token_value() == "secret"
    with pytest.raises(ValidationError, match="metadata_timeout_seconds"):
        Settings(metadata_timeout_seconds=0)


def test_a_service_with_a_misspelt_variable_does_not_start() -> None:
    environ = {
        **os.environ,
        "MLREG_REGISTRY_DB_DSN": "postgresql://nobody@127.0.0.1:1/none",
        "MLREG_REGISTRY_PART_SIZE_MB": "16",
    }
    ran = subprocess.run(
        [sys.executable, "-m", "modelyard_registry"], env=environ, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 1
    assert ran.stderr.splitlines() == [
        "invalid configuration for RegistrySettings:",
        "  MLREG_REGISTRY_PART_SIZE_MB: is no setting of RegistrySettings; did you mean MLREG_REGISTRY_PART_SIZE_MIB?",
    ]


def test_processes_are_set_on_the_first_process_only_and_deploy_has_none() -> None:
    assert RegistrySettings(db_dsn="postgresql://x", processes=4).processes == 4
    with pytest.raises(ValidationError, match="processes: a copy"):
        RegistrySettings(db_dsn="postgresql://x", processes=2, parent_pid=1)
    with pytest.raises(ValidationError, match="processes"):
        RegistrySettings(db_dsn="postgresql://x", processes=0)
    # Deploy elects a leader among its replicas: it takes no process count.
    assert "processes" not in DeploySettings.model_fields


def test_a_job_pods_ipv6_address_gets_its_host_in_brackets() -> None:
    """deploy/k8s sets the address to ``$(POD_IP):7412``; in an IPv6 cluster that reads ``fd00::7:7412``."""
    given = {
        "fd00:10:244::7:7412": "[fd00:10:244::7]:7412",
        "[fd00::7]:7412": "[fd00::7]:7412",
        "10.42.0.7:7412": "10.42.0.7:7412",
        "deploy.modelyard.svc:7412": "deploy.modelyard.svc:7412",
        "": "",
    }
    for value, expected in given.items():
        settings = DeploySettings(db_dsn="postgresql://x", metadata_addr="m:1", kubernetes_worker_addr=value)
        assert settings.kubernetes_worker_addr == expected, value
