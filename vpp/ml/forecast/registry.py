"""The model registry: trained forecasters in GridFS, their records in `models`.

A record (`ForecastModelRecord`) holds the metrics, the data range and the versions;
the file is the forecaster's folder (its description and the darts model, see
`Forecaster.save`) as a gzipped tar in the GridFS bucket `model_files`. Models are loaded
by name and version (the newest when no version is given). One record per target is
the `champion`, the model the forecast cycle uses.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from pymongo.errors import DuplicateKeyError

from vpp.ml.forecast.documents import MODEL_FILES_BUCKET, ForecastModelRecord, ModelMetrics
from vpp.ml.forecast.models import Forecaster, load_forecaster
from vpp.ml.forecast.settings import Target

_VERSION_RETRIES = 5


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
        for _ in range(_VERSION_RETRIES):
            latest = await self.record(name)
            version = 1 if latest is None else latest.version + 1
            file_id = await self.bucket.upload_from_stream(
                f"{name}-v{version}.tar.gz",
                data,
                metadata={"name": name, "version": version, "target": forecaster.target.value},
            )
            record = ForecastModelRecord(
                name=name,
                version=version,
                target=forecaster.target,
                model_kind=forecaster.kind,
                metrics=metrics,
                data_start=data_start,
                data_end=data_end,
                series_ids=series_ids,
                file_id=str(file_id),
                size_bytes=len(data),
                darts_version=package_version("darts"),
                params=forecaster.params(),
            )
            try:
                await record.insert()
                return record
            except DuplicateKeyError:  # someone stored the same version first
                await self.bucket.delete(file_id)
        raise RuntimeError(f"could not find a free version for {name}")

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
        stream = await self.bucket.open_download_stream(ObjectId(record.file_id))
        data = await stream.read()
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
