"""What every benchmark's load accounting and threaded timing rest on: the CPU of a benchmark's
whole process tree (children and grandchildren, running or exited), and calls timed from threads
within a window."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# bench/ is a folder of scripts, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from bench._cpu import CpuMeter, tree_cpu_seconds
from bench._load import timed_threads
from bench._machine import BUSY_PCT, LoadMeter, other_load_cell

BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"


def test_tree_cpu_counts_an_exited_grandchild() -> None:
    before = tree_cpu_seconds([os.getpid()])[os.getpid()]
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BURN!r}], check=True)"
    subprocess.run([sys.executable, "-c", child], check=True)
    spent = tree_cpu_seconds([os.getpid()])[os.getpid()] - before
    assert spent >= 0.4


def test_load_meter_counts_the_benchmarks_children_as_its_own_and_reports_each_party() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        with LoadMeter({"idle": [idle.pid]}).window() as load:
            subprocess.run([sys.executable, "-c", BURN], check=True)
    finally:
        idle.communicate(b"")
    assert load.ours_pct > 0
    assert 0 <= load.other_pct <= 100
    assert set(load.cpu_s) == {"idle"}
    assert load.cpu_s["idle"] < 0.4


def test_cpu_meter_counts_a_child_no_party_names_as_the_benchmark_s_own() -> None:
    with CpuMeter({}).window() as window:
        subprocess.run([sys.executable, "-c", BURN], check=True)
    assert window.seconds == {}
    assert window.ours_pct > 0  # the child's 0.4 s, which would otherwise count as other load


def test_other_load_cell_marks_a_busy_case() -> None:
    assert other_load_cell(BUSY_PCT + 2) == f"{BUSY_PCT + 2:.0f} (busy)"
    assert other_load_cell(3.4) == "3"
    assert other_load_cell(30, threshold=50) == "30"


def test_timed_threads_times_each_call_and_counts_those_ended_in_the_window() -> None:
    calls = [0, 0, 0]
    lock = threading.Lock()

    def call(index: int) -> None:
        with lock:
            calls[index] += 1

    timed = timed_threads([lambda i=i: call(i) for i in range(3)], seconds=0.2, warmup=0.05)
    assert timed.completed > 0
    assert timed.completed <= len(timed.latencies_ms) <= timed.completed + 3
    assert all(latency >= 0 for latency in timed.latencies_ms)
    assert sum(calls) == timed.made > len(timed.latencies_ms)  # the warm-up's calls are made, not timed


def test_timed_threads_raises_what_a_call_raised() -> None:
    def fails() -> None:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError, match="refused"):
        timed_threads([fails], seconds=0.1)
