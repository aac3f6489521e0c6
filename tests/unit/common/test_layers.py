"""The layering every service keeps: domain code knows nothing of the wire. Importing every
``*.domain`` module (in an interpreter of its own) loads neither grpc nor the generated stubs;
only the api edge (the servicers and the interceptor) and the SDK's client classes do."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _domain_modules() -> list[str]:
    modules = []
    for path in sorted(ROOT.glob("services/*/modelyard_*/domain/*.py")):
        package = path.parent.parent.name
        modules.append(f"{package}.domain" if path.stem == "__init__" else f"{package}.domain.{path.stem}")
    return modules


def test_domain_modules_load_neither_grpc_nor_the_stubs() -> None:
    modules = _domain_modules()
    assert len(modules) > 20 and {m.split(".")[0] for m in modules} >= {
        "modelyard_metadata",
        "modelyard_registry",
        "modelyard_deploy",
    }
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'grpc' or m.startswith('modelyard.v1')))\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert ran.stdout.strip() == "[]"


def test_domain_modules_load_no_store_driver_metrics_library_or_ctypes() -> None:
    """Stores, metrics (modelyard_common.metrics: domains report to an observer port) and native
    code (the registry's resumable SHA-256) are infrastructure, reached through ports."""
    infrastructure = ("asyncpg", "redis", "boto3", "botocore", "prometheus_client", "ctypes")
    probe = (
        "import importlib, sys\n"
        f"for name in {_domain_modules()!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {infrastructure!r}))\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert ran.stdout.strip() == "[]"


def test_domain_modules_import_no_client_package_module_directly() -> None:
    """What a domain shares with the SDK (errors, enums, path rules) comes through
    ``modelyard_common``: the client package stays a dependency of the edges only."""
    direct = []
    for path in sorted(ROOT.glob("services/*/modelyard_*/domain/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            direct += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in {"modelyard", "grpc"}]
    assert direct == []
