"""Dead letters: refused messages written to `dead_letters`, with a bounded payload."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from vpp.store.documents import DeadLetterReason, DeadLetterRecord
from vpp.store.write_errors import refused_but_duplicates

log = logging.getLogger(__name__)

# Enough to see what a device sent; a flood of huge payloads cannot fill the store.
MAX_PAYLOAD_TEXT = 4_096
MAX_TOPIC_TEXT = 512


def _as_text(data: str | bytes) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="backslashreplace")
    # A str may still hold lone surrogates, which BSON cannot encode.
    return data.encode("utf-8", errors="backslashreplace").decode("utf-8")


def dead_letter_document(
    *,
    received_at: datetime,
    topic: str | bytes,
    payload: bytes,
    reason: DeadLetterReason,
    detail: str | None = None,
    dc_id: str | None = None,
) -> dict[str, Any]:
    """The `dead_letters` document of one refused message."""
    head = payload[: MAX_PAYLOAD_TEXT * 4]  # a bound on the bytes decoded
    text = _as_text(head)
    truncated = len(text) > MAX_PAYLOAD_TEXT or len(head) < len(payload)
    record = DeadLetterRecord(
        received_at=received_at,
        topic=_as_text(topic)[:MAX_TOPIC_TEXT],
        payload=text[:MAX_PAYLOAD_TEXT],
        payload_size=len(payload),
        truncated=truncated,
        reason=reason,
        detail=_as_text(detail)[:1_000] if detail is not None else None,
        dc_id=dc_id,
    )
    return record.model_dump(mode="python")


class DeadLetterWriter:
    """The flush function of the dead-letter batcher: raw `insert_many`."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._collection = collection

    async def write(self, docs: Sequence[dict[str, Any]], attempt: int) -> list[None]:
        try:
            await self._collection.insert_many(list(docs), ordered=False)
        except BulkWriteError as exc:
            # On a retry, documents the failed attempt did store come back as duplicate
            # `_id`s (pymongo set the `_id`s on the first attempt): they are written.
            for error in refused_but_duplicates(exc):
                log.error("dead letter refused by the store: %s", error.get("errmsg", "?")[:300])
        return [None] * len(docs)
