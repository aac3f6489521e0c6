"""What ``--write-docs`` puts into docs/benchmarks.md: the section's "Machine and run" and
"Figures", between two markers (the command and the reading around them are written by
people), and only from a quiet run unless told otherwise, marked then."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.peers._figures import Row, cpu_markdown, markdown

__all__ = ["BEGIN", "END", "BusyRunError", "generated", "refuse_busy", "replace_generated"]

BEGIN = "<!-- bench-peers: written by bench/peers/bench_peers.py --write-docs; do not edit by hand -->"
END = "<!-- bench-peers: end of what --write-docs writes -->"


class BusyRunError(Exception):
    """Figures taken while the machine was busy, to be written without --allow-busy."""


def refuse_busy(found: Sequence[Row], threshold: float, allow_busy: bool) -> None:
    """Raises BusyRunError, naming the cases, when some were busy and that is not allowed."""
    busy = [r.case for r in found if r.busy]
    if busy and not allow_busy:
        raise BusyRunError(
            f"not writing the docs: other load passed {threshold:g} % of the machine during "
            f"{len(busy)} of {len(found)} cases ({'; '.join(busy)}). Run again on a quiet machine, "
            "or pass --allow-busy to write them marked as taken under load."
        )


def generated(info: dict[str, Any], found: Sequence[Row], cpu: Sequence[Sequence[str]], threshold: float) -> str:
    """The "Machine and run" and "Figures" subsections of a run: the figures, then the CPU per
    call of the cases timed call by call (``cpu``, from cpu_rows)."""
    busy = sum(r.busy for r in found)
    seeding = "; ".join(
        f"{size:,} versions: MLflow {took['MLflow']:.0f} s, Modelyard {took['Modelyard']:.0f} s"
        for size, took in info["seeding_s"]
    )
    lines = [
        "### Machine and run",
        "",
        f"- {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, kernel {info['kernel']}, "
        f"Python {info['python']}",
        f"- MLflow {info['mlflow']} (`mlflow server`, {info['mlflow_workers']} workers, uvicorn); Modelyard at "
        f"commit `{info['commit']}` (metadata with its Redis cache, registry, deploy with the process runtime); "
        f"grpcio {info['grpcio']}, scikit-learn {info['scikit-learn']}",
        "- One Postgres (durable) and one SeaweedFS for both; MLflow has its own database and bucket prefix",
        f"- Date: {info['date']}; command: `{info['command']}`; it took {info['run_minutes']} min",
        f"- Other load before the run: {info['background_load_pct']} % of the machine; during each case: "
        "in the last column (MLflow's part / Modelyard's part)",
        f"- Seeding, not counted: {seeding}",
        "",
        "### Figures",
        "",
    ]
    if busy:
        lines += [
            f"**Taken on a busy machine**: during {busy} of {len(found)} cases other processes used more than "
            f'{threshold:g} % of the machine (marked "(busy)"). Read the ratios with care; a quiet re-run '
            "replaces these.",
            "",
        ]
    cpu_intro = (
        "\nCPU per call, ms: the system's server processes + its client (the driver) + the stores "
        "(Postgres, SeaweedFS, Redis), over every call of the case, warm-up included:\n\n"
    )
    return "\n".join(lines) + "\n" + markdown(found) + cpu_intro + cpu_markdown(cpu)


def replace_generated(document: str, text: str) -> str:
    """``document`` with what lies between BEGIN and END replaced by ``text``."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the markers are missing from the document: {BEGIN!r} ... {END!r}")
    return document[: start + len(BEGIN)] + "\n\n" + text + "\n" + document[end:]
