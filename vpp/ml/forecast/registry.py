"""The model registry: trained forecasters in GridFS, their records in `models`.

A record (`ForecastModelRecord`) holds the metrics, the data range and the versions;
the file is the forecaster's folder (its description and the darts model, see
`Forecaster.save`) as a gzipped tar in the GridFS bucket `model_files`. Models are loaded
by name and version (the newest when no version is given). One record per target is
the `champion`, the model the forecast cycle uses. Training stores a new version of every
candidate each day; `prune` keeps the newest few of each name (and the champion).
`store_version` and `read_file` are the versioned GridFS storage every kind of record in
`models` shares (policies too, see `vpp.ml.rl.registry`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import tarfile
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TypeVar

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.errors import DuplicateKeyError

from vpp.ml.forecast.documents import (
    MODEL_FILES_BUCKET,
    MODELS,
    ForecastModelRecord,
    ModelMetrics,
)
from vpp.ml.forecast.models import Forecaster, load_forecaster
from vpp.ml.forecast.settings import Target

_VERSION_RETRIES = 5
R = TypeVar("R")


class ModelNotFound(LookupError):
    pass


def model_name(target: Target, kind: str) -> str:
    return f"{target.value}-{kind}"


def pack(forecaster: Forecaster) -> bytes:
    """The forecaster's folder as a gzipped tar."""
    with tempfile.TemporaryDirectory(prefix="vpp-model-") as tmp:
        folder = Path(tmp)
        forecaster.save(folder)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(folder.iterdir()):
                tar.add(path, arcname=path.name)
        return buffer.getvalue()


def unpack(data: bytes) -> Forecaster:
    with tempfile.TemporaryDirectory(prefix="vpp-model-") as tmp:
        folder = Path(tmp)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(folder, filter="data")
        return load_forecaster(folder)


async def store_version(
    db: Any,
    bucket: AsyncGridFSBucket,
    name: str,
    data: bytes,
    *,
    suffix: str,
    metadata: dict[str, Any],
    insert: Callable[[int, str], Awaitable[R]],
) -> R:
    """Upload `data` as the next version of `name` and `insert` its record (given the
    version and the GridFS id). Versions count up per name across every kind of record in
    `models`; the unique (name, version) index settles a race, the loser tries the next."""
    for _ in range(_VERSION_RETRIES):
        latest = await db[MODELS].find_one(
            {"name": name}, sort=[("version", -1)], projection={"version": 1}
        )
        version = 1 if latest is None else int(latest["version"]) + 1
        file_id = await bucket.upload_from_stream(
            f"{name}-v{version}.{suffix}",
            data,
            metadata={**metadata, "name": name, "version": version},
        )
        try:
            return await insert(version, str(file_id))
        except DuplicateKeyError:  # someone stored the same version first
            await bucket.delete(file_id)
    raise RuntimeError(f"could not find a free version for {name}")


async def read_file(bucket: AsyncGridFSBucket, file_id: str) -> bytes:
    stream = await bucket.open_download_stream(ObjectId(file_id))
    data: bytes = await stream.read()
    return data


class ModelRegistry:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.bucket = AsyncGridFSBucket(db, bucket_name=MODEL_FILES_BUCKET)

    async def save(
        self,
        forecaster: Forecaster,
        metrics: ModelMetrics,
        data_start: datetime,
        data_end: datetime,
        series_ids: list[str],
    ) -> ForecastModelRecord:
        """Store a new version of `target-kind` and return its record."""
        name = model_name(forecaster.target, forecaster.kind.value)
        data = await asyncio.to_thread(pack, forecaster)

        async def insert(version: int, file_id: str) -> ForecastModelRecord:
            record = ForecastModelRecord(
                name=name,
                version=version,
                target=forecaster.target,
                model_kind=forecaster.kind,
                metrics=metrics,
                data_start=data_start,
                data_end=data_end,
                series_ids=series_ids,
                file_id=file_id,
                size_bytes=len(data),
                darts_version=package_version("darts"),
                params=forecaster.params(),
            )
            await record.insert()
            return record

        return await store_version(
            self.db,
            self.bucket,
            name,
            data,
            suffix="tar.gz",
            metadata={"target": forecaster.target.value},
            insert=insert,
        )

    async def record(self, name: str, version: int | None = None) -> ForecastModelRecord | None:
        query: dict[str, Any] = {"name": name}
        if version is not None:
            query["version"] = version
        return await ForecastModelRecord.find(query).sort("-version").limit(1).first_or_none()

    async def load(
        self, name: str, version: int | None = None
    ) -> tuple[ForecastModelRecord, Forecaster]:
        record = await self.record(name, version)
        if record is None:
            which = f"{name} v{version}" if version is not None else name
            raise ModelNotFound(f"no model {which} in the registry")
        data = await read_file(self.bucket, record.file_id)
        forecaster = await asyncio.to_thread(unpack, data)
        return record, forecaster

    async def promote(self, record: ForecastModelRecord) -> None:
        """Make `record` the champion of its target (and no other record)."""
        # Crown first, then demote the others: a reader never finds no champion (it takes
        # the newest `promoted_at` while both are marked).
        record.champion = True
        record.promoted_at = datetime.now(UTC)
        await record.save()
        await ForecastModelRecord.find(
            {
                "kind": record.kind,
                "target": record.target.value,
                "champion": True,
                "_id": {"$ne": record.id},
            }
        ).update({"$set": {"champion": False}})

    async def prune(self, name: str, keep: int) -> list[int]:
        """Delete every version of `name` but the newest `keep` and the champion, records
        and files; return the versions deleted, oldest first."""
        if keep < 1:
            raise ValueError("keep at least one version")
        records = (
            await ForecastModelRecord.find({"kind": "forecast", "name": name})
            .sort("-version")
            .to_list()
        )
        deleted = []
        for record in reversed(records[keep:]):
            if record.champion:
                continue
            # The file goes first: a prune that stops half-way leaves a record without its
            # file, which the next prune deletes, rather than a file no record names.
            with contextlib.suppress(NoFile):
                await self.bucket.delete(ObjectId(record.file_id))
            await record.delete()
            deleted.append(record.version)
        return deleted

    async def champion(self, target: Target) -> ForecastModelRecord | None:
        return (
            await ForecastModelRecord.find(
                {"kind": "forecast", "target": target.value, "champion": True}
            )
            .sort("-promoted_at")
            .limit(1)
            .first_or_none()
        )

    async def list(self, target: Target | None = None) -> list[ForecastModelRecord]:
        query: dict[str, Any] = {"kind": "forecast"}
        if target is not None:
            query["target"] = target.value
        return await ForecastModelRecord.find(query).sort("+name", "-version").to_list()


async def targets_without_champion(db: Any, targets: Sequence[Target]) -> list[Target]:
    """The targets no champion forecasts yet: a plain read of `models`, so a command can
    ask without binding the documents."""
    crowned = {
        doc["target"]
        async for doc in db[MODELS].find(
            {"kind": "forecast", "champion": True}, {"target": 1, "_id": 0}
        )
    }
    return [t for t in targets if t.value not in crowned]
