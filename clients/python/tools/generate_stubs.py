"""Generate the modelyard.v1 Python stubs from protos/ (run by `make protos`).

The output is committed so that installing the client needs no protoc; `make protos-check`
regenerates into a temporary folder and fails when it differs from what is committed.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[3]
PROTOS = ROOT / "protos"
OUTPUT = ROOT / "clients" / "python" / "src"
PACKAGE = Path("modelyard") / "v1"
HEADER = '"""Generated from protos/modelyard/v1 by `make protos`. Do not edit."""\n'


def generate(out: Path) -> None:
    # protoc finds the mypy plugins (protoc-gen-mypy) next to this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / PACKAGE).glob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    (out / PACKAGE / "__init__.py").write_text(HEADER)


def generated_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / PACKAGE).iterdir() if p.is_file()}


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        expected, actual = generated_files(fresh), generated_files(OUTPUT)
        drift = sorted(expected ^ actual)
        drift += sorted(f for f in expected & actual if not filecmp.cmp(fresh / f, OUTPUT / f, shallow=False))
    if drift:
        print("generated stubs drifted from protos/ (run `make protos`):", *drift, sep="\n  ")
        return 1
    print("generated stubs match protos/")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs drift")
    if parser.parse_args().check:
        return check()
    target = OUTPUT / PACKAGE
    for old in target.glob("*_pb2*"):
        old.unlink()
    generate(OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
