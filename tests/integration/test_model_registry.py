"""The forecast model registry on the real MongoDB-wire server: old versions are pruned,
the champion and the other names stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from tests.integration.forecast_support import fdb
from vpp.ml.forecast.documents import ModelMetrics
from vpp.ml.forecast.models import make_forecaster
from vpp.ml.forecast.registry import ModelNotFound, ModelRegistry, targets_without_champion
from vpp.ml.forecast.settings import ForecastSettings, ModelKind, Target
from vpp.store.database import Database

__all__ = ["fdb"]

END = datetime(2026, 6, 1, tzinfo=UTC)
METRICS = ModelMetrics(
    mae=0.5,
    rmse=0.7,
    mase=1.0,
    coverage_80=0.8,
    naive_mae=0.5,
    origins=1,
    series=1,
    fit_s=0.0,
    predict_s=0.0,
)


async def _store(
    registry: ModelRegistry,
    target: Target,
    times: int,
    kind: ModelKind = ModelKind.SEASONAL_NAIVE,
) -> list[int]:
    """`times` new versions of a local model (nothing to fit) of `target`."""
    local = make_forecaster(kind, target, ForecastSettings())
    versions = []
    for _ in range(times):
        record = await registry.save(local, METRICS, END - timedelta(days=20), END, ["a"])
        versions.append(record.version)
    return versions


async def _versions(registry: ModelRegistry, target: Target, name: str) -> list[int]:
    return [r.version for r in await registry.list(target) if r.name == name]


async def _files(registry: ModelRegistry, name: str) -> list[int]:
    cursor = registry.bucket.find({"metadata.name": name})
    return sorted([f.metadata["version"] async for f in cursor])


async def test_pruning_keeps_the_newest_versions_and_the_champion(fdb: Database) -> None:
    registry = ModelRegistry(fdb)
    name = "load_kw-seasonal_naive"
    assert await _store(registry, Target.LOAD, 5) == [1, 2, 3, 4, 5]
    await _store(registry, Target.PV, 3)
    assert await targets_without_champion(fdb, list(Target)) == [Target.LOAD, Target.PV]
    champion = await registry.record(name, 2)
    assert champion is not None
    await registry.promote(champion)
    assert await targets_without_champion(fdb, list(Target)) == [Target.PV]

    assert await registry.prune(name, keep=2) == [1, 3]
    assert await _versions(registry, Target.LOAD, name) == [5, 4, 2]
    assert await _files(registry, name) == [2, 4, 5]
    with pytest.raises(ModelNotFound, match="v3"):
        await registry.load(name, 3)
    record, forecaster = await registry.load(name, 2)  # the champion still loads
    assert record.champion
    assert forecaster.kind is ModelKind.SEASONAL_NAIVE
    # Another name is not touched, and a second prune finds nothing to do.
    assert await _versions(registry, Target.PV, "pv_kw-seasonal_naive") == [3, 2, 1]
    assert await registry.prune(name, keep=2) == []
    # The next version counts on from the newest, never reusing a pruned number.
    assert await _store(registry, Target.LOAD, 1) == [6]


async def test_a_record_whose_file_is_gone_is_pruned_all_the_same(fdb: Database) -> None:
    """What a prune stopped between the file and the record leaves behind."""
    registry = ModelRegistry(fdb)
    name = "pv_kw-exp_smoothing"
    assert await _store(registry, Target.PV, 3, ModelKind.EXP_SMOOTHING) == [1, 2, 3]
    stale = await registry.record(name, 1)
    assert stale is not None
    await registry.bucket.delete(ObjectId(stale.file_id))
    assert await registry.prune(name, keep=2) == [1]
    assert await _files(registry, name) == [2, 3]


async def test_only_a_crowned_forecast_model_counts_as_a_champion(scratch_db: Database) -> None:
    models = scratch_db["models"]
    await models.insert_one({"kind": "policy", "target": "load_kw", "champion": True})
    await models.insert_one({"kind": "forecast", "target": "pv_kw", "champion": False})
    assert await targets_without_champion(scratch_db, list(Target)) == [Target.LOAD, Target.PV]
    await models.insert_one({"kind": "forecast", "target": "pv_kw", "champion": True})
    assert await targets_without_champion(scratch_db, list(Target)) == [Target.LOAD]
    assert await targets_without_champion(scratch_db, [Target.PV]) == []


async def test_pruning_to_no_version_is_refused(fdb: Database) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await ModelRegistry(fdb).prune("load_kw-lightgbm", keep=0)
