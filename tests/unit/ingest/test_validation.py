from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from vpp.bus.topics import NodeChannel
from vpp.ingest.validation import (
    MAX_PAYLOAD_BYTES,
    NodeTopic,
    Rejection,
    TopicParser,
    validate_status,
    validate_telemetry,
)
from vpp.models import NodeStatus, Telemetry
from vpp.store.documents import DeadLetterReason

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(days=30)


def reading(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "dc_id": "node-00001",
        "seq": 7,
        "timestamp": "2026-11-24T11:59:55.250+00:00",
        "soc": 55.5,
        "power_kw": -3.2,
        "freq": 50.01,
        "cpu_usage": 40.0,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def check(payload: bytes, node_id: str = "node-00001") -> Telemetry | Rejection:
    return validate_telemetry(node_id, payload, NOW, MAX_AGE)


def test_a_valid_reading_passes() -> None:
    result = check(orjson.dumps(reading()))
    assert isinstance(result, Telemetry)
    assert result.timestamp == datetime(2026, 11, 24, 11, 59, 55, 250_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", DeadLetterReason.BAD_JSON),
        (b"\xff\xfe\x00garbage", DeadLetterReason.BAD_JSON),
        (b'{"dc_id": "node-00001", "seq": 1', DeadLetterReason.BAD_JSON),
        (b'{"a": 1}{"b": 2}', DeadLetterReason.BAD_JSON),
        (b"[1, 2, 3]", DeadLetterReason.SCHEMA),
        (b'"node-00001"', DeadLetterReason.SCHEMA),
        (b"null", DeadLetterReason.SCHEMA),
        (b"x" * (MAX_PAYLOAD_BYTES + 1), DeadLetterReason.TOO_LARGE),
    ],
)
def test_unparseable_payloads_are_refused(payload: bytes, reason: DeadLetterReason) -> None:
    result = check(payload)
    assert isinstance(result, Rejection)
    assert result.reason is reason
    assert result.dc_id == "node-00001"


@pytest.mark.parametrize(
    "changes",
    [
        {"soc": 101.0},  # out of range
        {"soc": "55"},  # a string is not a number (strict)
        {"seq": True},  # nor is a boolean
        {"seq": -1},
        {"freq": None},
        {"power_kw": ...},  # missing
        {"timestamp": "2026-11-24T11:59:55"},  # no time zone
        {"timestamp": 1_790_000_000},  # epoch numbers are not accepted
        {"extra_field": 1},  # unknown fields are refused
        {"cpu_usage": {"nested": [1, 2, {"junk": None}]}},
        {"dc_id": "node/00001"},  # not a valid id
    ],
)
def test_schema_violations_are_refused(changes: dict[str, object]) -> None:
    result = check(orjson.dumps(reading(**changes)))
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.SCHEMA
    assert result.detail


def test_nan_and_infinity_are_refused() -> None:
    text = orjson.dumps(reading()).decode().replace("55.5", "NaN").encode()
    result = check(text)
    assert isinstance(result, Rejection)
    assert result.reason in (DeadLetterReason.SCHEMA, DeadLetterReason.BAD_JSON)
    text = orjson.dumps(reading()).decode().replace("-3.2", "-Infinity").encode()
    result = check(text)
    assert isinstance(result, Rejection)
    assert result.reason in (DeadLetterReason.SCHEMA, DeadLetterReason.BAD_JSON)


def test_payload_id_must_equal_topic_id() -> None:
    result = check(orjson.dumps(reading(dc_id="node-00002")), node_id="node-00001")
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.ID_MISMATCH
    assert result.dc_id == "node-00001"


@pytest.mark.parametrize(
    "stamp",
    [
        (NOW - MAX_AGE - timedelta(seconds=1)).isoformat(),  # would be dropped by retention
        (NOW + timedelta(minutes=6)).isoformat(),  # too far ahead of the ingester's clock
    ],
)
def test_timestamps_outside_the_window_are_refused(stamp: str) -> None:
    result = check(orjson.dumps(reading(timestamp=stamp)))
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.TIMESTAMP_OUT_OF_RANGE


def test_a_clock_slightly_ahead_is_tolerated() -> None:
    stamp = (NOW + timedelta(minutes=4)).isoformat()
    assert isinstance(check(orjson.dumps(reading(timestamp=stamp))), Telemetry)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("vpp/v1/nodes/node-00001/telemetry", NodeTopic("node-00001", NodeChannel.TELEMETRY)),
        ("vpp/v1/nodes/node-00001/status", NodeTopic("node-00001", NodeChannel.STATUS)),
    ],
)
def test_topics_of_the_contract_parse(topic: str, expected: NodeTopic) -> None:
    assert TopicParser("vpp/v1").parse(topic) == expected


@pytest.mark.parametrize(
    "topic",
    [
        "vpp/v2/nodes/node-00001/telemetry",
        "vpp/v1/nodes/node-00001/cmd",
        "vpp/v1/nodes/node-00001/telemetry/extra",
        "vpp/v1/nodes//telemetry",
        "vpp/v1/nodes/" + "n" * 65 + "/telemetry",
        "vpp/v1/nodes/nöde/telemetry",
        "vpp/v1/nodes/node-00001",
        "",
        b"vpp/v1/nodes/\xff/telemetry",
    ],
)
def test_other_topics_are_refused(topic: str | bytes) -> None:
    result = TopicParser("vpp/v1").parse(topic)
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.BAD_TOPIC


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"online", NodeStatus.ONLINE),
        (b"offline\n", NodeStatus.OFFLINE),
        (b'"online"', NodeStatus.ONLINE),
    ],
)
def test_status_payloads(payload: bytes, status: NodeStatus) -> None:
    assert validate_status("node-00001", payload) is status


@pytest.mark.parametrize("payload", [b"ONLINE", b"up", b'{"status": "online"}', b"x" * 100])
def test_bad_status_payloads_are_refused(payload: bytes) -> None:
    result = validate_status("node-00001", payload)
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.BAD_STATUS
