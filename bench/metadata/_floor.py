"""A grpc.aio server with only the health service and no interceptor, in a process of its own:
the floor any RPC costs in Python gRPC before a handler does anything."""

from __future__ import annotations

import subprocess
import sys

__all__ = ["BareGrpcServer"]

_BARE_SERVER = """
import asyncio, grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

async def main():
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    print(port, flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


class BareGrpcServer:
    """A grpc.aio server with only the health service and no interceptor: the floor of any RPC."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.target = ""

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> BareGrpcServer:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _BARE_SERVER], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.__exit__()
            raise RuntimeError("the bare grpc server did not start")
        self.target = f"127.0.0.1:{int(line)}"
        return self

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
