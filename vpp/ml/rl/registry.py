"""Trained policies in the model registry: records of kind `policy` in `models`, the SB3
zip in the GridFS bucket `model_files` (the versioned storage of
`vpp.ml.forecast.registry`).

Records are plain documents read and written with the raw collection, so any process
with a database handle (the live cycle's activities too) can load the champion without
binding Beanie models. One record of kind `policy` is the `champion`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from gridfs import AsyncGridFSBucket
from pydantic import AwareDatetime, BaseModel, Field
from pymongo import ReturnDocument

from vpp.ml.forecast.documents import MODEL_FILES_BUCKET, MODELS
from vpp.ml.forecast.registry import read_file, store_version

POLICY_KIND = "policy"


def _now() -> datetime:
    return datetime.now(UTC)


class PolicyMetrics(BaseModel):
    """A policy's figures on one split (validation or the held-out evaluation)."""

    split: str  # "validation" or "evaluation"
    buildings: list[int]
    months: list[int]
    episodes: int
    hours: int
    energy_cost: float
    emissions_kg: float
    peak_import_kw: float
    objective: float
    saving: float  # $ against no battery
    saving_vs_lp: float  # share of the LP optimum's saving
    score: float  # CityLearn-style, no battery = 1, lower is better
    rule_based_saving_vs_lp: float
    lp_saving: float


class PolicyRecord(BaseModel):
    kind: Literal["policy"] = "policy"
    name: str  # "policy-sac"
    version: int
    algorithm: str
    observation_size: int
    horizon: int
    env_version: int = 1  # what an action meant when it trained (`observation.ENV_VERSION`)
    validation: PolicyMetrics
    evaluation: PolicyMetrics | None = None
    timesteps: int
    train_s: float
    params: dict[str, Any] = Field(default_factory=dict)
    train_buildings: list[int]
    train_months: list[int]
    sb3_version: str
    file_id: str
    size_bytes: int
    trained_at: AwareDatetime = Field(default_factory=_now)
    champion: bool = False
    promoted_at: AwareDatetime | None = None

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def policy_name(algorithm: str) -> str:
    return f"policy-{algorithm}"


class PolicyRegistry:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.collection = db[MODELS]
        self.bucket = AsyncGridFSBucket(db, bucket_name=MODEL_FILES_BUCKET)

    async def save(self, data: bytes, fields: dict[str, Any]) -> PolicyRecord:
        """Store a new version of `policy-<algorithm>`; `fields` are the record's other
        fields (all but name, version, file id and size)."""
        name = policy_name(str(fields["algorithm"]))

        async def insert(version: int, file_id: str) -> PolicyRecord:
            record = PolicyRecord.model_validate(
                {
                    **fields,
                    "name": name,
                    "version": version,
                    "file_id": file_id,
                    "size_bytes": len(data),
                }
            )
            await self.collection.insert_one(record.model_dump())
            return record

        return await store_version(
            self.db,
            self.bucket,
            name,
            data,
            suffix="zip",
            metadata={"kind": POLICY_KIND},
            insert=insert,
        )

    async def record(self, name: str, version: int | None = None) -> PolicyRecord | None:
        query: dict[str, Any] = {"kind": POLICY_KIND, "name": name}
        if version is not None:
            query["version"] = version
        doc = await self.collection.find_one(query, sort=[("version", -1)])
        return None if doc is None else PolicyRecord.model_validate(doc)

    async def champion(self) -> PolicyRecord | None:
        doc = await self.collection.find_one(
            {"kind": POLICY_KIND, "champion": True}, sort=[("promoted_at", -1)]
        )
        return None if doc is None else PolicyRecord.model_validate(doc)

    async def list(self) -> list[PolicyRecord]:
        cursor = self.collection.find({"kind": POLICY_KIND}).sort([("name", 1), ("version", -1)])
        return [PolicyRecord.model_validate(doc) async for doc in cursor]

    async def file(self, record: PolicyRecord) -> bytes:
        return await read_file(self.bucket, record.file_id)

    async def promote(self, name: str, version: int) -> PolicyRecord:
        """Make `name` v`version` the champion policy (and no other record)."""
        # Crown first, then demote the others: a reader never finds no champion (it takes
        # the newest `promoted_at` while both are marked).
        doc = await self.collection.find_one_and_update(
            {"kind": POLICY_KIND, "name": name, "version": version},
            {"$set": {"champion": True, "promoted_at": _now()}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise LookupError(f"no policy {name} v{version} in the registry")
        await self.collection.update_many(
            {"kind": POLICY_KIND, "champion": True, "_id": {"$ne": doc["_id"]}},
            {"$set": {"champion": False}},
        )
        return PolicyRecord.model_validate(doc)
