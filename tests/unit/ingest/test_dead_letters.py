from __future__ import annotations

from datetime import UTC, datetime

from vpp.ingest.dead_letters import MAX_PAYLOAD_TEXT, dead_letter_document
from vpp.store.documents import DeadLetterReason, DeadLetterRecord

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_payload_is_kept_as_text_and_bounded() -> None:
    doc = dead_letter_document(
        received_at=NOW,
        topic="vpp/v1/nodes/node-00001/telemetry",
        payload=b"\xff" + b"a" * (MAX_PAYLOAD_TEXT * 10),
        reason=DeadLetterReason.BAD_JSON,
        detail="Invalid JSON",
        dc_id="node-00001",
    )
    record = DeadLetterRecord.model_validate(doc)
    assert record.payload.startswith("\\xffaaa")
    assert len(record.payload) == MAX_PAYLOAD_TEXT
    assert record.truncated
    assert record.payload_size == MAX_PAYLOAD_TEXT * 10 + 1
    assert record.reason is DeadLetterReason.BAD_JSON


def test_small_payloads_and_undecodable_topics_are_kept_whole() -> None:
    doc = dead_letter_document(
        received_at=NOW,
        topic=b"vpp/v1/nodes/\xfe/telemetry",
        payload=b'{"soc": NaN}',
        reason=DeadLetterReason.BAD_TOPIC,
    )
    assert doc["payload"] == '{"soc": NaN}'
    assert doc["topic"] == "vpp/v1/nodes/\\xfe/telemetry"
    assert doc["truncated"] is False
    assert doc["dc_id"] is None
