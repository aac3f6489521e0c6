"""Every RPC of MetadataService (with DatasetService, WebhookService and ScoringService on its
port), RegistryService, DeployService and AuthService (the latter as a
platform admin on a metadata service with authentication on), driven by hypothesis with
malformed requests built from the message descriptors, against the real services.

Each answer must be OK or a status that names bad input or state; never INTERNAL, UNKNOWN or
UNAVAILABLE. A rejected call must leave the services' tables as they were, and every service
must still report SERVING at the end. Below the message level, bytes that are not a message
(invalid UTF-8, cut or corrupted encodings) go to every RPC, and JSON values deep, wide or with
long keys go to every field that takes one: refused without a write, or stored and read back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import modelyard
from modelyard.internal import InternalCalls
from modelyard.v1 import auth_pb2, datasets_pb2, deploy_pb2, metadata_pb2, registry_pb2, scoring_pb2, webhooks_pb2
from modelyard_common.embedded import EmbeddedPostgres
from modelyard_common.embedded.service import ServiceProcess

# Bounded and repeatable: about 40 RPCs x 25 examples stay well under 90 s on 2 cores.
settings.register_profile(
    "fuzz-rpcs",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("fuzz-rpcs")

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
}
# A stream that is still open when the test stops reading: WatchEvents, WatchDeployment.
STREAM_ALLOWED = ALLOWED | {grpc.StatusCode.DEADLINE_EXCEEDED}
# Bytes that do not hash to the sha256 their header announced: the architecture's answer.
UPLOAD_ALLOWED = ALLOWED | {grpc.StatusCode.DATA_LOSS}

# Tables whose content a rejected call must not change. Upload sessions are left out on purpose:
# an interrupted upload keeps its durable parts for a resume.
METADATA_TABLES = (
    "projects",
    "models",
    "model_versions",
    "version_lineage",
    "aliases",
    "metric_points",
    "audit_events",
    "datasets",
    "dataset_versions",
    "dataset_columns",
    "dataset_links",
    # Leases, attempts and failing marks are the delivery worker's, which runs all along.
    "(SELECT id, project, url, kinds, actions, description, active, secret, previous_secret, created_by"
    " FROM webhook_subscriptions)",
    "(SELECT id, subscription_id, event_id FROM webhook_deliveries)",
    "score_definitions",
    "scoring_tests",
    "scoring_runs",
    "registry.files",
    "registry.blobs",
)
DEPLOY_TABLES = ("deploy.deployments", "deploy.revisions", "deploy.replicas")
# last_used_at left out: the admin's own token is touched by any call, refused or not.
AUTH_TABLES = (
    "principals",
    "team_members",
    "(SELECT id, principal, secret_sha256, description, expires_at, revoked_at FROM tokens)",
    "project_roles",
    "audit_events",
)
ADMIN_TOKEN = "myd_" + secrets.token_urlsafe(32)

INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}
MAX_DEPTH = 4  # of nested messages (Struct values included): below protobuf's recursion limit


@functools.cache
def strings(pool: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Names that exist, near misses, unicode with control characters, empty and huge text."""
    return st.one_of(
        st.sampled_from(pool),
        st.sampled_from(pool).map(lambda s: s.upper()),
        st.sampled_from(pool).map(lambda s: s + "\x00"),
        st.text(max_size=40),
        st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "So", "Lo"]), max_size=20),
        st.sampled_from(["", " ", "/", ":", "@", "p/m:0", "p/m:-1", "p/m:99999999999999999999", "..", "a/../b"]),
        st.integers(200, 70_000).map(lambda n: "a" * n),
    )


