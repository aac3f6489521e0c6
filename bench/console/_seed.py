"""The console benchmark's data: the metadata benchmark's versions (COPY, bench.metadata._seed),
a catalog project of ``models`` models with a few versions each (some aliased champion), and
one version with a full page made through the services as a user would: metrics with history,
a feature importance, lineage parents, an artifact, stage changes, an alias and a consumer."""

from __future__ import annotations

import time
from typing import Any

import asyncpg

import modelyard.aio
from bench.metadata._seed import PROJECTS, seed
from modelyard import (
    Artifact,
    ArtifactFile,
    Consumption,
    ConsumptionKind,
    ProjectRole,
    Signature,
    Stage,
    TensorSpec,
)
from modelyard.internal import InternalCalls

__all__ = ["CATALOG", "FEATURED", "FEATURED_MODEL", "SCALARS", "seed_console"]

CATALOG = "catalog"
READER = "analyst"
"""The console's user: a viewer of every project, not a platform admin."""
PER_MODEL = 3
"""Versions of each catalog model."""
CHAMPION_EVERY = 4
"""One catalog model in this many has a champion alias."""
FEATURED_MODEL, PARENTS_MODEL = f"{CATALOG}/churn", f"{CATALOG}/churn-features"
FEATURED = f"{FEATURED_MODEL}:3"
SCALARS = ("accuracy", "auc", "f1", "loss")
HISTORY = 20
"""Points logged for each scalar metric of the featured version (one per step)."""
FEATURES = 30
"""Features of its importance chart."""
MADE = 5
"""Versions made through the services: the featured model's 3 and its parents' 2."""


async def seed_console(
    dsn: str, versions: int, models: int, admin: modelyard.aio.AsyncClient, registry: modelyard.aio.AsyncClient
) -> tuple[dict[str, Any], str]:
    """Seeds about ``versions`` versions in all, ``models`` models of them in CATALOG and as many
    in the PROJECTS; returns what was seeded and the reader's token. ``admin`` acts as the
    platform admin, ``registry`` as the registry service (it commits artifacts, reports pulls)."""
    started = time.perf_counter()
    # The featured model and its parents' model are two of the catalog's models.
    catalog = await seed(dsn, (models - 2) * PER_MODEL, models - 2, projects=(CATALOG,))
    others = await seed(dsn, versions - catalog["versions"] - MADE, models, projects=PROJECTS)
    champions = await _champions(dsn)
    token = await _reader(admin)
    await _featured(admin, registry, token)
    return {
        "versions": catalog["versions"] + others["versions"] + MADE,
        "catalog_models": models,
        "catalog_versions": catalog["versions"] + MADE,
        "champions": champions + 1,
        "other_models": models,
        "copy_s": round(catalog["total_s"] + others["total_s"], 1),
        "total_s": round(time.perf_counter() - started, 1),
    }, token


async def _champions(dsn: str) -> int:
    """Points champion at the newest version that did not fail, in one catalog model in
    CHAMPION_EVERY (straight into the table, as the versions went in)."""
    conn = await asyncpg.connect(dsn)
    try:
        status = await conn.execute(
            """
            INSERT INTO aliases (model_id, alias, version_id)
            SELECT DISTINCT ON (v.model_id) v.model_id, 'champion', v.id
            FROM model_versions v
            WHERE v.project = $1 AND v.status <> 'FAILED' AND v.model_id % $2 = 0
            ORDER BY v.model_id, v.version DESC
            """,
            CATALOG,
            CHAMPION_EVERY,
        )
        await conn.execute("VACUUM (ANALYZE) aliases")
        return int(status.split()[-1])
    finally:
        await conn.close()


async def _reader(admin: modelyard.aio.AsyncClient) -> str:
    """READER, a viewer of every project, and a token of theirs."""
    await admin.create_principal(READER)
    for project in (*PROJECTS, CATALOG):
        await admin.set_project_role(project, READER, ProjectRole.VIEWER)
    return (await admin.create_token(READER, description="console benchmark")).secret


async def _featured(admin: modelyard.aio.AsyncClient, registry: modelyard.aio.AsyncClient, reader: str) -> None:
    """FEATURED: version 3 of FEATURED_MODEL, produced by both versions of PARENTS_MODEL, with
    HISTORY points of each SCALARS metric and a FEATURES-bar importance, committed, in
    production, champion, and downloaded by READER."""
    internal = InternalCalls(registry)
    me = (await admin.whoami()).principal.name

    async def committed(model: str, **fields: Any) -> str:
        version = await admin.create_version(model, **fields)
        files = (ArtifactFile("model.skops", 48_213_377, "ab" * 32, f"{version.reference}/model.skops"),)
        await internal.commit_artifact(version.reference, Artifact(files, 48_213_377), on_behalf_of=me)
        return version.reference

    await admin.create_model(PARENTS_MODEL, team="risk", description="features of the churn model")
    await admin.create_model(FEATURED_MODEL, team="risk", description="who leaves next month")
    parents = [await committed(PARENTS_MODEL, framework="pandas") for _ in range(2)]
    for _ in range(2):
        await committed(FEATURED_MODEL, framework="sklearn")
    reference = await committed(
        FEATURED_MODEL,
        framework="sklearn",
        payload_format="skops",
        description="gradient boosting on 2026-q1, 30 features",
        signature=Signature((TensorSpec("features", "FP32", (-1, FEATURES)),), (TensorSpec("churn", "FP32", (-1, 1)),)),
        hyperparameters={"learning_rate": 0.05, "max_depth": 6, "n_estimators": 300, "subsample": 0.8},
        dependencies=["scikit-learn==1.5.2", "numpy==2.1.0"],
        produced_by=parents,
        tags={"team": "risk", "dataset": "2026-q1"},
    )
    assert reference == FEATURED, reference
    for step in range(HISTORY):
        progress = step / (HISTORY - 1)
        values = {name: round(0.6 + 0.3 * progress + i / 100, 4) for i, name in enumerate(SCALARS[:-1])}
        await admin.log_metrics(FEATURED, {**values, "loss": round(0.9 - 0.6 * progress, 4)}, step=step)
    importance = {f"feature_{i:02d}": round(1 / (i + 2), 4) for i in range(FEATURES)}
    await admin.log_metrics(FEATURED, {"feature_importance": importance}, step=HISTORY - 1)
    for stage in (Stage.VALIDATION, Stage.PRODUCTION):
        await admin.transition_stage(FEATURED, stage, reason="benchmark")
    await admin.set_alias(FEATURED_MODEL, "champion", 3)
    download = Consumption(ConsumptionKind.DOWNLOAD, FEATURED)
    await internal.authorize(reader, CATALOG, ProjectRole.VIEWER, "pull", FEATURED, False, download)
