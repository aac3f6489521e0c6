"""The ``modelyard`` command line: the SDK's calls, printed as tables or JSON.

Exit codes: 0 done; 1 the service refused or failed; 2 bad usage (INVALID_ARGUMENT from the
service, or a bad option caught here); 130 interrupted.

Other packages add commands as plugins (entry point group ``modelyard.cli_plugins``: the
inference server's ``serve``); ``State`` and ``pass_state`` are what their commands share.
"""

from __future__ import annotations

from modelyard.cli._app import State, cli, pass_state
from modelyard.cli.artifacts import abort, artifact, pull, push
from modelyard.cli.audit import audit
from modelyard.cli.auth import auth
from modelyard.cli.datasets import dataset
from modelyard.cli.deployments import deploy, deployments, rollback
from modelyard.cli.explore import compare, lineage, search
from modelyard.cli.jobs import jobs
from modelyard.cli.lifecycle import alias, metrics, stage
from modelyard.cli.models import model
from modelyard.cli.predict import predict
from modelyard.cli.projects import project
from modelyard.cli.score import score
from modelyard.cli.versions import version
from modelyard.cli.webhooks import webhooks

__all__ = ["State", "cli", "main", "pass_state"]

_METADATA = (project, model, version, metrics, stage, alias, search, lineage, compare, audit)
_ARTIFACTS = (push, pull, artifact, abort)  # over the registry service
_DEPLOYMENTS = (deploy, deployments, predict, rollback, jobs)  # over the deploy service
for _command in (*_METADATA, *_ARTIFACTS, dataset, *_DEPLOYMENTS, auth, webhooks, score):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``modelyard`` script."""
    cli(prog_name="modelyard")