# The strategies are built once per message type, string pool and depth, and drawn from many
# times: building them for each draw took most of the fuzzer's time.
@functools.cache
def messages(descriptor: Descriptor, pool: tuple[str, ...], depth: int = 0) -> st.SearchStrategy[Message]:
    """A message of ``descriptor`` with a random subset of its fields set to random values."""
    cls = GetMessageClass(descriptor)
    fields = [(field, _field_values(field, pool, depth)) for field in descriptor.fields]

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        for field, values in fields:
            if not draw(st.booleans()):
                continue
            value = draw(values)
            target = getattr(message, field.name)
            if _is_map(field):
                nested = field.message_type.fields_by_name["value"].message_type is not None
                for key, item in value.items():
                    target[key].CopyFrom(item) if nested else target.__setitem__(key, item)
            elif field.is_repeated:
                for item in value:
                    target.add().CopyFrom(item) if field.message_type is not None else target.append(item)
            elif field.message_type is not None:
                target.CopyFrom(value)
            else:
                setattr(message, field.name, value)
        return message

    return build()


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and bool(field.message_type.GetOptions().map_entry)


def _field_values(field: FieldDescriptor, pool: tuple[str, ...], depth: int) -> st.SearchStrategy[Any]:
    """What one field is set to: a value, a list of values (repeated), or entries (a map)."""
    if _is_map(field):
        key_field, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        return st.dictionaries(
            _value(key_field, pool, depth), _value(value_field, pool, depth), max_size=3 if depth else 80
        )
    if field.is_repeated:
        return st.lists(_value(field, pool, depth), max_size=4 if depth else 30)
    return _value(field, pool, depth)


@functools.cache
def _value(field: FieldDescriptor, pool: tuple[str, ...], depth: int) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == "google.protobuf.FieldMask":
            names = [f.name for f in field.containing_type.fields] + ["description", "tags", "kind", "serving"]
            return st.lists(st.one_of(st.sampled_from(names), st.text(max_size=10)), max_size=5).map(
                lambda paths: GetMessageClass(field.message_type)(paths=paths)
            )
        if depth >= MAX_DEPTH:
            return st.just(GetMessageClass(field.message_type)())
        return messages(field.message_type, pool, depth + 1)
    if kind == FieldDescriptor.TYPE_STRING:
        return strings(pool)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.binary(max_size=64), st.integers(1, 5_000_000).map(lambda n: b"\x01" * n))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32)
    if kind == FieldDescriptor.TYPE_ENUM:
        return st.integers(-3, len(field.enum_type.values) + 3)
    low, high = INT_RANGES[kind]
    return st.one_of(st.integers(-3, 20), st.integers(low, high))


class Target:
    """One service: its channel, its tables, and how to read their fingerprint."""

    def __init__(
        self,
        service: ServiceProcess,
        dsn: str,
        tables: tuple[str, ...],
        loop: asyncio.AbstractEventLoop,
        token: str = "",
    ):
        self.channel = grpc.insecure_channel(service.target)
        self._headers = [("authorization", f"Bearer {token}")] if token else []
        self._loop = loop
        # One round trip: every table's rows, digested in the database.
        digests = " || '|' || ".join(
            f"(SELECT coalesce(string_agg(md5(t::text), '' ORDER BY t::text), '') FROM {table} t)" for table in tables
        )
        self._query = f"SELECT md5({digests})"
        self._conn: asyncpg.Connection = loop.run_until_complete(asyncpg.connect(dsn))

    def fingerprint(self) -> str:
        """A digest of every row of the service's tables."""
        return self._loop.run_until_complete(self._conn.fetchval(self._query))  # type: ignore[no-any-return]

    def close(self) -> None:
        self.channel.close()
        self._loop.run_until_complete(self._conn.close())

    def call_raw(self, method: MethodDescriptor, payload: bytes) -> grpc.StatusCode:
        """``method`` sent ``payload`` as its request's bytes, whatever they hold."""
        path = f"/{method.containing_service.full_name}/{method.name}"
        try:
            if method.client_streaming:
                self.channel.stream_unary(path)(iter([payload]), timeout=20, metadata=self._headers)
            elif method.server_streaming:
                for _ in self.channel.unary_stream(path)(payload, timeout=0.5, metadata=self._headers):
                    pass
            else:
                self.channel.unary_unary(path)(payload, timeout=20, metadata=self._headers)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK

    def call(self, method: MethodDescriptor, request: Any) -> grpc.StatusCode:
        path = f"/{method.containing_service.full_name}/{method.name}"
        serialize = GetMessageClass(method.input_type).SerializeToString
        deserialize = GetMessageClass(method.output_type).FromString
        try:
            if method.client_streaming:
                self.channel.stream_unary(path, serialize, deserialize)(
                    iter(request), timeout=20, metadata=self._headers
                )
            elif method.server_streaming:
                stream = self.channel.unary_stream(path, serialize, deserialize)
                for _ in stream(request, timeout=0.5, metadata=self._headers):
                    pass
            else:
                self.channel.unary_unary(path, serialize, deserialize)(request, timeout=20, metadata=self._headers)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    own = asyncio.new_event_loop()
    yield own
    own.close()


