"""The root command: global options, the client, output (tables or --json) and error exits."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import click
from rich.console import Console, RenderableType

import modelyard
from modelyard import Client, ModelyardError
from modelyard.cli import _plugins

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "State",
    "cli",
    "emit",
    "emit_line",
    "emit_list",
    "output_console",
    "pass_state",
    "reason_option",
    "trust_type_option",
]

# Exit codes: 0 done; 1 the service refused or failed (any code but INVALID_ARGUMENT);
# 2 bad usage, caught by the CLI or by the service (INVALID_ARGUMENT); 130 interrupted (Ctrl-C).
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# The width of output that is not a terminal (a pipe, a file): wider than any row, so that rich
# lays every table out at its natural width instead of folding cells, mid-word, into 80 columns.
UNBOUNDED_WIDTH = 100_000


def output_console() -> Console:
    """The console tables are printed on (stdout): a terminal's width on a terminal; elsewhere
    unbounded, unless COLUMNS says otherwise, so that no word is broken and each row is one line."""
    console = Console(highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(highlight=False, width=UNBOUNDED_WIDTH)
    return console


@dataclass
class State:
    """What the global options set; the client is opened on first use and closed at exit."""

    target: str | None
    registry: str | None
    deploy: str | None
    actor: str | None
    timeout: float
    as_json: bool
    tls: modelyard.TLSConfig | None = None
    token: str | None = field(default=None, repr=False)
    console: Console = field(default_factory=output_console)
    _client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            timeout = self.timeout if self.timeout > 0 else None
            try:
                self._client = modelyard.connect(
                    self.target,
                    registry=self.registry,
                    deploy=self.deploy,
                    actor=self.actor,
                    token=self.token,
                    timeout=timeout,
                    tls=self.tls,
                )
            except ValueError as exc:  # an --actor or --token that cannot travel as a header
                raise click.UsageError(str(exc)) from None
            click.get_current_context().find_root().call_on_close(self._client.close)
        return self._client


pass_state = click.make_pass_decorator(State)

# The metadata service's changes that take a reason keep it in their audit event.
reason_option = click.option("--reason", default="", help="Why, for the audit log.")


def trust_type_option(help: str) -> Callable[[F], F]:
    """--trust-type TYPE (repeatable), as ``trusted_types``: types a skops file may hold beyond
    those skops trusts by default (a deployment's, a job's, a scoring test's)."""
    return click.option("--trust-type", "trusted_types", multiple=True, metavar="TYPE", help=help)


def to_jsonable(value: Any) -> Any:
    """Dataclasses as objects, enums as their names, datetimes as ISO 8601, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def emit(state: State, value: T, render: Callable[[T], RenderableType]) -> None:
    """Prints ``value``: as indented JSON with --json, else as ``render`` draws it."""
    if state.as_json:
        click.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))
    else:
        state.console.print(render(value))


def emit_list(state: State, items: Sequence[T], render: Callable[[Sequence[T]], RenderableType], empty: str) -> None:
    """Prints a listing: as JSON with --json (``[]`` when empty); else as ``render`` draws it,
    or, when there is nothing to list, no table and the line ``empty`` on stderr, where the
    notes on a listing go (stdout stays empty for whatever reads it)."""
    if items or state.as_json:
        emit(state, items, render)
    else:
        click.echo(empty, err=True)


def emit_line(state: State, value: T, render: Callable[[T], RenderableType]) -> None:
    """Prints one item of a stream: a JSON line with --json, else one rendered line."""
    if state.as_json:
        click.echo(json.dumps(to_jsonable(value), ensure_ascii=False), nl=True)
    else:
        state.console.print(render(value), soft_wrap=True)


class _Root(click.Group):
    """Turns SDK errors into ``error: CODE: message`` on stderr (then the notes the SDK added,
    such as how to resume a push) and an exit code; local file errors (push, pull) into
    ``error: <what the OS said>``. Has the commands of installed plugins too (``_plugins``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugins.names()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or _plugins.load(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModelyardError as exc:
            click.echo(f"error: {exc.code}: {exc.message}", err=True)
            for note in getattr(exc, "__notes__", ()):
                click.echo(f"  {note}", err=True)
            ctx.exit(EXIT_USAGE if exc.code == "INVALID_ARGUMENT" else EXIT_ERROR)
        except OSError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_ERROR)


def _pem_option(flag: str, envvar: str, help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A global option naming a PEM file, also read from ``envvar``."""
    return click.option(flag, envvar=envvar, show_envvar=True, type=click.Path(exists=True, dir_okay=False), help=help)


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--target",
    envvar="MODELYARD_METADATA_ADDR",
    show_envvar=True,
    metavar="HOST:PORT",
    help="Metadata service address.  [default: 127.0.0.1:7410]",
)
@click.option(
    "--registry",
    envvar="MODELYARD_REGISTRY_ADDR",
    show_envvar=True,
    metavar="HOST:PORT",
    help=(
        "Registry service address (artifact bytes: push, pull, artifact, abort).  "
        "[default: the one the metadata service gives, else 127.0.0.1:7411]"
    ),
)
@click.option(
    "--deploy",
    envvar="MODELYARD_DEPLOY_ADDR",
    show_envvar=True,
    metavar="HOST:PORT",
    help=(
        "Deploy service address (deploy, deployments, rollback, jobs).  "
        "[default: the one the metadata service gives, else 127.0.0.1:7412]"
    ),
)
@click.option(
    "--actor", envvar="MODELYARD_ACTOR", show_envvar=True, help="Who you act as, for the audit log. [default: login]"
)
@click.option(
    "--token",
    envvar="MODELYARD_TOKEN",
    show_envvar=True,
    metavar="SECRET",
    help="Bearer token sent with every call (modelyard auth token create).  [default: none]",
)
@_pem_option("--tls-ca", "MODELYARD_TLS_CA", "CA bundle (PEM) verifying the services: turns TLS on.")
@_pem_option("--tls-cert", "MODELYARD_TLS_CERT", "Client certificate (PEM) for services requiring one (mTLS).")
@_pem_option("--tls-key", "MODELYARD_TLS_KEY", "Private key (PEM) of --tls-cert.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables (JSON lines when following).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Deadline of each call, seconds; 0: none.")
@click.version_option(package_name="modelyard", prog_name="modelyard")
@click.pass_context
def cli(
    ctx: click.Context,
    target: str | None,
    registry: str | None,
    deploy: str | None,
    actor: str | None,
    token: str | None,
    tls_ca: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Modelyard: find, register, compare and promote models; push and pull their artifacts;
    deploy them as inference servers.

    Versions are named by a reference: PROJECT/MODEL:VERSION, PROJECT/MODEL@ALIAS, or
    PROJECT/MODEL for the latest READY version.
    """
    tls = None
    if tls_ca or tls_cert or tls_key:
        if bool(tls_cert) != bool(tls_key):
            raise click.UsageError("--tls-cert and --tls-key go together (give both or neither)")
        tls = modelyard.TLSConfig(tls_ca, cert_file=tls_cert, key_file=tls_key)
    ctx.obj = State(
        target=target,
        registry=registry,
        deploy=deploy,
        actor=actor,
        timeout=timeout,
        as_json=as_json,
        tls=tls,
        token=token,
    )
