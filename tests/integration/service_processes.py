"""What the tests of a service run as several processes on one port look at: its copies, and
which process served calls, as each counts them on its own metrics page."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
from replica_processes import until

from modelyard_common.embedded.service import ServiceProcess

__all__ = ["children", "copy_ports", "served_by_every_process"]


def children(pid: int) -> list[int]:
    """The pids of the processes ``pid`` started (its copies)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def copy_ports(service: ServiceProcess, index: int) -> dict[str, int]:
    """The ports copy ``index`` wrote to its ready file, beside the first process's."""
    ready = service.ready_file
    return dict(json.loads(ready.with_name(f"{ready.stem}.{index}{ready.suffix}").read_text()))


def _calls_counted(metrics_port: int, method: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    pattern = rf'^modelyard_rpc_requests_total{{[^}}]*method="{method}"[^}}]*}} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.M))


def served_by_every_process(
    service: ServiceProcess, processes: int, method: str, call: Callable[[grpc.Channel], object]
) -> tuple[float, ...]:
    """Makes ``call`` (an RPC to ``method``) on a fresh channel, a fresh connection the kernel
    hands to any process, until every process has counted some: their counts."""
    first = json.loads(service.ready_file.read_text())
    ports = [first["metrics_port"], *(copy_ports(service, i)["metrics_port"] for i in range(1, processes))]
    assert len(set(ports)) == processes, f"metrics ports shared: {ports}"

    def counts() -> tuple[float, ...] | None:
        with grpc.insecure_channel(service.target) as channel:
            call(channel)
        found = tuple(_calls_counted(port, method) for port in ports)
        return found if all(found) else None

    return until(counts, f"{method} counted by each of {processes} processes", timeout=60)
