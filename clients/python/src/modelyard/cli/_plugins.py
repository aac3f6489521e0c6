"""Commands other installed packages add to ``modelyard``: each is a click command named under
the entry point group ``modelyard.cli_plugins`` (modelyard-serving adds ``serve``), so that the
client package imports none of them. One is imported only when it runs or the commands are
listed, so the other commands start no slower for it."""

from __future__ import annotations

from importlib.metadata import entry_points

import click

__all__ = ["GROUP", "load", "names"]

GROUP = "modelyard.cli_plugins"
# Plugin commands the docs promise, with what brings each: when it is not installed, the command
# is still listed and says what to install.
_PROVIDED_BY = {"serve": ("the inference server", "modelyard-serving")}


def names() -> set[str]:
    """The plugin commands: those installed, and those the docs promise."""
    return {entry.name for entry in entry_points(group=GROUP)} | set(_PROVIDED_BY)


def load(name: str) -> click.Command | None:
    """Plugin command ``name``; None when there is no such command."""
    for entry in entry_points(group=GROUP, name=name):
        command = entry.load()
        if not isinstance(command, click.Command):
            raise TypeError(f"entry point {entry.value} ({GROUP}) is not a click command")
        return command
    if name in _PROVIDED_BY:
        return _not_installed(name, *_PROVIDED_BY[name])
    return None


def _not_installed(name: str, what: str, package: str) -> click.Command:
    """A stand-in that says what to install, whatever it is given."""

    def explain() -> None:
        raise click.ClickException(f"modelyard {name} needs {what}: pip install {package}")

    return click.Command(
        name,
        callback=explain,
        help=f"Needs {what}: pip install {package}.",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
