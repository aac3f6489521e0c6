"""How an inference server is launched: ``ServingLaunch`` holds what a launcher (the deploy
service's process and Kubernetes runtimes) tells one server, and turns it into the
``MLREG_SERVING_*`` environment that ``ServingSettings`` reads back. ``Assignment`` is what a
launcher sends a warm interpreter (``python -m modelyard_serving --warm``, started before it
had a model) to make it one server.

Its fields are named as the settings' own (tests/unit/serving/test_launch.py holds the two
together), so that no launcher spells a variable name. A field left None is not passed: the
server takes its default. This module loads no model runtime, so launchers may import it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Literal

from modelyard_common.settings import ServiceSettings

__all__ = [
    "ENV_PREFIX",
    "MODULE",
    "WAITING",
    "WARM",
    "Assignment",
    "BatchConnection",
    "ServingLaunch",
    "ServingTLS",
    "variable",
]

ENV_PREFIX = "MLREG_SERVING_"
MODULE = "modelyard_serving"
"""What a launcher runs: ``python -m modelyard_serving``."""
WARM = "--warm"
"""The argument that starts a warm interpreter: ``python -m modelyard_serving --warm``."""
WAITING = "waiting for a replica"
"""How the line ends that a warm interpreter writes to its output once it has imported what it
imports ahead, and waits for its ``Assignment``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingTLS:
    """The server's TLS files (``ServiceSettings.tls_*``: what it serves with and calls the
    services with) and its plaintext health-only port, for probes that cannot speak TLS."""

    tls_cert_file: PurePath | None = None
    tls_key_file: PurePath | None = None
    tls_client_ca_file: PurePath | None = None
    tls_ca_file: PurePath | None = None
    health_port: int | None = None

    @classmethod
    def like(cls, launcher: ServiceSettings) -> ServingTLS:
        """The launcher's own files, for the servers it starts on its machine: the same mode,
        the same identity, the same trust, and, with TLS on, a free health port of their own."""
        return cls(
            tls_cert_file=launcher.tls_cert_file,
            tls_key_file=launcher.tls_key_file,
            tls_client_ca_file=launcher.tls_client_ca_file,
            tls_ca_file=launcher.tls_ca_file,
            health_port=None if launcher.tls_cert_file is None else 0,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingLaunch:
    """One inference server: the version it serves and how, where the platform is, where it
    listens. A launcher always says whether pickle files may load (deploy's servers: never)."""

    reference: str
    model_name: str
    metadata_addr: str
    registry_addr: str
    trusted_types: tuple[str, ...] = ()
    allow_pickle: bool = False
    cache_dir: PurePath | None = None
    token: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    metrics_port: int | None = None
    ready_file: PurePath | None = None
    log_format: Literal["json", "console"] | None = None
    tls: ServingTLS = field(default_factory=ServingTLS)

    def environment(self) -> dict[str, str]:
        """The ``MLREG_SERVING_*`` variables, with the TLS ones."""
        return _environment(self) | _environment(self.tls)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchConnection:
    """What a remote batch predictor worker (``python -m modelyard_serving.batch --connect``)
    is told beyond its ``ServingLaunch``: where the leader that runs the job takes its stream, the
    job, the worker secret it presents, its own name, and the name the leader's certificate
    carries (TLS, when it is not the host dialled)."""

    batch_addr: str
    batch_job: str
    batch_secret: str | None = field(default=None, repr=False)
    batch_worker: str | None = None
    batch_server_name: str | None = None

    def environment(self) -> dict[str, str]:
        return _environment(self)


def _environment(launch: ServingLaunch | ServingTLS | BatchConnection) -> dict[str, str]:
    """The variables of ``launch``'s fields that are set (but a nested ``tls``)."""
    values = {f.name: getattr(launch, f.name) for f in dataclasses.fields(launch) if f.name != "tls"}
    return {variable(name): _text(value) for name, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Assignment:
    """What makes a warm interpreter one server: its whole environment (what a fresh server would
    be started with) and the file its output goes to. One line of JSON on the interpreter's stdin."""

    environment: Mapping[str, str] = field(repr=False)  # it holds the serving credential
    log_file: PurePath

    def encode(self) -> bytes:
        return json.dumps({"environment": dict(self.environment), "log_file": str(self.log_file)}).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> Assignment:
        fields = json.loads(line)
        return cls({str(k): str(v) for k, v in fields["environment"].items()}, PurePath(fields["log_file"]))


def _text(value: object) -> str:
    """A value as pydantic-settings reads it: lists as JSON, booleans as true/false."""
    if isinstance(value, tuple):
        return json.dumps(list(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_LAUNCHES = (ServingLaunch, ServingTLS, BatchConnection)
_SETTINGS = frozenset(f.name for launch in _LAUNCHES for f in dataclasses.fields(launch)) - {"tls"}


def variable(setting: str) -> str:
    """The environment variable of one setting ("token": ``MLREG_SERVING_TOKEN``), for a launcher
    that passes it another way (a Kubernetes Secret)."""
    if setting not in _SETTINGS:
        raise ValueError(f"{setting!r} is not a setting a launcher passes")
    return ENV_PREFIX + setting.upper()
