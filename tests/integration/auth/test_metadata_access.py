"""Authentication and project roles on a real metadata service with authentication on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import redis
from auth_sessions import AuthTokens, Session, new_token, refused
from concurrency import at_once
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelyard.v1 import auth_pb2, metadata_pb2, types_pb2
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess

DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
USER = auth_pb2.PRINCIPAL_KIND_USER
TEAM = auth_pb2.PRINCIPAL_KIND_TEAM
VIEWER, EDITOR, ADMIN = auth_pb2.PROJECT_ROLE_VIEWER, auth_pb2.PROJECT_ROLE_EDITOR, auth_pb2.PROJECT_ROLE_ADMIN
ARTIFACT = types_pb2.Artifact(files=[types_pb2.ArtifactFile(path="model.onnx", size=3, sha256="a" * 64)])


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class People:
    """Principals of one test: alice (creates the project), bob (in team ml), carol (no role)."""

    def __init__(self, admin: Session, target: str) -> None:
        self.project, self.team = _name("fraud"), _name("ml")
        self.names = {who: _name(who) for who in ("alice", "bob", "carol")}
        for name in self.names.values():
            admin.auth("CreatePrincipal", auth_pb2.CreatePrincipalRequest(name=name, kind=USER))
        admin.auth("CreatePrincipal", auth_pb2.CreatePrincipalRequest(name=self.team, kind=TEAM))
        admin.auth("AddTeamMember", auth_pb2.AddTeamMemberRequest(team=self.team, member=self.names["bob"]))
        self.sessions = {}
        for who, name in self.names.items():
            created = admin.auth("CreateToken", auth_pb2.CreateTokenRequest(principal=name, description="tests"))
            self.sessions[who] = Session(target, created.secret)
        self.alice.metadata("CreateProject", metadata_pb2.CreateProjectRequest(name=self.project))

    @property
    def alice(self) -> Session:
        return self.sessions["alice"]

    @property
    def bob(self) -> Session:
        return self.sessions["bob"]

    @property
    def carol(self) -> Session:
        return self.sessions["carol"]

    def grant_team(self, role: int) -> None:
        self.alice.auth(
            "SetProjectRole", auth_pb2.SetProjectRoleRequest(project=self.project, principal=self.team, role=role)
        )

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()


@pytest.fixture()
def people(admin: Session, auth_metadata: ServiceProcess) -> Iterator[People]:
    crowd = People(admin, auth_metadata.target)
    yield crowd
    crowd.close()


def _create_model(session: Session, project: str, name: str = "scorer") -> types_pb2.Model:
    request = metadata_pb2.CreateModelRequest(model=types_pb2.Model(project=project, name=name))
    return session.metadata("CreateModel", request).model


def _audit(session: Session, project: str) -> list[types_pb2.AuditEvent]:
    return list(session.metadata("ListAuditEvents", metadata_pb2.ListAuditEventsRequest(project=project)).events)


def test_calls_without_a_valid_token_are_unauthenticated_but_health_stays_open(auth_metadata: ServiceProcess) -> None:
    anonymous = Session(auth_metadata.target, None)
    code, message = refused(lambda: anonymous.metadata("ListProjects", metadata_pb2.ListProjectsRequest()))
    assert code is UNAUTHENTICATED
    assert "authorization: Bearer <token>" in message
    forged = Session(auth_metadata.target, new_token())
    assert refused(lambda: forged.auth("WhoAmI", auth_pb2.WhoAmIRequest())) == (
        UNAUTHENTICATED,
        "the token is not valid; ask an admin for a new one",
    )
    with grpc.insecure_channel(auth_metadata.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    anonymous.close()
    forged.close()


def test_the_creator_of_a_project_is_its_admin_and_others_see_nothing_of_it(people: People) -> None:
    me = people.alice.auth("WhoAmI", auth_pb2.WhoAmIRequest())
    assert me.principal.name == people.names["alice"]
    assert [(r.project, r.role) for r in me.roles] == [(people.project, ADMIN)]

    code, message = refused(
        lambda: people.carol.metadata("GetProject", metadata_pb2.GetProjectRequest(name=people.project))
    )
    assert code is DENIED
    assert message == (
        f"GetProject: {people.names['carol']} may not; it needs VIEWER on project {people.project!r} "
        "and has no role there"
    )
    listed = people.carol.metadata("ListProjects", metadata_pb2.ListProjectsRequest(page_size=1000))
    assert people.project not in [p.name for p in listed.projects]
    listed = people.alice.metadata("ListProjects", metadata_pb2.ListProjectsRequest(page_size=1000))
    assert [p.name for p in listed.projects] == [people.project]


def test_a_team_role_reaches_its_members_and_each_decision_on_a_change_is_audited(people: People) -> None:
    people.grant_team(VIEWER)
    assert people.bob.metadata("GetProject", metadata_pb2.GetProjectRequest(name=people.project)).project.name
    code, message = refused(lambda: _create_model(people.bob, people.project))
    assert code is DENIED
    assert f"needs EDITOR on project {people.project!r} and has VIEWER" in message

    denial = _audit(people.alice, people.project)[0]
    assert (denial.action, denial.actor, denial.resource) == (
        "access.denied",
        people.names["bob"],
        f"{people.project}/scorer",
    )
    assert denial.reason == message

    people.grant_team(EDITOR)
    model = _create_model(people.bob, people.project)
    assert model.name == "scorer"
    created = _audit(people.alice, people.project)[0]
    assert (created.action, created.actor) == ("model.create", people.names["bob"])
    assert created.access == f"EDITOR on {people.project} (team {people.team})"
    role_set = [e for e in _audit(people.alice, people.project) if e.action == "role.set"]
    assert [e.after["role"] for e in role_set] == ["EDITOR", "VIEWER"]
    assert {e.actor for e in role_set} == {people.names["alice"]}


def test_protected_aliases_and_production_need_a_project_admin(
    people: People, auth_metadata: ServiceProcess, auth_tokens: AuthTokens
) -> None:
    people.grant_team(EDITOR)
    _create_model(people.bob, people.project)
    model = f"{people.project}/scorer"
    people.bob.metadata("CreateModelVersion", metadata_pb2.CreateModelVersionRequest(model=model))
    registry = Session(auth_metadata.target, auth_tokens.registry, actor=people.names["bob"])
    registry.metadata("CommitArtifact", metadata_pb2.CommitArtifactRequest(reference=f"{model}:1", artifact=ARTIFACT))
    registry.close()
    ready = _audit(people.alice, people.project)[0]
    assert (ready.action, ready.actor, ready.access) == (
        "version.ready",
        people.names["bob"],
        "service modelyard-registry",
    )

    people.bob.metadata("SetAlias", metadata_pb2.SetAliasRequest(model=model, alias="staging", version=1))
    code, message = refused(
        lambda: people.bob.metadata("SetAlias", metadata_pb2.SetAliasRequest(model=model, alias="champion", version=1))
    )
    assert code is DENIED
    assert message.startswith("SetAlias (protected alias 'champion'): ")
    assert "needs ADMIN" in message
    people.alice.metadata("SetAlias", metadata_pb2.SetAliasRequest(model=model, alias="champion", version=1))

    stage = metadata_pb2.TransitionStageRequest(reference=f"{model}:1", stage=types_pb2.STAGE_VALIDATION)
    people.bob.metadata("TransitionStage", stage)
    stage.stage = types_pb2.STAGE_PRODUCTION
    code, message = refused(lambda: people.bob.metadata("TransitionStage", stage))
    assert code is DENIED
    assert message.startswith("TransitionStage VALIDATION -> PRODUCTION: ")
    version = people.alice.metadata("TransitionStage", stage).version
    assert version.stage == types_pb2.STAGE_PRODUCTION
    denials = [e for e in _audit(people.alice, people.project) if e.action == "access.denied"]
    assert [e.resource for e in denials] == [f"{model}:1", f"{model}@champion"]
    # Only the platform's services commit artifacts.
    commit = metadata_pb2.CommitArtifactRequest(reference=f"{model}:1", artifact=ARTIFACT)
    assert refused(lambda: people.alice.metadata("CommitArtifact", commit))[0] is DENIED


def test_search_and_audit_show_only_readable_projects(people: People, admin: Session) -> None:
    secret = _name("secret")
    admin.metadata("CreateProject", metadata_pb2.CreateProjectRequest(name=secret))
    for project, session in ((secret, admin), (people.project, people.alice)):
        _create_model(session, project)
        session.metadata("CreateModelVersion", metadata_pb2.CreateModelVersionRequest(model=f"{project}/scorer"))
    found = people.alice.metadata("SearchModelVersions", metadata_pb2.SearchModelVersionsRequest(page_size=1000))
    assert {v.project for v in found.versions} == {people.project}
    everything = admin.metadata("SearchModelVersions", metadata_pb2.SearchModelVersionsRequest(page_size=1000))
    assert {secret, people.project} <= {v.project for v in everything.versions}
    code, message = refused(
        lambda: people.alice.metadata("SearchModelVersions", metadata_pb2.SearchModelVersionsRequest(project=secret))
    )
    assert code is DENIED
    code, message = refused(lambda: people.alice.metadata("ListAuditEvents", metadata_pb2.ListAuditEventsRequest()))
    assert code is DENIED
    assert message.endswith("may read the audit log of one project at a time; set project")


def test_lineage_shows_only_readable_projects_and_counts_the_rest(people: People, admin: Session) -> None:
    secret = _name("secret")
    admin.metadata("CreateProject", metadata_pb2.CreateProjectRequest(name=secret))
    _create_model(admin, secret, "embedder")
    _create_model(people.alice, people.project, "features")
    _create_model(people.alice, people.project, "scorer")

    def version(session: Session, model: str, *produced_by: str) -> str:
        request = metadata_pb2.CreateModelVersionRequest(model=model, produced_by=produced_by)
        reference: str = session.metadata("CreateModelVersion", request).version.reference
        return reference

    features = version(people.alice, f"{people.project}/features")
    embedder = version(admin, f"{secret}/embedder", features)  # the secret project reads alice's features
    # alice read the embedder when she registered the scorer; she reads it no more.
    role = auth_pb2.SetProjectRoleRequest(project=secret, principal=people.names["alice"], role=VIEWER)
    admin.auth("SetProjectRole", role)
    scorer = version(people.alice, f"{people.project}/scorer", features, embedder)
    admin.auth("RemoveProjectRole", auth_pb2.RemoveProjectRoleRequest(project=secret, principal=people.names["alice"]))
    downstream = version(admin, f"{secret}/embedder", scorer)

    def lineage(session: Session) -> metadata_pb2.GetLineageResponse:
        response: metadata_pb2.GetLineageResponse = session.metadata(
            "GetLineage", metadata_pb2.GetLineageRequest(reference=features)
        )
        return response

    mine = lineage(people.alice)
    assert {n.reference for n in mine.nodes} == {features, scorer}
    assert [(e.from_reference, e.to_reference) for e in mine.edges] == [(features, scorer)]
    assert mine.left_out == 2
    everything = lineage(admin)
    assert {n.reference for n in everything.nodes} == {features, embedder, scorer, downstream}
    assert everything.left_out == 0
    assert refused(lambda: lineage(people.carol))[0] is DENIED


def test_tokens_are_revoked_and_expire(people: People, admin: Session, auth_metadata: ServiceProcess) -> None:
    mine = people.carol.auth("CreateToken", auth_pb2.CreateTokenRequest(description="laptop"))
    assert mine.secret.startswith("myd_") and mine.token.principal == people.names["carol"]
    laptop = Session(auth_metadata.target, mine.secret)
    assert laptop.auth("WhoAmI", auth_pb2.WhoAmIRequest()).principal.name == people.names["carol"]
    listed = people.carol.auth("ListTokens", auth_pb2.ListTokensRequest()).tokens
    assert {t.description for t in listed} == {"tests", "laptop"}
    assert all(t.HasField("last_used_at") for t in listed)  # both were used
    # Another's token is admin business.
    code, _ = refused(
        lambda: people.carol.auth("ListTokens", auth_pb2.ListTokensRequest(principal=people.names["bob"]))
    )
    assert code is DENIED
    assert refused(lambda: people.bob.auth("RevokeToken", auth_pb2.RevokeTokenRequest(id=mine.token.id)))[0] is (
        grpc.StatusCode.NOT_FOUND
    )
    revoked = people.carol.auth("RevokeToken", auth_pb2.RevokeTokenRequest(id=mine.token.id)).token
    assert revoked.HasField("revoked_at")
    code, message = refused(lambda: laptop.auth("WhoAmI", auth_pb2.WhoAmIRequest()))
    assert (code, message.split(" was ")[0]) == (UNAUTHENTICATED, f"token {mine.token.id}")

    short = admin.auth(
        "CreateToken",
        auth_pb2.CreateTokenRequest(principal=people.names["carol"], ttl=duration_pb2.Duration(seconds=1)),
    )
    brief = Session(auth_metadata.target, short.secret)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            brief.auth("WhoAmI", auth_pb2.WhoAmIRequest())
        except grpc.RpcError as exc:
            assert exc.code() is UNAUTHENTICATED
            assert f"token {short.token.id} expired at" in exc.details()
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the token never expired")
    laptop.close()
    brief.close()


def test_principal_management_is_for_platform_admins(people: People, admin: Session) -> None:
    code, message = refused(
        lambda: people.alice.auth("CreatePrincipal", auth_pb2.CreatePrincipalRequest(name="mallory"))
    )
    assert (code, message) == (DENIED, f"CreatePrincipal: {people.names['alice']} may not; it needs a platform admin")
    code, _ = refused(
        lambda: people.alice.auth("CreateToken", auth_pb2.CreateTokenRequest(principal=people.names["bob"]))
    )
    assert code is DENIED
    code, message = refused(lambda: admin.auth("CreatePrincipal", auth_pb2.CreatePrincipalRequest(name="Bad Name")))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and message.startswith("name: ")
    team = admin.auth("ListPrincipals", auth_pb2.ListPrincipalsRequest())
    teams = {p.name: list(p.members) for p in team.principals if p.kind == TEAM}
    assert teams[people.team] == [people.names["bob"]]
    # A project admin grants roles on its project only.
    code, _ = refused(
        lambda: people.bob.auth(
            "SetProjectRole",
            auth_pb2.SetProjectRoleRequest(project=people.project, principal=people.names["carol"], role=VIEWER),
        )
    )
    assert code is DENIED
    people.alice.auth(
        "RemoveProjectRole", auth_pb2.RemoveProjectRoleRequest(project=people.project, principal=people.names["alice"])
    )
    assert (
        refused(lambda: people.alice.metadata("GetProject", metadata_pb2.GetProjectRequest(name=people.project)))[0]
        is DENIED
    )


def test_authorize_answers_for_the_registry_and_deploy_services(
    people: People, auth_metadata: ServiceProcess, auth_tokens: AuthTokens
) -> None:
    people.grant_team(EDITOR)
    tokens = {who: s._headers[0][1].removeprefix("Bearer ") for who, s in people.sessions.items()}
    deploy = Session(auth_metadata.target, auth_tokens.deploy)
    ask = auth_pb2.AuthorizeRequest(
        token=tokens["bob"], project=people.project, role=EDITOR, action="DeployService/CreateDeployment",
        resource="scorer-live", mutation=True,
    )  # fmt: skip
    granted = deploy.auth("Authorize", ask)
    assert (granted.allowed, granted.principal, granted.grant) == (
        True, people.names["bob"], f"EDITOR on {people.project} (team {people.team})"
    )  # fmt: skip
    ask.token = tokens["carol"]
    denied = deploy.auth("Authorize", ask)
    assert (denied.allowed, denied.principal) == (False, people.names["carol"])
    assert "needs EDITOR" in denied.message
    ask.token = new_token()
    unknown = deploy.auth("Authorize", ask)
    assert (unknown.allowed, unknown.principal, unknown.message) == (
        False,
        "",
        "the token is not valid; ask an admin for a new one",
    )
    events = [(e.action, e.actor, e.resource) for e in _audit(people.alice, people.project)[:2]]
    assert events == [
        ("access.denied", people.names["carol"], "scorer-live"),
        ("access.granted", people.names["bob"], "scorer-live"),
    ]
    # Only services ask.
    assert refused(lambda: people.alice.auth("Authorize", ask))[0] is DENIED
    deploy.close()


def test_changing_the_admin_token_revokes_the_old_one(
    tmp_path: Path, postgres: EmbeddedPostgres, launch_metadata: Callable[..., ServiceProcess]
) -> None:
    dsn = postgres.create_database(_name("bootstrap").replace("-", "_"))
    first_token, second_token = new_token(), new_token()
    for token in (first_token, second_token):  # the second start installs the new token
        service = launch_metadata(tmp_path / token[-6:], dsn, "", auth_enabled="true", admin_token=token)
        try:
            fresh = Session(service.target, token)
            assert fresh.auth("WhoAmI", auth_pb2.WhoAmIRequest()).principal.admin
            tokens = fresh.auth("ListTokens", auth_pb2.ListTokensRequest(include_revoked=True)).tokens
            old = Session(service.target, first_token)
            if token == second_token:
                code, message = refused(lambda old=old: old.auth("WhoAmI", auth_pb2.WhoAmIRequest()))
                assert code is UNAUTHENTICATED and "was revoked at" in message
                assert [t.HasField("revoked_at") for t in tokens] == [True, False]
            else:
                assert [t.description for t in tokens] == ["bootstrap"]
            fresh.close()
            old.close()
        finally:
            service.stop()


def test_a_revoked_token_or_removed_role_counts_at_once_on_every_replica(
    people: People,
    tmp_path: Path,
    auth_dsn: str,
    auth_tokens: AuthTokens,
    redis_server: EmbeddedRedis,
    launch_metadata: Callable[..., ServiceProcess],
) -> None:
    """Identities are cached in Redis; a change through one replica is seen by the next call on another."""
    other = launch_metadata(tmp_path, auth_dsn, redis_server.url, **auth_tokens.metadata_settings())
    try:
        people.grant_team(VIEWER)
        secret = people.bob.auth("CreateToken", auth_pb2.CreateTokenRequest(description="replica")).secret
        there = Session(other.target, secret)
        read = metadata_pb2.GetProjectRequest(name=people.project)
        for _ in range(3):  # cached after the first
            assert there.metadata("GetProject", read).project.name == people.project
        people.alice.auth(
            "RemoveProjectRole", auth_pb2.RemoveProjectRoleRequest(project=people.project, principal=people.team)
        )
        assert refused(lambda: there.metadata("GetProject", read))[0] is DENIED
        people.grant_team(VIEWER)
        assert there.metadata("GetProject", read).project.name == people.project
        tokens = people.bob.auth("ListTokens", auth_pb2.ListTokensRequest()).tokens
        token_id = next(t.id for t in tokens if t.description == "replica")
        people.bob.auth("RevokeToken", auth_pb2.RevokeTokenRequest(id=token_id))
        assert refused(lambda: there.metadata("GetProject", read))[0] is UNAUTHENTICATED
        there.close()
    finally:
        other.stop()


def test_a_cached_read_with_a_token_asks_redis_for_the_identity_and_the_version_at_once(
    people: People,
    tmp_path: Path,
    auth_dsn: str,
    auth_tokens: AuthTokens,
    launch_metadata: Callable[..., ServiceProcess],
) -> None:
    """Both lookups leave in one write, so Redis reads one request per call, not two; a caller
    with no role still learns nothing from the version's lookup."""
    with EmbeddedRedis(tmp_path / "redis") as redis_alone:
        replica = launch_metadata(tmp_path / "replica", auth_dsn, redis_alone.url, **auth_tokens.metadata_settings())
        try:
            _create_model(people.alice, people.project)
            reference = f"{people.project}/scorer:1"
            people.alice.metadata(
                "CreateModelVersion", metadata_pb2.CreateModelVersionRequest(model=f"{people.project}/scorer")
            )
            there = Session(replica.target, _token(people, "alice"))
            stranger = Session(replica.target, _token(people, "carol"))
            read = metadata_pb2.GetModelVersionRequest(reference=reference)
            for _ in range(3):  # the identity and the version cached
                assert there.metadata("GetModelVersion", read).version.reference == reference
            with redis.Redis.from_url(redis_alone.url) as admin_client:
                before = admin_client.info("stats")["total_reads_processed"]
                for _ in range(30):
                    assert there.metadata("GetModelVersion", read).version.reference == reference
                reads = admin_client.info("stats")["total_reads_processed"] - before - 1  # INFO's own
            assert 30 <= reads <= 33, reads
            missing = metadata_pb2.GetModelVersionRequest(reference=f"{people.project}/scorer:9")
            code, message = refused(lambda: stranger.metadata("GetModelVersion", read))
            assert code is DENIED and message.startswith(f"GetModelVersion: {people.names['carol']} may not"), message
            assert refused(lambda: stranger.metadata("GetModelVersion", missing)) == (code, message)
            there.close()
            stranger.close()
        finally:
            replica.stop()


