"""What the client sends: requests built by each method, headers, retry policy. No server: a
client whose transport records the call instead of sending it."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import modelyard
import modelyard.aio
from modelyard import _calls, _client, _connection, _deploy_calls
from modelyard._connection import Settings
from modelyard._deploy_calls import DeployCalls
from modelyard._metadata_calls import MetadataCalls
from modelyard.internal import InternalCalls
from modelyard.v1 import (
    auth_pb2,
    datasets_pb2,
    deploy_pb2,
    jobs_pb2,
    metadata_pb2,
    scoring_pb2,
    types_pb2,
    webhooks_pb2,
)


class _Returning:
    """Runs nothing: returns the call description a method built."""

    def unary(self, call: Any) -> Any:
        return call

    def iterate(self, call: Any) -> Any:
        return call


class _Recording(MetadataCalls[Any], DeployCalls[Any]):
    """Every method of the clients, on a runner that sends nothing."""

    def __init__(self, target: str, *, actor: str, token: str | None = None) -> None:
        self._settings = Settings.of(target, actor=actor, token=token)
        self._runner = _Returning()


@pytest.fixture
def client() -> Any:
    return _Recording("test:1", actor="tester")


def test_update_model_masks_exactly_the_keywords_given(client: Any) -> None:
    call = client.update_model("fraud/scorer", team="risk", tags={"tier": "1"}, code_location=None)
    assert call.method == "UpdateModel"
    assert list(call.request.update_mask.paths) == ["team", "tags", "code_location"]
    assert (call.request.model.project, call.request.model.name, call.request.model.team) == ("fraud", "scorer", "risk")
    assert not call.request.model.HasField("code_location")


def test_a_reason_travels_beside_the_fields_not_in_the_mask(client: Any) -> None:
    call = client.update_model("fraud/scorer", description="d", reason="clearer")
    assert (call.request.reason, list(call.request.update_mask.paths)) == ("clearer", ["description"])
    call = client.update_version("fraud/scorer:3", tags={"a": "1"}, reason="tagged")
    assert (call.request.reason, list(call.request.update_mask.paths)) == ("tagged", ["tags"])
    assert client.set_alias("fraud/scorer", "best", 3, reason="wins").request.reason == "wins"
    assert client.delete_alias("fraud/scorer", "best", reason="loses").request.reason == "loses"


def test_update_version_masks_exactly_the_keywords_given(client: Any) -> None:
    call = client.update_version("fraud/scorer:3", description="retrained", hyperparameters={"max_depth": 8})
    assert call.request.reference == "fraud/scorer:3"
    assert list(call.request.update_mask.paths) == ["description", "hyperparameters"]
    assert call.request.version.hyperparameters["max_depth"] == 8


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("scorer", "'scorer' has no project"),
        ("/scorer", "'/scorer' has no project before '/'"),
        ("fraud/", "'fraud/' has no model after '/'"),
        ("a/b/c", "'a/b/c' has more than one '/'"),
        ("", "is required"),
    ],
)
def test_model_names_must_be_project_slash_model_and_the_error_says_what_is_wrong(
    client: Any, name: str, problem: str
) -> None:
    with pytest.raises(modelyard.InvalidArgumentError) as caught:
        client.create_model(name)
    assert caught.value.message == f"name: {problem}: use project/model"


def test_create_version_sends_stage_and_fields(client: Any) -> None:
    call = client.create_version("fraud/scorer", stage="validation", framework="sklearn", produced_by=["p/f:1"])
    request = call.request
    assert (request.model, request.stage, request.framework) == ("fraud/scorer", types_pb2.STAGE_VALIDATION, "sklearn")
    assert list(request.produced_by) == ["p/f:1"]
    assert client.create_version("fraud/scorer").request.stage == types_pb2.STAGE_UNSPECIFIED  # server default


def test_log_metrics_sends_scalars_and_structured(client: Any) -> None:
    call = client.log_metrics("p/m:1", {"accuracy": 0.93, "importance": {"age": 0.3}}, step=2)
    kinds = {m.name: (m.WhichOneof("value"), m.step) for m in call.request.metrics}
    assert kinds == {"accuracy": ("number", 2), "importance": ("structured", 2)}


def test_transition_and_lineage_take_enum_names_in_any_case(client: Any) -> None:
    assert client.transition_stage("p/m:1", "Production", reason="ok").request.stage == types_pb2.STAGE_PRODUCTION
    call = client.lineage("p/m:1", direction="upstream", depth=3)
    assert (call.request.direction, call.request.depth) == (metadata_pb2.LINEAGE_DIRECTION_UPSTREAM, 3)
    with pytest.raises(ValueError, match="not a Stage"):
        client.transition_stage("p/m:1", "live")


def test_alias_results_report_the_previous_version(client: Any) -> None:
    response = metadata_pb2.SetAliasResponse(
        version=types_pb2.ModelVersion(project="p", model="m", version=2, reference="p/m:2"), previous_version=0
    )
    change = client.set_alias("p/m", "champion", 2).convert(response)
    assert (change.alias, change.version.version, change.previous_version) == ("champion", 2, None)
    deleted = client.delete_alias("p/m", "champion").convert(metadata_pb2.DeleteAliasResponse(previous_version=2))
    assert (deleted.version, deleted.previous_version) == (None, 2)


def test_search_limit_sets_the_page_size(client: Any) -> None:
    call = client.search_versions('stage = "PRODUCTION"', order_by="metrics.accuracy DESC", limit=5)
    assert (call.method, call.limit) == ("SearchModelVersions", 5)
    assert _calls.first_page(call).page_size == 5
    assert _calls.first_page(client.search_versions(limit=5000)).page_size == 1000
    assert _calls.first_page(client.list_projects()).page_size == 0  # the server's default


def test_search_page_hands_back_one_page_and_the_next_token(client: Any) -> None:
    call = client.search_page("version > 1", project="p", page_size=2, page_token="t1")
    assert (call.request.filter, call.request.project, call.request.page_size, call.request.page_token) == (
        "version > 1",
        "p",
        2,
        "t1",
    )
    version = types_pb2.ModelVersion(project="p", model="m", version=2, reference="p/m:2")
    page = call.convert(metadata_pb2.SearchModelVersionsResponse(versions=[version], next_page_token="t2"))
    assert ([v.reference for v in page.versions], page.next_page_token) == (["p/m:2"], "t2")


def test_audit_events_filters(client: Any) -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    request = client.audit_events(project="fraud", actor="alice", since=since).request
    assert (request.project, request.actor, request.since.ToDatetime(tzinfo=UTC)) == ("fraud", "alice", since)
    assert not client.audit_events().request.HasField("since")


def test_compare_takes_a_list_not_a_string(client: Any) -> None:
    assert list(client.compare(("p/m:1", "p/m:2")).request.references) == ["p/m:1", "p/m:2"]
    with pytest.raises(TypeError, match="references: expected a list"):
        client.compare("p/m:1")


def test_create_deployment_builds_its_request_for_the_deploy_service(client: Any) -> None:
    call = client.create_deployment("scorer", "fraud/scorer@champion", replicas=3, runtime="process")
    assert (call.service, call.method) == (_connection.DEPLOY, "CreateDeployment")
    assert (call.request.name, call.request.model_reference, call.request.replicas) == (
        "scorer",
        "fraud/scorer@champion",
        3,
    )
    assert call.request.runtime == deploy_pb2.RUNTIME_PROCESS


def test_update_deployment_sends_replicas_only_when_given(client: Any) -> None:
    assert not client.update_deployment("scorer", reference="p/m:2").request.HasField("replicas")
    scaled = client.update_deployment("scorer", replicas=0).request
    assert scaled.HasField("replicas") and scaled.replicas == 0


def test_create_deployment_rejects_fewer_than_one_replica(client: Any) -> None:
    with pytest.raises(modelyard.InvalidArgumentError, match="replicas: 0 is below 1"):
        client.create_deployment("scorer", "p/m:1", replicas=0)


def test_deployment_converts_from_its_message() -> None:
    message = deploy_pb2.Deployment(
        name="scorer",
        project="fraud",
        version_reference="fraud/scorer:2",
        runtime=deploy_pb2.RUNTIME_PROCESS,
        state=deploy_pb2.DEPLOYMENT_STATE_DEGRADED,
        replica_status=[deploy_pb2.Replica(id="r1", state=deploy_pb2.REPLICA_STATE_FAILED, restarts=2)],
        endpoints=["127.0.0.1:5000"],
    )
    deployment = _deploy_calls.deployment_of(deploy_pb2.GetDeploymentResponse(deployment=message))
    assert deployment.state is modelyard.DeploymentState.DEGRADED
    assert deployment.runtime is modelyard.DeploymentRuntime.PROCESS
    assert deployment.replica_status == (modelyard.Replica("r1", 0, modelyard.ReplicaState.FAILED, restarts=2),)
    assert deployment.endpoints == ("127.0.0.1:5000",)


_ARGS = {
    "events": [],
    "event_id": 7,
    "version": 1,
    "references": ["p/m:1", "p/m:2"],
    "metrics": {"accuracy": 0.9},
    "stage": "archived",
    "artifact": modelyard.Artifact(),
    "reference": "p/m:1",
    "role": "viewer",
    "mutation": False,
    "ttl": timedelta(minutes=10),
    "format": "csv",
    "use": "trained_on",
    "columns": [],
    "row_count": 0,
    "updated_before": datetime(2026, 1, 1, tzinfo=UTC),
    "task": "classification",
    "inputs": {"features": ["a", "b"]},
    "attempt": 1,
    "max_runs": 1,
    "lease_seconds": 30.0,
}


def test_every_rpc_has_a_method() -> None:
    services = {
        _connection.METADATA: metadata_pb2.DESCRIPTOR.services_by_name["MetadataService"],
        _connection.DEPLOY: deploy_pb2.DESCRIPTOR.services_by_name["DeployService"],
        _connection.AUTH: auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
        _connection.DATASETS: datasets_pb2.DESCRIPTOR.services_by_name["DatasetService"],
        _connection.WEBHOOKS: webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"],
        _connection.SCORING: scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"],
        _connection.JOBS: jobs_pb2.DESCRIPTOR.services_by_name["JobService"],
    }
    recorder = _Recording("test:1", actor="tester")
    sent = set()
    # The clients' methods, and the internal ones of services.
    members = [m for cls in (_client.Client, _client.AsyncClient, InternalCalls) for _, m in inspect.getmembers(cls)]
    for member in members:
        if isinstance(member, _calls.unary | _calls.iterating):
            build = member._build
            required = [
                p for p in list(inspect.signature(build).parameters.values())[1:]
                if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD
            ]  # fmt: skip
            args: dict[str, Any] = {p.name: "p/m" for p in required}
            args.update((k, v) for k, v in _ARGS.items() if k in args)
            call = build(recorder, **args)
            sent.add((call.service, call.method))
    assert sent == {(key, m.name) for key, service in services.items() for m in service.methods}


@pytest.mark.parametrize(
    ("options", "retried_by_service"),
    [
        (
            _connection.channel_options(_connection.METADATA),
            {
                "modelyard.v1.MetadataService": _connection.READS[_connection.METADATA],
                "modelyard.v1.AuthService": {"WhoAmI", "ListPrincipals", "ListTokens", "ListProjectRoles"},
                "modelyard.v1.DatasetService": _connection.READS[_connection.DATASETS],
                "modelyard.v1.WebhookService": {"GetSubscription", "ListSubscriptions", "ListDeliveries"},
                "modelyard.v1.ScoringService": {
                    "GetScoreDefinition",
                    "GetScoringTest",
                    "ListScoringTests",
                    "GetScoringRun",
                    "ListScoringRuns",
                },
            },
        ),
        (
            _connection.channel_options(_connection.DEPLOY),
            {
                "modelyard.v1.DeployService": _connection.READS[_connection.DEPLOY],
                "modelyard.v1.JobService": {"GetJob", "ListJobs"},
            },
        ),
        (
            _connection.channel_options(_connection.REGISTRY),
            {"modelyard.v1.RegistryService": {"StatArtifact", "GetUploadSession"}},
        ),
    ],
)
def test_only_reads_are_retried_and_only_when_unavailable(
    options: list[tuple[str, Any]], retried_by_service: dict[str, frozenset[str]]
) -> None:
    config = json.loads(dict(options)["grpc.service_config"])
    (method_config,) = config["methodConfig"]
    retried: dict[str, set[str]] = {}
    for name in method_config["name"]:
        retried.setdefault(name["service"], set()).add(name["method"])
    assert retried == retried_by_service
    methods = set().union(*retried.values())
    assert not {m for m in methods if m.startswith(("Create", "Update", "Set", "Delete", "Log", "Transition"))}
    assert not {"Authorize", "CommitUpload", "UploadFile"} & methods  # writes (Authorize audits)
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert 2 <= method_config["retryPolicy"]["maxAttempts"] <= 5


def test_headers_carry_actor_and_a_fresh_request_id(client: Any) -> None:
    first_id, first = client._settings.headers()
    second_id, _ = client._settings.headers()
    assert dict(first) == {"modelyard-actor": "tester", "modelyard-request-id": first_id}
    assert len(first_id) == 16 and first_id != second_id


def test_target_and_actor_default_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_METADATA_ADDR", "meta.internal:7410")
    monkeypatch.setenv("MODELYARD_ACTOR", "ci-bot")
    client = modelyard.connect()
    assert (client.target, client.actor, client.timeout) == ("meta.internal:7410", "ci-bot", 30.0)
    monkeypatch.delenv("MODELYARD_METADATA_ADDR")
    monkeypatch.delenv("MODELYARD_ACTOR")
    monkeypatch.setenv("USER", "someone")
    monkeypatch.setenv("LOGNAME", "someone")
    client = modelyard.aio.connect(timeout=None)
    assert (client.target, client.actor, client.timeout) == ("127.0.0.1:7410", "someone", None)


def test_registry_and_deploy_addresses_given_beat_the_environment_and_ask_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELYARD_REGISTRY_ADDR", "registry.internal:7411")
    monkeypatch.setenv("MODELYARD_DEPLOY_ADDR", "deploy.internal:7412")
    # "m:1" does not resolve: reading these addresses must not call the metadata service.
    with modelyard.connect("m:1") as client:
        assert (client.registry, client.deploy_target) == ("registry.internal:7411", "deploy.internal:7412")
    with modelyard.connect("m:1", registry="r:2", deploy="d:3") as client:
        assert (client.registry, client.deploy_target) == ("r:2", "d:3")
    assert modelyard.aio.connect("m:1").deploy_target == "deploy.internal:7412"
    assert modelyard.aio.connect("m:1", deploy="d:3").deploy_target == "d:3"


def test_without_registry_or_deploy_address_nothing_is_asked_or_opened_before_a_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODELYARD_REGISTRY_ADDR", raising=False)
    monkeypatch.delenv("MODELYARD_DEPLOY_ADDR", raising=False)
    client = modelyard.connect("m:1")
    assert client._settings.registry is None and client._settings.deploy is None
    assert "registry=None" in repr(client) and "deploy=None" in repr(client)  # repr asks nothing
    assert client._transport.platform is None and not client._transport.channels
    client.close()
    assert modelyard.aio.connect("m:1").deploy_target is None  # found on the first deploy call


def test_address_order_is_given_then_announced_by_metadata_then_default() -> None:
    assert _connection.address("r:1", "announced:2", "127.0.0.1:7411") == "r:1"
    assert _connection.address(None, "announced:2", "127.0.0.1:7411") == "announced:2"
    assert _connection.address(None, "", "127.0.0.1:7411") == "127.0.0.1:7411"


def test_only_a_metadata_service_without_the_rpc_means_the_defaults() -> None:
    old_server = modelyard.InternalError("method not implemented", code="UNIMPLEMENTED")
    assert _connection.unknown_if_unimplemented(old_server) == modelyard.PlatformInfo("", "", "")
    for refused in (modelyard.UnavailableError("down"), modelyard.UnauthenticatedError("no token")):
        with pytest.raises(type(refused)):
            _connection.unknown_if_unimplemented(refused)


def test_platform_info_asks_get_platform_info(client: Any) -> None:
    call = client.platform_info()
    assert call.method == "GetPlatformInfo" and call.service == _connection.METADATA
    response = metadata_pb2.GetPlatformInfoResponse(registry_address="r:1", deploy_address="d:2", version="0.1.0")
    assert call.convert(response) == modelyard.PlatformInfo("r:1", "d:2", "0.1.0")


def test_actor_must_fit_in_a_header() -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        modelyard.connect(actor="zoë")


def test_methods_have_the_signature_and_doc_of_what_they_wrap() -> None:
    client = modelyard.connect("test:1", actor="tester")
    assert str(inspect.signature(client.get_version)) == "(reference: 'str')"
    assert client.get_version.__name__ == "get_version"
    assert "latest READY" in (client.get_version.__doc__ or "")
    assert modelyard.Client.get_version.__doc__ == client.get_version.__doc__
    client.close()  # nothing was called: the channel never connected
