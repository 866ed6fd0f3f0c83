"""MQTT topic names of the design's contract, under a configurable prefix (`vpp/v1`)."""

from __future__ import annotations

from enum import StrEnum


class NodeChannel(StrEnum):
    TELEMETRY = "telemetry"
    CMD = "cmd"
    ACK = "ack"
    STATUS = "status"


def node_topic(prefix: str, node_id: str, channel: NodeChannel) -> str:
    if not node_id or any(c in node_id for c in "/+#"):
        raise ValueError(f"node id {node_id!r} may not be empty or contain '/', '+' or '#'")
    return f"{prefix}/nodes/{node_id}/{channel.value}"


def fleet_filter(prefix: str, channel: NodeChannel) -> str:
    """A filter matching one channel of every node."""
    return f"{prefix}/nodes/+/{channel.value}"


def shared_filter(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: the broker splits messages among the group's members."""
    return f"$share/{group}/{topic_filter}"
