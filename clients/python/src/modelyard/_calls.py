"""Client methods written once for both sync and async use.

A method of a call class (``MetadataCalls``, ``DeployCalls``, ``InternalCalls``) builds the
request and says how to convert the response: a ``Unary``, ``Pages`` or ``Stream`` description.
The descriptors ``unary`` and ``iterating`` hand that description to the runner of the object
the method is read from: a ``BlockingRunner`` runs it and returns the result, an ``AsyncRunner``
returns a coroutine (or an async iterator). Their ``__get__`` overloads keep the type hints
truthful: ``Client().get_version`` is ``(reference: str) -> ModelVersion``,
``AsyncClient().get_version`` is ``(reference: str) -> Awaitable[ModelVersion]``.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Self, TypeVar, cast, overload

from modelyard._connection import METADATA

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__ = [
    "MAX_PAGE",
    "AsyncRunner",
    "BlockingRunner",
    "Calls",
    "Pages",
    "Stream",
    "Unary",
    "first_page",
    "iterating",
    "nothing",
    "unary",
]

MAX_PAGE = 1000

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class Unary(Generic[T]):
    """One request, one response, converted by ``convert``; ``actor`` overrides the client's;
    ``service`` is one of ``_connection``'s METADATA, AUTH, WEBHOOKS, DEPLOY, REGISTRY."""

    method: str
    request: Message
    convert: Callable[[Any], T]
    actor: str | None = None
    service: str = METADATA


@dataclass(frozen=True, slots=True)
class Pages(Generic[T]):
    """A list RPC read page after page; ``items`` converts one response's items."""

    method: str
    request: Any  # a *Request message with page_size and page_token
    items: Callable[[Any], Iterable[T]]
    limit: int | None = None
    service: str = METADATA


@dataclass(frozen=True, slots=True)
class Stream(Generic[T]):
    """A server-streaming RPC, without deadline unless ``timeout`` (seconds) is given;
    ``convert`` turns each message into an item."""

    method: str
    request: Message
    convert: Callable[[Any], T]
    service: str = METADATA
    timeout: float | None = None


def nothing(response: Any) -> None:
    """The result of a call that returns nothing."""
    return None


def first_page(call: Pages[Any]) -> Any:
    """The request of the first page: at most ``limit`` items, within the server's page size."""
    request = call.request
    if call.limit is not None:
        if call.limit < 0:
            raise ValueError(f"limit: {call.limit} is negative")
        request.page_size = min(max(call.limit, 1), MAX_PAGE)
    return request


class BlockingRunner(ABC):
    """Runs call descriptions on blocking channels."""

    @abstractmethod
    def unary(self, call: Unary[T]) -> T: ...

    @abstractmethod
    def iterate(self, call: Pages[T] | Stream[T]) -> Iterator[T]: ...


class AsyncRunner(ABC):
    """Runs call descriptions on asyncio channels."""

    @abstractmethod
    async def unary(self, call: Unary[T]) -> T: ...

    @abstractmethod
    def iterate(self, call: Pages[T] | Stream[T]) -> AsyncIterator[T]: ...


R = TypeVar("R", BlockingRunner, AsyncRunner)


class Calls(Generic[R]):
    """The methods of call classes run on ``_runner``, a ``BlockingRunner`` or ``AsyncRunner``."""

    _runner: R


def _signature_without_self(build: Callable[..., Any]) -> inspect.Signature:
    signature = inspect.signature(build)
    parameters = list(signature.parameters.values())[1:]
    return signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty)


def _bound(method: Callable[..., Any], build: Callable[..., Any], signature: inspect.Signature) -> Callable[..., Any]:
    method.__name__ = build.__name__
    method.__qualname__ = build.__qualname__
    method.__doc__ = build.__doc__
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


class unary(Generic[P, T]):
    """Makes a request-building method a client method returning ``T`` or ``Awaitable[T]``."""

    def __init__(self, build: Callable[Concatenate[Any, P], Unary[T]]) -> None:
        self._build = build
        self._signature = _signature_without_self(build)
        functools.update_wrapper(cast(Any, self), build)  # for help() and docs

    @overload
    def __get__(self, calls: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, calls: Calls[BlockingRunner], owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, calls: Calls[AsyncRunner], owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, calls: Calls[Any] | None, owner: type[Any]) -> Any:
        if calls is None:
            return self
        build = self._build

        def method(*args: Any, **kwargs: Any) -> Any:
            return calls._runner.unary(build(calls, *args, **kwargs))

        return _bound(method, build, self._signature)


class iterating(Generic[P, T]):
    """Makes a method a client method returning ``Iterator[T]`` or ``AsyncIterator[T]``."""

    def __init__(self, build: Callable[Concatenate[Any, P], Pages[T] | Stream[T]]) -> None:
        self._build = build
        self._signature = _signature_without_self(build)
        functools.update_wrapper(cast(Any, self), build)  # for help() and docs

    @overload
    def __get__(self, calls: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, calls: Calls[BlockingRunner], owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, calls: Calls[AsyncRunner], owner: type[Any]) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, calls: Calls[Any] | None, owner: type[Any]) -> Any:
        if calls is None:
            return self
        build = self._build

        def method(*args: Any, **kwargs: Any) -> Any:
            return calls._runner.iterate(build(calls, *args, **kwargs))

        return _bound(method, build, self._signature)
