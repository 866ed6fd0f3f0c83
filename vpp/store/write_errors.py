"""What a refused bulk write refused, for the writes that are idempotent by their key: a
document whose `_id` (or unique key) is taken was written before (a retry, or another
process), so only the other refusals are errors."""

from __future__ import annotations

from typing import Any

from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000


def refused_but_duplicates(exc: BulkWriteError) -> list[dict[str, Any]]:
    """The refusals of a bulk write other than duplicate keys."""
    errors: list[dict[str, Any]] = exc.details.get("writeErrors", [])
    return [e for e in errors if e.get("code") != DUPLICATE_KEY]
