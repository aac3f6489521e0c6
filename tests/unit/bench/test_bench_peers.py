"""The side-by-side benchmark's own logic, without MLflow or any server: which system is faster
and by how much, which cases count as busy, and what --write-docs writes or refuses to write."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# bench/ is a folder of scripts, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from bench._machine import Load
from bench.peers._docs import BEGIN, END, BusyRunError, generated, refuse_busy, replace_generated
from bench.peers._figures import Case, Figure, Kind, cpu_rows, faster, markdown, rows


def figure(case: Case, system: str, other_pct: float = 1.0, **fields: Any) -> Figure:
    return Figure(case, system, Load(ours_pct=50.0, other_pct=other_pct), **fields)


def test_faster_compares_p50_for_one_thread_and_throughput_for_several() -> None:
    one = Case("get by alias, 1 thread", Kind.LATENCY)
    slow, quick = [10.0] * 9 + [90.0], [2.0] * 10
    assert faster(figure(one, "MLflow", latencies_ms=slow), figure(one, "Modelyard", latencies_ms=quick)) == (
        "Modelyard 5.0x"
    )
    several = Case("get by alias, 8 threads", Kind.CONCURRENT)
    mlflow = figure(several, "MLflow", latencies_ms=[1.0], completed=300, seconds=2.0)
    modelyard = figure(several, "Modelyard", latencies_ms=[1.0], completed=100, seconds=2.0)
    assert faster(mlflow, modelyard) == "MLflow 3.0x"


def test_faster_compares_mib_per_second_and_median_seconds() -> None:
    upload = Case("upload 256 MiB", Kind.TRANSFER)
    mlflow = figure(upload, "MLflow", samples_s=[2.0, 4.0, 100.0], mib=256)
    modelyard = figure(upload, "Modelyard", samples_s=[2.0, 2.0, 2.0], mib=256)
    assert (mlflow.value, modelyard.value, faster(mlflow, modelyard)) == (64.0, 128.0, "Modelyard 2.0x")
    serve = Case("register, upload, serve, first prediction", Kind.SECONDS)
    assert faster(figure(serve, "MLflow", samples_s=[3.0]), figure(serve, "Modelyard", samples_s=[6.0])) == (
        "MLflow 2.0x"
    )


def test_a_case_is_busy_when_either_system_ran_under_other_load() -> None:
    quiet, loaded = (
        Case("search, filter, 1,000 versions", Kind.LATENCY),
        Case("create version, sequential", Kind.LATENCY),
    )
    found = rows(
        [
            figure(quiet, "MLflow", 3.0, latencies_ms=[5.0]),
            figure(quiet, "Modelyard", 10.0, latencies_ms=[1.0]),
            figure(loaded, "Modelyard", 2.0, latencies_ms=[1.0]),
            figure(loaded, "MLflow", 10.5, latencies_ms=[5.0]),
        ],
        threshold=10.0,
    )
    assert [(r.case, r.busy, r.load) for r in found] == [
        ("search, filter, 1,000 versions", False, "3 / 10"),
        ("create version, sequential", True, "10 / 2"),
    ]
    table = markdown(found)
    assert "| search, filter, 1,000 versions |" in table
    assert "| create version, sequential (busy) |" in table


def test_busy_figures_are_refused_unless_allowed_and_then_marked() -> None:
    case = Case("get by alias, 1 thread", Kind.LATENCY)
    found = rows([figure(case, "MLflow", 40.0, latencies_ms=[9.0]), figure(case, "Modelyard", 1.0, latencies_ms=[1.0])])
    with pytest.raises(BusyRunError, match=r"during 1 of 1 cases \(get by alias, 1 thread\).*--allow-busy"):
        refuse_busy(found, 10.0, allow_busy=False)
    refuse_busy(found, 10.0, allow_busy=True)
    info = {
        "cpu": "AMD EPYC",
        "cores": 2,
        "memory_gib": 23.5,
        "kernel": "6.18",
        "python": "3.11.7",
        "mlflow": "3.17.2",
        "mlflow_workers": 4,
        "commit": "abc1234",
        "grpcio": "1.85.1",
        "scikit-learn": "1.9.1",
        "date": "2026-12-05 10:00 UTC",
        "command": ".venv/bin/python bench/peers/bench_peers.py",
        "background_load_pct": 12.0,
        "seeding_s": [[1000, {"MLflow": 61.2, "Modelyard": 3.4}]],
        "run_minutes": 7.5,
    }
    text = generated(info, found, [], 10.0)
    assert "**Taken on a busy machine**: during 1 of 1 cases" in text
    assert "1,000 versions: MLflow 61 s, Modelyard 3 s" in text
    assert "| get by alias, 1 thread (busy) |" in text


def test_write_docs_replaces_only_what_lies_between_the_markers() -> None:
    document = f"# Benchmarks\n\n### Command\n\nkept\n\n{BEGIN}\n\nold figures\n{END}\n\n### Reading\n\nkept too\n"
    written = replace_generated(document, "new figures\n")
    assert (
        written
        == f"# Benchmarks\n\n### Command\n\nkept\n\n{BEGIN}\n\nnew figures\n\n{END}\n\n### Reading\n\nkept too\n"
    )
    assert replace_generated(written, "new figures\n") == written
    with pytest.raises(ValueError, match="markers are missing"):
        replace_generated("# Benchmarks\n", "new figures\n")


def test_cpu_per_call_splits_server_client_and_stores_over_every_call_made() -> None:
    case = Case("get by alias, 1 thread", Kind.LATENCY)
    mlflow_cpu = {"MLflow server": 2.0, "MLflow client": 1.0, "stores": 0.5, "Modelyard server": 0.01}
    modelyard_cpu = {"Modelyard server": 0.5, "Modelyard client": 0.25, "stores": 0.25, "MLflow server": 0.02}
    mlflow = Figure(case, "MLflow", Load(cpu_s=mlflow_cpu), latencies_ms=[5.0], made=500)
    modelyard = Figure(case, "Modelyard", Load(cpu_s=modelyard_cpu), latencies_ms=[1.0], made=1000)
    assert modelyard.cpu_ms_per_call() == {"server": 0.5, "client": 0.25, "stores": 0.25}
    assert cpu_rows([mlflow, modelyard]) == [[case.name, "4.00 + 2.00 + 1.00", "0.50 + 0.25 + 0.25", "Modelyard 7.0x"]]