@pytest.fixture(scope="module")
def fuzz_deploy(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: EmbeddedPostgres,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
    deploy_config: Callable[..., dict[str, str]],
) -> Iterator[tuple[ServiceProcess, str]]:
    data: Path = tmp_path_factory.mktemp("fuzz-deploy")
    dsn = postgres.create_database(f"fuzz_deploy_{uuid.uuid4().hex[:8]}")
    service = ServiceProcess(
        "deploy", "modelyard_deploy", data, deploy_config(dsn, metadata_service, registry_service, data)
    )
    service.start()
    yield service, dsn
    service.stop()


@pytest.fixture(scope="module")
def fuzz_auth(
    tmp_path_factory: pytest.TempPathFactory, postgres: EmbeddedPostgres, launch_metadata: Callable[..., ServiceProcess]
) -> Iterator[tuple[ServiceProcess, str]]:
    """A metadata service with authentication on, a project, a team and a user of its own."""
    dsn = postgres.create_database(f"fuzz_auth_{uuid.uuid4().hex[:8]}")
    services = json.dumps({"modelyard-registry": "myd_" + secrets.token_urlsafe(32)})
    service = launch_metadata(
        tmp_path_factory.mktemp("fuzz-auth"),
        dsn,
        "",
        auth_enabled="true",
        admin_token=ADMIN_TOKEN,
        service_tokens=services,
    )
    with modelyard.connect(service.target, token=ADMIN_TOKEN) as admin:
        admin.create_project("fz")
        admin.create_principal("alice")
        admin.create_principal("ml", kind="team")
        admin.add_team_member("ml", "alice")
        admin.set_project_role("fz", "ml", "editor")
        admin.create_token("alice")
    yield service, dsn
    service.stop()


