"""Changes, each a POST form on the page it concerns: a version's stage, its aliases, and the
description and tags of a model or a version.

Each change is one SDK call with the signed-in user's token; the console decides nothing about
who may do what. Done, it redirects back (303) with a one-line confirmation; refused, it shows
the page again with the service's own message beside the form. Every form asks for a reason,
which the call carries and the metadata service keeps in the change's audit event (it also
bounds its length, so a refusal of it is the service's too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypedDict

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard.aio
from modelyard import Model, ModelVersion, Stage
from modelyard.errors import InvalidArgumentError, ModelyardError
from modelyard_console.pages._common import page
from modelyard_console.pages._outcome import Refused, confirm, form_text, submitted
from modelyard_console.pages.catalog import model_page, model_path, version_page, version_path

__all__ = ["routes"]

_MODEL = "/projects/{project}/models/{model}"
_VERSION = _MODEL + "/versions/{version:int}"


def routes() -> list[Route]:
    return [
        Route(_VERSION + "/stage", page(_transition), methods=["POST"]),
        Route(_VERSION + "/aliases", page(_set_alias), methods=["POST"]),
        Route(_VERSION + "/aliases/delete", page(_delete_alias), methods=["POST"]),
        Route(_VERSION + "/edit", page(_edit_version), methods=["POST"]),
        Route(_MODEL + "/edit", page(_edit_model), methods=["POST"]),
    ]


async def _transition(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    form = await request.form()
    try:
        stage = _stage(form_text(form, "stage"))
        version = await client.transition_stage(_reference(request), stage, reason=form_text(form, "reason"))
    except ModelyardError as exc:
        return await version_page(request, client, Refused("stage", exc, submitted(form)))
    return confirm(request, version_path(version.reference), f"{version.reference} is now in stage {version.stage}.")


async def _set_alias(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    form = await request.form()
    alias, number = form_text(form, "alias"), request.path_params["version"]
    try:
        change = await client.set_alias(_model(request), alias, number, reason=form_text(form, "reason"))
    except ModelyardError as exc:
        return await version_page(request, client, Refused("alias", exc, submitted(form)))
    moved = f" (it pointed at version {change.previous_version})" if change.previous_version else ""
    return confirm(request, version_path(_reference(request)), f"Alias {alias} now points at version {number}{moved}.")


async def _delete_alias(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    form = await request.form()
    alias = form_text(form, "alias")
    try:
        await client.delete_alias(_model(request), alias, reason=form_text(form, "reason"))
    except ModelyardError as exc:
        return await version_page(request, client, Refused("alias-delete", exc, submitted(form)))
    return confirm(request, version_path(_reference(request)), f"Alias {alias} removed.")


async def _edit_version(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    reference = _reference(request)
    return await _edit(
        request,
        client,
        _Edited(reference, version_path(reference), version_page),
        lambda: client.get_version(reference),
        lambda changed, reason: client.update_version(reference, reason=reason, **changed),
    )


async def _edit_model(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    name = _model(request)
    return await _edit(
        request,
        client,
        _Edited(name, model_path(name), model_page),
        lambda: client.get_model(name),
        lambda changed, reason: client.update_model(name, reason=reason, **changed),
    )


@dataclass(frozen=True, slots=True)
class _Edited:
    """What an edit form changes: its name, its page's path, and the page to show a refusal on."""

    name: str
    path: str
    page: Callable[[Request, modelyard.aio.AsyncClient, Refused], Awaitable[Response]]


async def _edit(
    request: Request,
    client: modelyard.aio.AsyncClient,
    edited: _Edited,
    read: Callable[[], Awaitable[Model | ModelVersion]],
    write: Callable[[_Edit, str], Awaitable[object]],
) -> Response:
    """Sends the description and tags the form changes, and only those, with the reason given."""
    form = await request.form()
    try:
        current = await read()
        changed = _changed(form, current.description, current.tags)
        if changed:
            await write(changed, form_text(form, "reason"))
    except ModelyardError as exc:
        return await edited.page(request, client, Refused("edit", exc, submitted(form)))
    return confirm(request, edited.path, _saved(edited.name, changed))


class _Edit(TypedDict, total=False):
    """The fields the edit forms change, of a model (``ModelFields``) or a version (``VersionFields``)."""

    description: str
    tags: Mapping[str, str]


def _changed(form: FormData, description: str, tags: Mapping[str, str]) -> _Edit:
    """The fields the form sends with a value other than the current one, and only those: a
    field another user changed meanwhile is not written back."""
    changed: _Edit = {}
    if "description" in form and (new := form_text(form, "description")) != description:
        changed["description"] = new
    if "tags" in form and (new_tags := parse_tags(form_text(form, "tags"))) != tags:
        changed["tags"] = new_tags
    return changed


def _saved(name: str, changed: _Edit) -> str:
    if not changed:
        return f"Nothing changed on {name}."
    return f"Saved the {' and '.join(changed)} of {name}."


def parse_tags(text: str) -> dict[str, str]:
    """Tags written one ``key=value`` per line (blank lines skipped); the service checks the
    keys and values themselves."""
    tags: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        key = key.strip()
        if not equals or not key:
            raise InvalidArgumentError(f"tags: line {number} ({line.strip()!r}) is not key=value")
        if key in tags:
            raise InvalidArgumentError(f"tags: {key!r} is given twice (lines up to {number})")
        tags[key] = value.strip()
    return tags


def _stage(text: str) -> Stage:
    try:
        return Stage.parse(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"stage: {exc}") from exc


def _model(request: Request) -> str:
    return f"{request.path_params['project']}/{request.path_params['model']}"


def _reference(request: Request) -> str:
    return f"{_model(request)}:{request.path_params['version']}"
