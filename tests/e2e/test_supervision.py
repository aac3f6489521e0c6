"""`make run` (modelyard-dev) supervises what it starts: a process that dies comes back on its own
address while the rest keeps running, and Ctrl-C still stops everything, even mid-restart.

A platform of its own, so killing its services disturbs no other test; to keep it quick it uses the
session's Postgres and SeaweedFS as external stores, and starts only Redis (a store it restarts)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelyard_common.embedded import EmbeddedPostgres, EmbeddedSeaweedFS

BIN = Path(sys.executable).parent
SERVICES = ("metadata", "registry", "deploy")
TIMEOUT = 60.0


class Devstack:
    """modelyard-dev as our child; its output is read on a thread, so tests can wait for a line."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.data = data
        self.env = env
        self.process = subprocess.Popen(
            [str(BIN / "modelyard-dev"), "--data", str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, after: int = 0, timeout: float = TIMEOUT) -> re.Match[str]:
        """The first line from index ``after`` on that matches ``pattern``, waiting for it to be printed."""
        deadline = time.monotonic() + timeout
        while True:
            ended = not self._reader.is_alive()  # read before looking, so no last line is missed
            for line in self.lines[after:]:
                if found := re.search(pattern, line):
                    return found
            if ended or time.monotonic() > deadline:
                raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.lines))
            time.sleep(0.1)

    def pid(self, label: str) -> int:
        """The pid modelyard-dev last said ``label`` runs as (started, or restarted)."""
        pids = [int(m[1]) for line in self.lines if (m := re.search(rf"started {label} \(pid (\d+)\)", line))]
        assert pids, f"modelyard-dev never said {label}'s pid:\n" + "\n".join(self.lines)
        return pids[-1]

    def stop(self) -> int:
        """Ctrl-C, then its exit code (killed after a minute: a hang fails the test that asked)."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, postgres: EmbeddedPostgres, seaweedfs: EmbeddedSeaweedFS
) -> Iterator[Devstack]:
    env = {
        **os.environ,
        "MODELYARD_POSTGRES_DSN": postgres.create_database(f"supervision_{os.getpid()}_{time.time_ns()}"),
        "MODELYARD_S3_ENDPOINT": seaweedfs.endpoint,
        "MODELYARD_S3_ACCESS_KEY": seaweedfs.access_key,
        "MODELYARD_S3_SECRET_KEY": seaweedfs.secret_key,
    }
    env.pop("MODELYARD_REDIS_URL", None)
    platform = Devstack(tmp_path_factory.mktemp("supervised"), env)
    try:
        platform.wait_for("Press Ctrl-C to stop everything", timeout=120)
        yield platform
    finally:
        if platform.process.poll() is None:
            platform.stop()


def _serving(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _until(condition: object, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"not within {TIMEOUT:.0f} s: {what}"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _processes_naming(path: Path) -> list[int]:
    """Pids of the processes whose command line or environment names ``path``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if any(str(path).encode() in (proc / part).read_bytes() for part in ("cmdline", "environ")):
                    found.append(int(proc.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
    return found


def test_a_killed_service_comes_back_on_its_address_and_alone(platform: Devstack) -> None:
    pids = {name: platform.pid(f"the {name} service") for name in SERVICES}
    target = platform.wait_for(r"metadata service\s+(127\.0\.0\.1:\d+)")[1]
    seen = len(platform.lines)

    os.kill(pids["metadata"], signal.SIGKILL)

    said = platform.wait_for(rf"the metadata service \(pid {pids['metadata']}\) .*", after=seen)[0]
    assert re.fullmatch(
        rf"the metadata service \(pid {pids['metadata']}\) was killed by SIGKILL; its log ends: \S.*; "
        r"restarting it in 1 s \(failure 1 in a row\)",
        said,
    ), said
    _until(lambda: _serving(target), f"the metadata service answers health on {target} again")
    back = int(platform.wait_for(r"restarted the metadata service \(pid (\d+)\)", after=seen)[1])
    assert back != pids["metadata"] and _alive(back)
    token = (platform.data / "admin-token").read_text().strip()
    whoami = subprocess.run(
        [str(BIN / "modelyard"), "--target", target, "--token", token, "auth", "whoami"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert whoami.returncode == 0, whoami.stderr  # the printed address is still the service's
    assert [_alive(pids[name]) for name in ("registry", "deploy")] == [True, True]
    others = [line for line in platform.lines[seen:] if re.search(r"(registry|deploy) service|Redis", line)]
    assert others == []


def test_a_killed_store_comes_back_on_its_port(platform: Devstack) -> None:
    pid, services = platform.pid("Redis"), {name: platform.pid(f"the {name} service") for name in SERVICES}
    url = platform.wait_for(r"Redis\s+(redis://127\.0\.0\.1:\d+/0)")[1]
    seen = len(platform.lines)

    os.kill(pid, signal.SIGKILL)

    platform.wait_for(rf"Redis \(pid {pid}\) was killed by SIGKILL; .*restarting it in 1 s", after=seen)

    def pong() -> bool:
        try:
            with redis.Redis.from_url(url, socket_timeout=1) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    _until(pong, f"Redis answers on {url} again")
    back = int(platform.wait_for(r"restarted Redis \(pid (\d+)\)", after=seen)[1])
    assert back != pid and _alive(back)
    assert {name: platform.pid(f"the {name} service") for name in SERVICES} == services
    assert all(_alive(pid) for pid in services.values())


def test_a_service_that_fails_to_restart_is_retried_later_on_the_same_port(platform: Devstack) -> None:
    registry = platform.pid("the registry service")
    target = platform.wait_for(r"registry service\s+(127\.0\.0\.1:\d+)")[1]
    host, port = target.split(":")
    seen = len(platform.lines)
    os.kill(registry, signal.SIGKILL)

    with socket.socket() as squatter:  # holds the registry's port, so its first restart fails

        def squat() -> bool:
            try:
                squatter.bind((host, int(port)))
            except OSError:
                return False
            return True

        _until(squat, f"the killed registry service's port {port} is free")
        squatter.listen()
        said = platform.wait_for(r"the registry service failed to restart: .*", after=seen)[0]
    assert re.fullmatch(
        r"the registry service failed to restart: registry exited with code \d+ while starting; "
        r"its log ends: \S.*; restarting it in 2 s \(failure 2 in a row\)",
        said,
    ), said
    _until(lambda: _serving(target), f"the registry service answers health on {target} again")
    platform.wait_for(r"restarted the registry service \(pid \d+\)", after=seen)


def test_a_second_platform_on_the_same_data_folder_says_which_one_runs_there_and_exits(platform: Devstack) -> None:
    target = platform.wait_for(r"metadata service\s+(127\.0\.0\.1:\d+)")[1]

    second = Devstack(platform.data, platform.env)
    try:
        code: int | None = second.process.wait(30)
    except subprocess.TimeoutExpired:  # it went on starting a platform on the same folder
        second.stop()
        code = None
    second._reader.join(TIMEOUT)  # every line it printed has been read

    assert (code, second.lines) == (
        1,
        [
            f"modelyard-dev: another platform already runs from {platform.data.resolve()} "
            f"(pid {platform.process.pid}); "
            "stop it first (Ctrl-C where it runs) or give this one another folder with --data"
        ],
    )
    assert platform.process.poll() is None and _serving(target)


def test_ctrl_c_during_a_restart_stops_everything_and_leaves_nothing_running(platform: Devstack) -> None:
    deploy = platform.pid("the deploy service")
    target = platform.wait_for(r"deploy service\s+(127\.0\.0\.1:\d+)")[1]
    seen = len(platform.lines)
    os.kill(deploy, signal.SIGKILL)
    platform.wait_for(r"^modelyard-dev: restarting the deploy service \.\.\.$", after=seen)

    assert platform.stop() == 0

    rest = platform.lines[platform.lines.index("modelyard-dev: stopping ...") :]
    stopped = [
        line.removeprefix("modelyard-dev: stopped ") for line in rest if line.startswith("modelyard-dev: stopped ")
    ]
    services = [f"the {name} service" for name in reversed(SERVICES)]
    assert [what for what in stopped if what in services] == services
    # The services first, then the stores (Prometheus, when installed, goes before either).
    assert stopped.index(services[-1]) < stopped.index("Redis")
    assert not [line for line in rest if "restart" in line]
    assert _processes_naming(platform.data) == []
    host, port = target.split(":")
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
        pass