@pytest.fixture(scope="module")
def seeded(
    metadata_service: ServiceProcess, fuzz_auth: tuple[ServiceProcess, str], dead_end_url: str
) -> dict[str, list[str]]:
    """A project with a READY, a PENDING_UPLOAD and an aliased version, and the string pool of
    each service: names that exist, so that the fuzzer reaches past the lookups."""
    project = f"fz-{uuid.uuid4().hex[:6]}"
    file = modelyard.ArtifactFile(path="model.onnx", size=1, sha256="1" * 64, storage_key="k", content_type="")
    with modelyard.connect(metadata_service.target, actor="fuzzer") as client:
        client.create_project(project)
        for model in ("m", "up", "pending"):
            client.create_model(f"{project}/{model}")
        ready = client.create_version(f"{project}/m").reference
        InternalCalls(client).commit_artifact(ready, modelyard.Artifact(files=(file,), total_size=1))
        client.set_alias(f"{project}/m", "champion", 1)
        client.create_version(f"{project}/m")
        client.create_version(f"{project}/up")
        client.create_version(f"{project}/pending")
        client.create_dataset(f"{project}/d")
        table = client.create_dataset_version(f"{project}/d", "PARQUET").reference
        columns = [modelyard.DatasetColumn("amount", "double")]
        artifact = modelyard.Artifact(files=(file,), total_size=1)
        InternalCalls(client).commit_dataset_version(table, artifact, columns, 3)
        client.create_dataset_version(f"{project}/d", "CSV")
        # The service may post to loopback only; this port refuses every connection.
        hook = client.create_webhook(project, dead_end_url, kinds=["alias.moved"]).subscription
        client.set_score_definition(
            f"{project}/m", task="regression", inputs={"x": ["amount"]}, label_column="amount", metrics=["rmse"]
        )
        test = client.create_scoring_test(f"{project}/m", "holdout", dataset=table, alias="champion")
        run = client.run_scoring_test(test.id)
    common = [project, f"{project}/m", f"{project}/m:1", f"{project}/m@champion", "champion", "accuracy"]
    return {
        "MetadataService": [
            *common,
            f"{project}/m:2",
            "m",
            'stage = "PRODUCTION" AND metrics.accuracy >= 0.9',
            "tags.team IN ('a', 'b')",
            "metrics.accuracy DESC",
            "created DESC, version ASC",
        ],
        "DatasetService": [
            *common,
            f"{project}/d",
            f"{project}/d:1",
            f"{project}/d:2",
            "amount",
            "double",
            "model.onnx",
            "1" * 64,
        ],
        "WebhookService": [project, dead_end_url, hook.id, "alias.moved", "version.created", "1"],
        "ScoringService": [*common, table, test.id, run.id, "holdout", "* * * * *", "amount", "rmse", "fuzzer"],
        "RegistryService": [project, f"{project}/up", f"{project}/up:1", "model.onnx", "a/b.bin", "1" * 64],
        # No READY reference here: a fuzzed deployment would start real inference servers.
        "DeployService": [project, f"{project}/pending:1", f"{project}/absent", "scorer", "d-1", "x" * 41],
        "AuthService": ["fz", "alice", "ml", "admin", "modelyard-registry", ADMIN_TOKEN, "myd_x", "fz/m:1", "Fz"],
    }


@pytest.fixture(scope="module")
def targets(
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
    metadata_dsn: str,
    fuzz_deploy: tuple[ServiceProcess, str],
    fuzz_auth: tuple[ServiceProcess, str],
    loop: asyncio.AbstractEventLoop,
) -> Iterator[dict[str, Target]]:
    deploy, deploy_dsn = fuzz_deploy
    auth, auth_dsn = fuzz_auth
    found = {
        "AuthService": Target(auth, auth_dsn, AUTH_TABLES, loop, ADMIN_TOKEN),
        "MetadataService": Target(metadata_service, metadata_dsn, METADATA_TABLES, loop),
        "DatasetService": Target(metadata_service, metadata_dsn, METADATA_TABLES, loop),
        "WebhookService": Target(metadata_service, metadata_dsn, METADATA_TABLES, loop),
        "ScoringService": Target(metadata_service, metadata_dsn, METADATA_TABLES, loop),
        "RegistryService": Target(registry_service, metadata_dsn, METADATA_TABLES, loop),
        "DeployService": Target(deploy, deploy_dsn, DEPLOY_TABLES, loop),
    }
    yield found
    for target in found.values():
        target.close()


def _methods() -> list[MethodDescriptor]:
    services = [
        metadata_pb2.DESCRIPTOR.services_by_name["MetadataService"],
        datasets_pb2.DESCRIPTOR.services_by_name["DatasetService"],
        webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"],
        scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"],
        registry_pb2.DESCRIPTOR.services_by_name["RegistryService"],
        deploy_pb2.DESCRIPTOR.services_by_name["DeployService"],
        auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
    ]
    return [method for service in services for method in service.methods]


def _requests(method: MethodDescriptor, pool: list[str]) -> st.SearchStrategy[Any]:
    one = messages(method.input_type, tuple(pool))
    if not method.client_streaming:
        return one
    # An upload: a header or a chunk first, then chunks (or more headers), small and large.
    return st.lists(one, min_size=0, max_size=4)


