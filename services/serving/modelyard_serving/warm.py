"""A warm interpreter: ``python -m modelyard_serving --warm`` starts before it has a model, so
that the server a launcher needs next skips what a new Python spends before it can load one:
starting, and importing grpc, numpy, the server and the model runtimes (~2 s for scikit-learn
and skops on 2 cores, most of a scikit-learn replica's start).

It imports them, says so (``WAITING``, on its output), then waits for one ``launch.Assignment``
on stdin. Its environment then becomes
exactly the assignment's (nothing of the one it started with stays for model code to read) and
its output goes to the assignment's log file: from there on it is the server a fresh start would
have been. If stdin closes first (the launcher stopped or died), it exits, having served nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time

from modelyard_serving.launch import WAITING, Assignment

__all__ = ["RUNTIMES", "take_assignment"]

RUNTIMES = ("skops.io", "onnxruntime")
"""What ``modelyard.predictors`` imports to load skops and ONNX files (skops.io imports
scikit-learn's estimators); pickle and joblib files are never served by a launcher."""


def take_assignment() -> bool:
    """Imports the model runtimes that are installed, waits for the assignment and applies it;
    False when stdin closed without one."""
    started = time.perf_counter()
    for module in RUNTIMES:
        with contextlib.suppress(ImportError):  # not installed: models of that kind cannot load anyway
            importlib.import_module(module)
    imported = ", ".join(m for m in RUNTIMES if m in sys.modules)
    print(f"imported {imported or 'no model runtime'} in {time.perf_counter() - started:.2f} s; {WAITING}", flush=True)
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return False
    assignment = Assignment.decode(line)
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(assignment.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    os.dup2(log, sys.stdout.fileno())
    os.dup2(log, sys.stderr.fileno())
    os.close(log)
    os.environ.clear()
    os.environ.update(assignment.environment)
    return True
