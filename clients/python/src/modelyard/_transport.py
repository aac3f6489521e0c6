"""The channels of one client and the running of its calls on them, blocking or asyncio.

A channel is made on the first call to its service, at the address ``_connection`` says: the
deploy service's and the registry's may have to be asked of the metadata service first
(GetPlatformInfo, once per client; again after a failure). A failed call raises the SDK's typed
error, naming the service and its address when no server answered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import grpc
import grpc.aio

from modelyard import _convert as cv
from modelyard._calls import AsyncRunner, BlockingRunner, Pages, Stream, Unary, first_page
from modelyard._connection import (
    AUTH,
    DATASETS,
    DEFAULT_DEPLOY,
    DEFAULT_REGISTRY,
    DEPLOY,
    JOBS,
    METADATA,
    REGISTRY,
    SCORING,
    WEBHOOKS,
    Settings,
    address,
    channel_options,
    unknown_if_unimplemented,
)
from modelyard._tls import open_aio_channel, open_channel
from modelyard._types import PlatformInfo
from modelyard.errors import InternalError, ModelyardError, from_rpc_error
from modelyard.v1 import (
    auth_pb2_grpc,
    datasets_pb2_grpc,
    deploy_pb2_grpc,
    jobs_pb2_grpc,
    metadata_pb2,
    metadata_pb2_grpc,
    registry_pb2_grpc,
    scoring_pb2_grpc,
    webhooks_pb2_grpc,
)

__all__ = ["AsyncTransport", "BlockingTransport", "platform_info_call"]

T = TypeVar("T")

_STUBS = {
    METADATA: metadata_pb2_grpc.MetadataServiceStub,
    AUTH: auth_pb2_grpc.AuthServiceStub,
    DATASETS: datasets_pb2_grpc.DatasetServiceStub,
    DEPLOY: deploy_pb2_grpc.DeployServiceStub,
    REGISTRY: registry_pb2_grpc.RegistryServiceStub,
    WEBHOOKS: webhooks_pb2_grpc.WebhookServiceStub,
    SCORING: scoring_pb2_grpc.ScoringServiceStub,
    JOBS: jobs_pb2_grpc.JobServiceStub,
}
_CHANNEL_OF = {
    METADATA: METADATA,
    AUTH: METADATA,
    DATASETS: METADATA,
    WEBHOOKS: METADATA,
    SCORING: METADATA,
    DEPLOY: DEPLOY,
    JOBS: DEPLOY,
    REGISTRY: REGISTRY,
}
_DEFAULTS = {DEPLOY: DEFAULT_DEPLOY, REGISTRY: DEFAULT_REGISTRY}


def platform_info_call() -> Unary[PlatformInfo]:
    return Unary("GetPlatformInfo", metadata_pb2.GetPlatformInfoRequest(), cv.platform_info_from_pb)


def _same(response: Any) -> Any:
    return response


class _Addresses:
    """The addresses of one client's services, as given or as announced once asked."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.platform: PlatformInfo | None = None  # what the metadata service said, once asked

    def given(self, service: str) -> str | None:
        if _CHANNEL_OF[service] == METADATA:
            return self.settings.target
        return self.settings.deploy if service == DEPLOY else self.settings.registry

    def known(self, service: str) -> str | None:
        """The address of ``service`` if it needs no asking; None until the platform was asked."""
        given = self.given(service)
        if given or self.platform is None:
            return given
        announced = self.platform.deploy if service == DEPLOY else self.platform.registry
        return address(None, announced, _DEFAULTS[service])

    def error(self, exc: grpc.RpcError, request_id: str, service: str) -> ModelyardError:
        reachable = self.settings.reachable(service, self.known(service))
        return from_rpc_error(exc, request_id=request_id, reachable=reachable)


