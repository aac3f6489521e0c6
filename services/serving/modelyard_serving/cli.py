"""``modelyard serve``: an inference server for one version, in the foreground.

A plugin of the ``modelyard`` command line (entry point group ``modelyard.cli_plugins``), so the
client package never imports the server: installing modelyard-serving adds the command.
"""

from __future__ import annotations

from pathlib import Path

import click

from modelyard.cli import State, pass_state
from modelyard_serving.main import run_in_foreground
from modelyard_serving.settings import ServingSettings

__all__ = ["serve"]


@click.command()
@click.argument("reference", metavar="REF")
@click.option("--name", default="", help="Model name clients use in requests.  [default: the model's name]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True, help="gRPC port; 0: any free.")
@click.option(
    "--metrics-port", type=click.IntRange(0, 65535), default=8002, show_default=True, help="/metrics port; 0: any free."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="MODELYARD_CACHE_DIR",
    show_envvar=True,
    help="Local artifact cache.  [default: ~/.cache/modelyard]",
)
@click.option("--allow-pickle", is_flag=True, help="Load pickle and joblib files (they run code when loaded).")
@click.option(
    "--trust-type", "trusted_types", multiple=True, metavar="TYPE", help="A type to trust in a skops file (repeatable)."
)
@pass_state
def serve(
    state: State,
    /,
    reference: str,
    name: str,
    host: str,
    port: int,
    metrics_port: int,
    cache_dir: Path | None,
    allow_pickle: bool,
    trusted_types: tuple[str, ...],
) -> None:
    """Serve version REF over the Open Inference Protocol v2 (gRPC) until Ctrl-C.

    The version's files are fetched through the registry into the local cache (once), the model
    is loaded by its kind and format, then any OIP client (tritonclient, KServe) can call it.
    Exits with code 3 when the model cannot be loaded, saying why.

    \b
    Examples:
      modelyard serve fraud/scorer@champion
      modelyard serve fraud/scorer:3 --name scorer --port 9001 --trust-type sklearn.tree._tree.Tree
    """
    settings = ServingSettings(
        reference=reference,
        model_name=name,
        host=host,
        port=port,
        metrics_port=metrics_port,
        cache_dir=cache_dir,
        allow_pickle=allow_pickle,
        trusted_types=trusted_types,
        metadata_addr=state.client.target,
        registry_addr=state.client.registry,
        log_format="console",
    )
    run_in_foreground(settings)
