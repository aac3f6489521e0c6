"""Raw gRPC stubs of a metadata process, every call carrying one bearer token (or none); the
platform (metadata, registry, deploy) and a team of users of one project, for the fixtures."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

import modelyard
from modelyard.v1 import auth_pb2_grpc, metadata_pb2_grpc
from modelyard_common.embedded.service import ServiceProcess


def new_token() -> str:
    return "myd_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class AuthTokens:
    """The tokens a metadata service installs at start: its admin's and the two services'."""

    admin: str
    registry: str
    deploy: str

    def metadata_settings(self) -> dict[str, str]:
        services = {"modelyard-registry": self.registry, "modelyard-deploy": self.deploy}
        return {"auth_enabled": "true", "admin_token": self.admin, "service_tokens": json.dumps(services)}


class Session:
    def __init__(self, target: str, token: str | None, actor: str = "") -> None:
        self._channel = grpc.insecure_channel(target)
        self._headers: list[tuple[str, str]] = [("authorization", f"Bearer {token}")] if token else []
        if actor:
            self._headers.append(("modelyard-actor", actor))
        self._stubs = {
            "metadata": metadata_pb2_grpc.MetadataServiceStub(self._channel),
            "auth": auth_pb2_grpc.AuthServiceStub(self._channel),
        }

    def _call(self, service: str, method: str, request: Any) -> Any:
        return getattr(self._stubs[service], method)(request, metadata=self._headers, timeout=15)

    def metadata(self, method: str, request: Any) -> Any:
        return self._call("metadata", method, request)

    def auth(self, method: str, request: Any) -> Any:
        return self._call("auth", method, request)

    def close(self) -> None:
        self._channel.close()


def refused(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    """The status code and message of a call that must fail."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), exc.details()  # type: ignore[attr-defined]
    raise AssertionError("the call succeeded")


@dataclass(frozen=True)
class Platform:
    metadata: ServiceProcess
    registry: ServiceProcess
    deploy: ServiceProcess

    def client(self, token: str | None) -> modelyard.Client:
        return modelyard.connect(
            self.metadata.target, registry=self.registry.target, deploy=self.deploy.target, token=token
        )


@dataclass
class Team:
    project: str
    owner: modelyard.Client  # ADMIN of the project
    viewer: modelyard.Client
    stranger: modelyard.Client
    names: dict[str, str]