def _token(people: People, who: str) -> str:
    session = people.sessions[who]
    return session.auth("CreateToken", auth_pb2.CreateTokenRequest(description="one redis read")).secret


def test_a_bad_bootstrap_token_stops_the_service_with_a_line_saying_why(tmp_path: Path, auth_dsn: str) -> None:
    service = ServiceProcess(
        "metadata", "modelyard_metadata", tmp_path, {"db_dsn": auth_dsn, "auth_enabled": "true", "admin_token": "short"}
    )
    with pytest.raises(RuntimeError):
        service.start()
    assert "token of admin: must be 32 to 512 characters" in service.log_path.read_text()


def test_references_to_another_project_are_refused_alike_whether_they_exist_or_not(
    people: People, auth_metadata: ServiceProcess, auth_tokens: AuthTokens
) -> None:
    """bob owns a project of his own and has no role on alice's: whatever he names there, he
    learns nothing, not even whether it exists, and builds nothing on it."""
    _create_model(people.alice, people.project, "scorer")
    model = f"{people.project}/scorer"
    people.alice.metadata("CreateModelVersion", metadata_pb2.CreateModelVersionRequest(model=model))
    registry = Session(auth_metadata.target, auth_tokens.registry, actor=people.names["alice"])
    registry.metadata("CommitArtifact", metadata_pb2.CommitArtifactRequest(reference=f"{model}:1", artifact=ARTIFACT))
    registry.close()
    people.alice.metadata("CreateModelVersion", metadata_pb2.CreateModelVersionRequest(model=model))  # :2 pending
    people.alice.metadata("SetAlias", metadata_pb2.SetAliasRequest(model=model, alias="best", version=1))
    own = _name("carols")
    people.carol.metadata("CreateProject", metadata_pb2.CreateProjectRequest(name=own))
    ensemble = types_pb2.Model(project=own, name="ens", kind=types_pb2.MODEL_KIND_ENSEMBLE)
    people.carol.metadata("CreateModel", metadata_pb2.CreateModelRequest(model=ensemble))
    _create_model(people.carol, own, "scorer")

    def member(reference: str) -> tuple[grpc.StatusCode, str]:
        serving = types_pb2.Serving(ensemble_method=types_pb2.ENSEMBLE_METHOD_AVERAGE, members=[reference])
        request = metadata_pb2.CreateModelVersionRequest(model=f"{own}/ens", serving=serving)
        return refused(lambda: people.carol.metadata("CreateModelVersion", request))

    def parent(reference: str) -> tuple[grpc.StatusCode, str]:
        request = metadata_pb2.CreateModelVersionRequest(model=f"{own}/scorer", produced_by=[reference])
        return refused(lambda: people.carol.metadata("CreateModelVersion", request))

    def compare(reference: str) -> tuple[grpc.StatusCode, str]:
        request = metadata_pb2.CompareVersionsRequest(references=[reference, f"{model}:1"])
        return refused(lambda: people.carol.metadata("CompareVersions", request))

    def lineage(reference: str) -> tuple[grpc.StatusCode, str]:
        return refused(lambda: people.carol.metadata("GetLineage", metadata_pb2.GetLineageRequest(reference=reference)))

    existing, pending, aliased, absent = f"{model}:1", f"{model}:2", f"{model}@best", f"{model}:999"
    for ask in (member, parent, compare, lineage):
        answers = {reference: ask(reference) for reference in (existing, pending, aliased, absent)}
        assert {code for code, _ in answers.values()} == {DENIED}, ask.__name__
        # The messages differ only by the reference the caller gave itself.
        assert len({message.replace(reference, "REF") for reference, (_, message) in answers.items()}) == 1
        assert f"needs VIEWER on project {people.project!r}" in answers[absent][1]
    assert "PENDING_UPLOAD" not in member(pending)[1] and ":1" not in member(aliased)[1]
    # Nothing was created in carol's project; the refused changes are in the audit log of alice's.
    listed = people.carol.metadata("ListModelVersions", metadata_pb2.ListModelVersionsRequest(model=f"{own}/ens"))
    assert list(listed.versions) == []
    denied = [e for e in _audit(people.alice, people.project) if e.action == "access.denied"]
    assert {(e.actor, e.access) for e in denied} == {(people.names["carol"], "")}
    assert len(denied) == 10  # 6 asks as a member, 4 as a parent; refused reads are logged, not recorded


