"""What a refused bulk write refused, for the writes that are idempotent by their key: a
document whose `_id` (or unique key) is taken was written before (a retry, or another
process), so only the other refusals are errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000


def refused_but_duplicates(exc: BulkWriteError) -> list[dict[str, Any]]:
    """The refusals of a bulk write other than duplicate keys."""
    errors: list[dict[str, Any]] = exc.details.get("writeErrors", [])
    return [e for e in errors if e.get("code") != DUPLICATE_KEY]


async def insert_new(collection: AsyncCollection[Any], docs: Sequence[Mapping[str, Any]]) -> int:
    """Insert the documents whose key is not taken yet (unordered); how many were new.
    Refusals other than taken keys raise."""
    if not docs:
        return 0
    try:
        result = await collection.insert_many(docs, ordered=False)
        return len(result.inserted_ids)
    except BulkWriteError as exc:
        if refused_but_duplicates(exc):
            raise
        return int(exc.details.get("nInserted", 0))