def _fuzz(
    method: MethodDescriptor,
    target: Target,
    inputs: st.SearchStrategy[Any],
    call: Callable[[MethodDescriptor, Any], grpc.StatusCode],
) -> None:
    """Sends what ``inputs`` draws to ``method``: every answer is an allowed status, and a
    refusal changes nothing."""
    allowed = UPLOAD_ALLOWED if method.client_streaming else STREAM_ALLOWED if method.server_streaming else ALLOWED

    @FUZZ
    @given(sent=inputs)
    def fuzz(sent: Any) -> None:
        before = target.fingerprint()
        code = call(method, sent)
        assert code in allowed, f"{method.name} answered {code.name} to {sent!r:.2000}"
        if code is not grpc.StatusCode.OK:
            assert target.fingerprint() == before, f"{method.name} answered {code.name} but changed the tables"

    fuzz()


@pytest.mark.parametrize("method", _methods(), ids=lambda m: f"{m.containing_service.name}.{m.name}")
def test_malformed_requests_get_a_status_naming_the_problem_and_change_nothing(
    method: MethodDescriptor, targets: dict[str, Target], seeded: dict[str, list[str]]
) -> None:
    service = method.containing_service.name
    _fuzz(method, targets[service], _requests(method, seeded[service]), targets[service].call)


# Invalid UTF-8 of as many bytes as the placeholder string it replaces on the wire.
PLACEHOLDER = "\u2603bad"
INVALID_UTF8 = (b"\xff\xfe\xfd\xfc\xfb\xfa", b"\xc3\x28\xa0\xa1\xe2\x28", b"\xed\xa0\x80\xf8\x88\x80")


@st.composite
def wire_payloads(draw: st.DrawFn, method: MethodDescriptor, pool: list[str]) -> bytes:
    """A request of ``method`` whose strings are invalid UTF-8, cut short, with a byte flipped, or
    bytes that were never a message."""
    message = draw(messages(method.input_type, (*pool, PLACEHOLDER)))
    data = message.SerializeToString()
    how = draw(st.sampled_from(["utf8", "cut", "flip", "random"]))
    if how == "utf8" or (how != "random" and not data):
        return data.replace(PLACEHOLDER.encode(), draw(st.sampled_from(INVALID_UTF8)))
    if how == "cut":
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "flip":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    return draw(st.binary(max_size=200))


@pytest.mark.parametrize("method", _methods(), ids=lambda m: f"{m.containing_service.name}.{m.name}")
def test_bytes_that_do_not_decode_are_invalid_argument_and_change_nothing(
    method: MethodDescriptor, targets: dict[str, Target], seeded: dict[str, list[str]]
) -> None:
    service = method.containing_service.name
    _fuzz(method, targets[service], wire_payloads(method, seeded[service]), targets[service].call_raw)


def json_objects() -> st.SearchStrategy[dict[str, Any]]:
    """Objects up to 40 levels of objects and lists deep (past protobuf's limit), up to 6,000
    members wide, or with keys up to 400 characters long."""
    deep = st.lists(st.booleans(), min_size=1, max_size=40).map(_nested)
    wide = st.integers(1, 6_000).map(lambda n: {f"feature_{i}": i / 7 for i in range(n)})
    long_keys = st.integers(1, 400).map(lambda n: {"k" * n: [n, {"k" * n: None}]})
    return st.one_of(deep, wide, long_keys)


def _nested(levels: list[bool]) -> dict[str, Any]:
    """An object holding, level after level, a list (True) or an object (False)."""
    value: Any = "leaf"
    for in_list in levels:
        value = [value, 1] if in_list else {"a": value, "b": 1.5}
    return {"top": value}


