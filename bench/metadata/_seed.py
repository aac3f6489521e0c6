"""The data the metadata benchmark runs on: 100k versions COPY'd straight into the service's
tables, then the few rows made through the service itself (the model and alias gets read, the
models creates go to), and the create request every create sends."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from google.protobuf import struct_pb2

from modelyard.v1 import metadata_pb2, types_pb2

__all__ = [
    "ACTOR",
    "CREATE_WORKERS",
    "DEPENDENCIES",
    "PROJECTS",
    "SIGNATURE",
    "VERSION_PARAMS",
    "VERSION_TAGS",
    "prepare_through_service",
    "seed",
    "version_request",
]

ACTOR = (("modelyard-actor", "bench"),)
PROJECTS = ("vision", "nlp", "fraud", "ranking")
TEAMS = ("risk", "growth", "search", "ads", "platform")
DATASETS = ("2025-q3", "2025-q4", "2026-q1", "2026-q2")
FRAMEWORKS = (("sklearn", "skops"), ("onnx", "onnx"), ("pytorch", "pt"), ("xgboost", "json"))
STAGES = (("DEVELOPMENT", 40), ("VALIDATION", 25), ("PRODUCTION", 20), ("ARCHIVED", 15))
STATUSES = (("READY", 85), ("PENDING_UPLOAD", 10), ("FAILED", 5))
CREATE_WORKERS = 16
"""Models that receive creates, one per worker."""


def _weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


SIGNATURE = {
    "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 32]}],
    "outputs": [{"name": "score", "datatype": "FP32", "shape": [-1, 1]}],
}
DEPENDENCIES = [
    {"library": "numpy", "version": "2.1.0", "scope": "RUN"},
    {"library": "scikit-learn", "version": "1.5.2", "scope": "RUN"},
]
VERSION_PARAMS = {"learning_rate": 0.05, "max_depth": 6, "n_estimators": 300}
VERSION_TAGS = {"team": "risk", "dataset": "2026-q1"}


async def copy_rows(conn: asyncpg.Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """COPY dicts with the same keys into ``table``; jsonb values go as JSON text."""
    columns = list(rows[0])
    await conn.copy_records_to_table(table, records=[tuple(r.values()) for r in rows], columns=columns)


async def seed(
    dsn: str, versions: int, models: int, seed_value: int = 42, projects: Sequence[str] = PROJECTS
) -> dict[str, Any]:
    """Inserts projects, models and versions straight into the service's tables with COPY.

    Versions are spread evenly over ``models`` models in ``projects`` (new ones), with random
    stage, status, tags, hyperparameters and metrics; created_at grows by one second per version.
    Each model's latest_version is set, so versions created later through the service are
    numbered after them.
    """
    rng = random.Random(seed_value)
    per_model = max(1, versions // models)
    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        project_ids = {}
        for name in projects:
            project_ids[name] = await conn.fetchval(
                "INSERT INTO projects (name, description, owner) VALUES ($1, $2, 'bench') RETURNING id",
                name,
                f"{name} models",
            )
        await copy_rows(
            conn,
            "models",
            [
                {
                    "project_id": project_ids[projects[i % len(projects)]],
                    "project": projects[i % len(projects)],
                    "name": f"model-{i:04d}",
                    "owner": "bench",
                    "team": TEAMS[i % len(TEAMS)],
                    "kind": "STANDARD",
                    "tags": json.dumps({"team": TEAMS[i % len(TEAMS)]}),
                    "latest_version": per_model,
                    "created_at": now - timedelta(days=30),
                    "updated_at": now - timedelta(days=30),
                }
                for i in range(models)
            ],
        )
        model_ids = {
            (r["project"], r["name"]): r["id"]
            for r in await conn.fetch("SELECT id, project, name FROM models WHERE owner = 'bench'")
        }
        signature, dependencies = json.dumps(SIGNATURE), json.dumps(DEPENDENCIES)
        start = now - timedelta(seconds=versions)
        rows: list[dict[str, Any]] = []
        stages: Counter[str] = Counter()
        for number in range(1, per_model + 1):
            for i in range(models):
                project, name = projects[i % len(projects)], f"model-{i:04d}"
                stage, status = _weighted(rng, STAGES), _weighted(rng, STATUSES)
                stages[stage] += 1
                framework, payload = FRAMEWORKS[i % len(FRAMEWORKS)]
                moment = start + timedelta(seconds=len(rows))
                stamp = moment.isoformat()
                artifact: dict[str, Any] = {}
                if status == "READY":
                    size = rng.randrange(10_000, 50_000_000)
                    path = f"model.{payload}"
                    artifact = {
                        "files": [
                            {
                                "path": path,
                                "size": size,
                                "sha256": f"{len(rows):064x}",
                                "storage_key": f"{project}/{name}/{number}/{path}",
                                "content_type": "",
                            }
                        ],
                        "total_size": size,
                    }
                metrics = {
                    "accuracy": {"number": round(rng.uniform(0.3, 0.99), 4), "step": 0, "time": stamp},
                    "loss": {"number": round(rng.uniform(0.01, 1.5), 4), "step": 0, "time": stamp},
                }
                params = {"learning_rate": round(rng.uniform(0.001, 0.3), 4), "max_depth": rng.randrange(2, 12)}
                rows.append(
                    {
                        "model_id": model_ids[(project, name)],
                        "project": project,
                        "model": name,
                        "version": number,
                        "stage": stage,
                        "status": status,
                        "framework": framework,
                        "payload_format": payload,
                        "author": "bench",
                        "description": f"{name} version {number}",
                        "signature": signature,
                        "params": json.dumps(params),
                        "dependencies": dependencies,
                        "tags": json.dumps({"team": TEAMS[i % len(TEAMS)], "dataset": rng.choice(DATASETS)}),
                        "metrics": json.dumps(metrics),
                        "artifact": json.dumps(artifact),
                        "created_at": moment,
                        "updated_at": moment,
                    }
                )
        generated = time.perf_counter() - t0
        await copy_rows(conn, "model_versions", rows)
        copied = time.perf_counter() - t0
        # VACUUM sets hint bits and the visibility map, so the first measured reads do not write;
        # CHECKPOINT keeps the seed's WAL from being flushed in the middle of a measured case.
        for table in ("projects", "models", "model_versions", "version_metrics"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        await conn.execute("CHECKPOINT")
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM model_versions")]
        return {
            "versions": len(rows),
            "models": models,
            "projects": len(projects),
            "stages": dict(stages),
            "generate_s": round(generated, 2),
            "copy_s": round(copied - generated, 2),
            "total_s": round(time.perf_counter() - t0, 2),
            "ids": ids,
        }
    finally:
        await conn.close()


# --- setup through the service ----------------------------------------------------------------


def _tensor_spec(spec: dict[str, Any]) -> types_pb2.TensorSpec:
    return types_pb2.TensorSpec(name=spec["name"], datatype=spec["datatype"], shape=spec["shape"])


def version_request(model: str) -> metadata_pb2.CreateModelVersionRequest:
    params = struct_pb2.Struct()
    params.update(VERSION_PARAMS)
    return metadata_pb2.CreateModelVersionRequest(
        model=model,
        framework="sklearn",
        payload_format="skops",
        description="benchmark version",
        signature=types_pb2.Signature(
            inputs=[_tensor_spec(t) for t in SIGNATURE["inputs"]],
            outputs=[_tensor_spec(t) for t in SIGNATURE["outputs"]],
        ),
        hyperparameters=params,
        dependencies=[
            types_pb2.Dependency(library=d["library"], version=d["version"], scope=types_pb2.DEPENDENCY_SCOPE_RUN)
            for d in DEPENDENCIES
        ],
        tags=VERSION_TAGS,
    )


async def prepare_through_service(stub: Any) -> None:
    """Through ``stub`` (a grpc.aio MetadataServiceStub): proj/model with versions 1 and 2 (READY,
    alias champion -> 2) and the models creates go to."""
    await stub.CreateProject(metadata_pb2.CreateProjectRequest(name="proj", owner="bench"), metadata=ACTOR)
    await stub.CreateProject(metadata_pb2.CreateProjectRequest(name="bench", owner="bench"), metadata=ACTOR)
    await stub.CreateModel(
        metadata_pb2.CreateModelRequest(model=types_pb2.Model(project="proj", name="model", team="risk")),
        metadata=ACTOR,
    )
    for number in (1, 2):
        await stub.CreateModelVersion(version_request("proj/model"), metadata=ACTOR)
        await stub.CommitArtifact(
            metadata_pb2.CommitArtifactRequest(
                reference=f"proj/model:{number}",
                artifact=types_pb2.Artifact(
                    files=[types_pb2.ArtifactFile(path="model.skops", size=1234, sha256="ab" * 32, storage_key="k")]
                ),
            ),
            metadata=ACTOR,
        )
    await stub.SetAlias(metadata_pb2.SetAliasRequest(model="proj/model", alias="champion", version=2), metadata=ACTOR)
    for name in [f"create-{w:02d}" for w in range(CREATE_WORKERS)] + ["create-hot"]:
        await stub.CreateModel(
            metadata_pb2.CreateModelRequest(model=types_pb2.Model(project="bench", name=name)), metadata=ACTOR
        )