def test_racing_role_changes_and_revokes_form_one_chain_in_the_audit_log(people: People, admin: Session) -> None:
    roles = [VIEWER, EDITOR, ADMIN] * 4

    def set_role(role: int) -> None:
        request = auth_pb2.SetProjectRoleRequest(project=people.project, principal=people.names["carol"], role=role)
        people.alice.auth("SetProjectRole", request)

    at_once([lambda role=role: set_role(role) for role in roles])
    changes = [e for e in reversed(_audit(people.alice, people.project)) if e.action == "role.set"]
    carol = [e for e in changes if e.resource.endswith(people.names["carol"])]
    assert len(carol) == len(roles)
    befores = [dict(e.before).get("role") for e in carol]
    afters = [dict(e.after)["role"] for e in carol]
    assert befores == [None, *afters[:-1]]  # each names the role the one before it left

    created = people.carol.auth("CreateToken", auth_pb2.CreateTokenRequest(description="raced")).token

    revoke = auth_pb2.RevokeTokenRequest(id=created.id)
    at_once([lambda: people.carol.auth("RevokeToken", revoke)] * 8)
    revokes = [e for e in admin.metadata("ListAuditEvents", metadata_pb2.ListAuditEventsRequest()).events]
    assert [e.after["id"] for e in revokes if e.action == "token.revoke" and e.after["id"] == created.id] == [
        created.id
    ]