# Every request field that takes free-form JSON, and how to fill it (request, value, project).
JSON_FIELDS: dict[str, Callable[[Message, dict[str, Any], str], None]] = {
    "CreateModelVersion": lambda request, value, _: request.hyperparameters.update(value),  # type: ignore[attr-defined]
    "UpdateModelVersion": lambda request, value, _: (
        request.version.hyperparameters.update(value),  # type: ignore[attr-defined]
        request.update_mask.paths.append("hyperparameters"),  # type: ignore[attr-defined]
    ),
    "LogMetrics": lambda request, value, _: request.metrics.add(name="custom").structured.update(value),  # type: ignore[attr-defined]
    "RecordServiceEvents": lambda request, value, project: request.events.add(  # type: ignore[attr-defined]
        origin="fuzz",
        source_id=secrets.randbelow(2**50) + 1,
        action="job.finished",
        project=project,
        resource="job/fuzz",
        actor="fuzz",
    ).details.update(value),
}
# The fields that name what a request with free-form JSON changes.
_JSON_TARGET: dict[str, Callable[[str, str], dict[str, str]]] = {
    "CreateModelVersion": lambda model, _: {"model": model},
    "RecordServiceEvents": lambda _model, _reference: {},
}

# Requests embedding JSON that need no filling of their own: RecordScoringResult's metrics go
# through LogMetrics' checks (check_metric_points) and storage; CreateScoringTest's
# test.last_run (a run, with its metrics) is output only, never read from a request.
JSON_CHECKED_ALIKE = {"RecordScoringResult", "CreateScoringTest"}


def test_every_free_form_json_field_is_found_here() -> None:
    takes_json = {
        method.name
        for method in _methods()
        if _embeds(method.input_type, {"google.protobuf.Struct", "google.protobuf.Value"}, set())
    }
    assert takes_json == set(JSON_FIELDS) | JSON_CHECKED_ALIKE


def _embeds(descriptor: Descriptor, names: set[str], seen: set[str]) -> bool:
    if descriptor.full_name in names:
        return True
    seen.add(descriptor.full_name)
    return any(
        _embeds(f.message_type, names, seen)
        for f in descriptor.fields
        if f.message_type is not None and f.message_type.full_name not in seen
    )


@pytest.mark.parametrize("name", sorted(JSON_FIELDS))
def test_json_deep_wide_or_with_long_keys_is_refused_or_stored_and_every_read_decodes(
    name: str, targets: dict[str, Target], seeded: dict[str, list[str]]
) -> None:
    target = targets["MetadataService"]
    method = metadata_pb2.DESCRIPTOR.services_by_name["MetadataService"].methods_by_name[name]
    model = seeded["MetadataService"][1]
    reference = f"{model}:2"  # not READY: its hyperparameters may change
    project = model.partition("/")[0]
    reads = [
        ("GetModelVersion", metadata_pb2.GetModelVersionRequest(reference=reference)),
        ("ListModelVersions", metadata_pb2.ListModelVersionsRequest(model=model)),
        ("SearchModelVersions", metadata_pb2.SearchModelVersionsRequest(project=project)),
        ("ListAuditEvents", metadata_pb2.ListAuditEventsRequest(project=project)),
        ("CompareVersions", metadata_pb2.CompareVersionsRequest(references=[f"{model}:1", reference])),
    ]
    read_methods = metadata_pb2.DESCRIPTOR.services_by_name["MetadataService"].methods_by_name

    @FUZZ
    @given(value=json_objects())
    # At the bound and past it; 33 objects deep was stored, then failed every read showing it.
    @example(value=_nested([False] * 15))
    @example(value=_nested([False] * 16))
    @example(value=_nested([False] * 32))
    @example(value=_nested([False] * 33))
    def fuzz(value: dict[str, Any]) -> None:
        fields = _JSON_TARGET.get(name, lambda _, reference: {"reference": reference})(model, reference)
        request = GetMessageClass(method.input_type)(**fields)
        JSON_FIELDS[name](request, value, project)
        before = target.fingerprint()
        code = target.call(method, request)
        assert code in {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}, f"{name} answered {code.name}"
        if code is not grpc.StatusCode.OK:
            assert target.fingerprint() == before, f"{name} answered {code.name} but changed the tables"
        for read, read_request in reads:
            assert target.call(read_methods[read], read_request) is grpc.StatusCode.OK, f"{read} after {name}"

    fuzz()


def test_every_service_is_still_serving_after_the_fuzzing(targets: dict[str, Target]) -> None:
    for name, target in targets.items():
        answer = health_pb2_grpc.HealthStub(target.channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, name
