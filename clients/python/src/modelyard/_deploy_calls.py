"""The calls of the deploy service (DeployService), written once for ``Client`` and
``AsyncClient`` (see ``_calls``). The deploy service's address is given, or announced by the
metadata service on the first of these calls."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from modelyard import _convert_deploy as cd
from modelyard._calls import Calls, Pages, R, Stream, Unary, iterating, nothing, unary
from modelyard._connection import DEPLOY
from modelyard._types import Deployment, DeploymentRevision, DeploymentRuntime
from modelyard.errors import InvalidArgumentError
from modelyard.v1 import deploy_pb2

__all__ = ["DeployCalls", "deployment_of"]


def _type_names(types: Iterable[str]) -> list[str]:
    """``trusted_types`` as a list; a lone string would otherwise be taken letter by letter."""
    if isinstance(types, str):
        raise TypeError(f"trusted_types: expected a list of type names, got the string {types!r}")
    return list(types)


def deployment_of(response: Any) -> Deployment:
    """The deployment a response holds in its ``deployment`` field."""
    return cd.deployment_from_pb(response.deployment)


def _changed_deployment(response: Any) -> Deployment:
    """The deployment of an update or rollback, with the revision the call created."""
    return replace(deployment_of(response), created_revision=response.created_revision)


class DeployCalls(Calls[R]):
    """Every DeployService method."""

    @unary
    def create_deployment(
        self,
        name: str,
        reference: str,
        *,
        replicas: int = 1,
        runtime: DeploymentRuntime | str | None = None,
        trusted_types: Iterable[str] = (),
    ) -> Unary[Deployment]:
        """Serves version ``reference`` ("p/m:3", "p/m@alias", "p/m": resolved now) as a new
        deployment ``name`` with ``replicas`` inference servers (1..16); AlreadyExistsError when
        ``name`` is taken (``deploy`` rolls an existing one forward instead). Returns at once,
        PENDING; see ``wait_deployment`` / ``watch_deployment``. ``runtime`` defaults to the service's.
        ``trusted_types``: types its skops file may hold beyond those skops trusts by default
        (as the load error names them); trust only files of authors you trust."""
        if replicas < 1:
            raise InvalidArgumentError(f"replicas: {replicas} is below 1 (scale an existing deployment to 0)")
        request = deploy_pb2.CreateDeploymentRequest(
            name=name, model_reference=reference, replicas=replicas, trusted_types=_type_names(trusted_types)
        )
        if runtime is not None:
            request.runtime = cd.runtime_to_pb(DeploymentRuntime.parse(runtime))
        return Unary("CreateDeployment", request, deployment_of, service=DEPLOY)

    @unary
    def get_deployment(self, name: str) -> Unary[Deployment]:
        return Unary("GetDeployment", deploy_pb2.GetDeploymentRequest(name=name), deployment_of, service=DEPLOY)

    @iterating
    def list_deployments(self, *, project: str = "", limit: int | None = None) -> Pages[Deployment]:
        """Deployments by name; of ``project`` only when given."""
        request = deploy_pb2.ListDeploymentsRequest(project=project)
        return Pages(
            "ListDeployments", request, lambda r: map(cd.deployment_from_pb, r.deployments), limit, service=DEPLOY
        )

    @unary
    def update_deployment(
        self,
        name: str,
        *,
        reference: str = "",
        replicas: int | None = None,
        reason: str = "",
        trusted_types: Iterable[str] | None = None,
    ) -> Unary[Deployment]:
        """Rolls ``name`` forward to ``reference`` (resolved now: an alias that moved makes a new
        revision) and/or scales it to ``replicas`` (0 stops every replica, keeping it).
        ``trusted_types`` (None: kept) replaces the types trusted in skops files; other types
        make a new revision, rolled out like another version."""
        request = deploy_pb2.UpdateDeploymentRequest(name=name, model_reference=reference, reason=reason)
        if replicas is not None:
            request.replicas = replicas
        if trusted_types is not None:
            request.trusted_types.SetInParent()
            request.trusted_types.types.extend(_type_names(trusted_types))
        return Unary("UpdateDeployment", request, _changed_deployment, service=DEPLOY)

    @unary
    def rollback_deployment(self, name: str, *, revision: int = 0, reason: str = "") -> Unary[Deployment]:
        """Serves the version of ``revision`` again (0: the revision before the current one), as
        a new revision rolled out like any change."""
        request = deploy_pb2.RollbackDeploymentRequest(name=name, revision=revision, reason=reason)
        return Unary("RollbackDeployment", request, _changed_deployment, service=DEPLOY)

    @unary
    def delete_deployment(self, name: str) -> Unary[None]:
        """Stops every replica (they are gone when this returns) and forgets the deployment."""
        return Unary("DeleteDeployment", deploy_pb2.DeleteDeploymentRequest(name=name), nothing, service=DEPLOY)

    @unary
    def deployment_revisions(self, name: str) -> Unary[tuple[DeploymentRevision, ...]]:
        """Every revision of ``name``, newest first."""
        request = deploy_pb2.ListDeploymentRevisionsRequest(name=name)
        return Unary(
            "ListDeploymentRevisions",
            request,
            lambda r: tuple(cd.revision_from_pb(v) for v in r.revisions),
            service=DEPLOY,
        )

    @iterating
    def watch_deployment(self, name: str) -> Stream[Deployment]:
        """The deployment now, then again after each change of its state, revision or replicas;
        ends when it is deleted. Has no deadline; stop by leaving the loop."""
        request = deploy_pb2.WatchDeploymentRequest(name=name)
        return Stream("WatchDeployment", request, deployment_of, service=DEPLOY)