class BlockingTransport(_Addresses, BlockingRunner):
    """Blocking channels, safe to share between threads."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._platform_lock = threading.Lock()
        self._lock = threading.Lock()
        self.channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[str, Any] = {}

    def address(self, service: str) -> str:
        """The address of ``service``, asking the metadata service when it was not given."""
        known = self.known(service)
        if known is not None:
            return known
        with self._platform_lock:
            if self.platform is None:
                try:
                    self.platform = self.unary(platform_info_call())
                except ModelyardError as exc:
                    self.platform = unknown_if_unimplemented(exc)
        return self.address(service)

    def stub(self, service: str) -> Any:
        """The stub of ``service``, its channel made on first use."""
        channel = _CHANNEL_OF[service]
        if service not in self._stubs:
            target = self.address(channel)  # before the lock: it may be a call itself
            with self._lock:
                if channel not in self.channels:
                    self.channels[channel] = open_channel(target, self.settings.tls, channel_options(channel))
                self._stubs.setdefault(service, _STUBS[service](self.channels[channel]))
        return self._stubs[service]

    def unary(self, call: Unary[T]) -> T:
        request_id, metadata = self.settings.headers(call.actor)
        try:
            response = getattr(self.stub(call.service), call.method)(
                call.request, timeout=self.settings.timeout, metadata=metadata
            )
        except grpc.RpcError as exc:
            raise self.error(exc, request_id, call.service) from exc
        return call.convert(response)

    def iterate(self, call: Pages[T] | Stream[T]) -> Iterator[T]:
        if isinstance(call, Stream):
            return self._stream(call)
        return self._pages(call, first_page(call))

    def _pages(self, call: Pages[T], request: Any) -> Iterator[T]:
        count = 0
        while call.limit is None or count < call.limit:
            response = self.unary(Unary(call.method, request, _same, service=call.service))
            for item in call.items(response):
                if call.limit is not None and count >= call.limit:
                    return
                count += 1
                yield item
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def _stream(self, call: Stream[T]) -> Iterator[T]:
        request_id, metadata = self.settings.headers()
        responses = getattr(self.stub(call.service), call.method)(call.request, timeout=call.timeout, metadata=metadata)
        try:
            for response in responses:
                yield call.convert(response)
        except grpc.RpcError as exc:
            raise self.error(exc, request_id, call.service) from exc
        finally:
            responses.cancel()

    def close(self) -> None:
        with self._lock:
            for channel in self.channels.values():
                channel.close()


class AsyncTransport(_Addresses, AsyncRunner):
    """Asyncio channels, made on first use in the running event loop."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, Any] = {}

    async def address(self, service: str) -> str:
        """The address of ``service``, asking the metadata service when it was not given (two
        tasks racing may both ask: the answer is the same)."""
        known = self.known(service)
        if known is not None:
            return known
        try:
            self.platform = await self.unary(platform_info_call())
        except ModelyardError as exc:
            self.platform = unknown_if_unimplemented(exc)
        return await self.address(service)

    async def stub(self, service: str) -> Any:
        channel = _CHANNEL_OF[service]
        if service not in self._stubs:
            target = await self.address(channel)
            if channel not in self.channels:  # another task may have made it while this one asked
                self.channels[channel] = open_aio_channel(target, self.settings.tls, channel_options(channel))
            self._stubs.setdefault(service, _STUBS[service](self.channels[channel]))
        return self._stubs[service]

    async def unary(self, call: Unary[T]) -> T:
        request_id, metadata = self.settings.headers(call.actor)
        try:
            stub = await self.stub(call.service)
            response = await getattr(stub, call.method)(call.request, timeout=self.settings.timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise self.error(exc, request_id, call.service) from exc
        return call.convert(_decoded(response, call.method, request_id))

    def iterate(self, call: Pages[T] | Stream[T]) -> AsyncIterator[T]:
        if isinstance(call, Stream):
            return self._stream(call)
        return self._pages(call, first_page(call))

    async def _pages(self, call: Pages[T], request: Any) -> AsyncIterator[T]:
        count = 0
        while call.limit is None or count < call.limit:
            response = await self.unary(Unary(call.method, request, _same, service=call.service))
            for item in call.items(response):
                if call.limit is not None and count >= call.limit:
                    return
                count += 1
                yield item
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    async def _stream(self, call: Stream[T]) -> AsyncIterator[T]:
        request_id, metadata = self.settings.headers()
        stub = await self.stub(call.service)
        responses = getattr(stub, call.method)(call.request, timeout=call.timeout, metadata=metadata)
        try:
            async for response in responses:
                yield call.convert(_decoded(response, call.method, request_id))
        except grpc.RpcError as exc:
            raise self.error(exc, request_id, call.service) from exc
        finally:
            responses.cancel()

    async def close(self) -> None:
        channels = list(self.channels.values())
        self.channels.clear()
        self._stubs.clear()
        await asyncio.gather(*(channel.close() for channel in channels))


def _decoded(response: Any, method: str, request_id: str) -> Any:
    """``response``, unless grpc.aio could not decode it: it then logs and hands back None, where
    the blocking API raises INTERNAL, so this raises the same instead of failing later on None."""
    if response is None:
        raise InternalError(f"{method}: the server's response could not be decoded", request_id=request_id)
    return response
