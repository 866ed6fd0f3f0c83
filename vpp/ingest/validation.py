"""Checks on what arrives from the broker: topic, size, JSON, schema, ids, timestamps.

Each check either returns the parsed value or a `Rejection` with the dead-letter reason;
nothing here raises on bad input. Payloads are validated strictly (`strict=True`: a
string is not a number, a timestamp is an ISO 8601 string with a time zone) because they
come from devices.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from pydantic import ValidationError

from vpp.bus.topics import NodeChannel
from vpp.models import NodeStatus, Telemetry
from vpp.store.documents import DeadLetterReason

# A reading is ~250 bytes; anything far larger is refused unparsed.
MAX_PAYLOAD_BYTES = 16 * 1024
# Node clocks may run a little ahead of the ingester's.
FUTURE_TOLERANCE = timedelta(minutes=5)
_MAX_DETAIL = 500
_NODE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_CHANNELS = {NodeChannel.TELEMETRY.value: NodeChannel.TELEMETRY, "status": NodeChannel.STATUS}


@dataclass(frozen=True)
class Rejection:
    reason: DeadLetterReason
    detail: str
    dc_id: str | None = None


@dataclass(frozen=True)
class NodeTopic:
    node_id: str
    channel: NodeChannel


class TopicParser:
    """Parses `<prefix>/nodes/<node id>/<telemetry|status>`."""

    def __init__(self, prefix: str) -> None:
        self._head = f"{prefix}/nodes/"

    def parse(self, topic: str | bytes) -> NodeTopic | Rejection:
        if isinstance(topic, bytes):
            return Rejection(DeadLetterReason.BAD_TOPIC, "topic is not valid UTF-8")
        if not topic.startswith(self._head):
            return Rejection(DeadLetterReason.BAD_TOPIC, f"not under {self._head}")
        node_id, sep, channel = topic[len(self._head) :].partition("/")
        if not sep or channel not in _CHANNELS:
            return Rejection(DeadLetterReason.BAD_TOPIC, "expected <node id>/telemetry or /status")
        if not _NODE_ID.fullmatch(node_id):
            return Rejection(DeadLetterReason.BAD_TOPIC, "node id is not a valid id")
        return NodeTopic(node_id, _CHANNELS[channel])


def validate_telemetry(
    node_id: str,
    payload: bytes,
    now: datetime,
    max_age: timedelta,
    max_ahead: timedelta = FUTURE_TOLERANCE,
) -> Telemetry | Rejection:
    """A valid reading of `node_id`, stamped within `[now - max_age, now + max_ahead]`.

    The upper bound matters beyond tidiness: the latest state keeps a node's newest
    reading by timestamp, so one reading stamped years ahead would freeze it."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejection(
            DeadLetterReason.TOO_LARGE,
            f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}",
            node_id,
        )
    try:
        reading = Telemetry.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            return Rejection(DeadLetterReason.BAD_JSON, _summary(exc), node_id)
        return Rejection(DeadLetterReason.SCHEMA, _summary(exc), node_id)
    if reading.dc_id != node_id:
        return Rejection(
            DeadLetterReason.ID_MISMATCH,
            f"payload dc_id {reading.dc_id!r} on the topic of {node_id!r}",
            node_id,
        )
    if not now - max_age <= reading.timestamp <= now + max_ahead:
        return Rejection(
            DeadLetterReason.TIMESTAMP_OUT_OF_RANGE,
            f"timestamp {reading.timestamp.isoformat()} outside the retention window "
            f"or more than {max_ahead} ahead",
            node_id,
        )
    return reading


def validate_status(node_id: str, payload: bytes) -> NodeStatus | Rejection:
    """`online` or `offline`, bare or as a JSON string."""
    if len(payload) > 64:
        return Rejection(DeadLetterReason.BAD_STATUS, f"{len(payload)} bytes", node_id)
    text = payload.decode("utf-8", errors="replace").strip()
    if text.startswith('"'):
        with contextlib.suppress(orjson.JSONDecodeError):
            text = str(orjson.loads(text))
    try:
        return NodeStatus(text)
    except ValueError:
        return Rejection(DeadLetterReason.BAD_STATUS, "expected online or offline", node_id)


def _summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        loc = ".".join(str(p) for p in error["loc"]) or "payload"
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)[:_MAX_DETAIL]
