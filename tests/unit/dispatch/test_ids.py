"""Dispatch, workflow and command ids, and how the relay routes an ack by them."""

from __future__ import annotations

from datetime import UTC, datetime

from vpp.dispatch.ids import (
    CommandRef,
    command_id,
    dispatch_workflow_id,
    new_dispatch_id,
    parse_command_id,
    shard_workflow_id,
)
from vpp.dispatch.models import DispatchSpec
from vpp.dispatch.relay import parse_ack
from vpp.models import Ack, AckStatus, Action

PREFIX = "vpp/v1"


def test_a_request_key_gives_the_same_dispatch_id_and_no_key_a_new_one() -> None:
    assert new_dispatch_id("alice", "r-1") == new_dispatch_id("alice", "r-1")
    assert new_dispatch_id("alice", "r-1") != new_dispatch_id("bob", "r-1")
    assert new_dispatch_id("alice", None) != new_dispatch_id("alice", None)
    for dispatch_id in (new_dispatch_id("alice", "r-1"), new_dispatch_id("alice", None)):
        # Valid as a spec's id: no ':' (command ids) nor '-' (shard workflow ids).
        DispatchSpec(
            dispatch_id=dispatch_id,
            action=Action.HOLD,
            issued_by="alice",
            created_at=datetime.now(UTC),
            deadline=datetime.now(UTC),
            params={"kw": 0},
        )


def test_a_command_id_names_its_shard_workflow() -> None:
    cid = command_id("abc123", 7, "node-00042")
    assert cid == "abc123:7:node-00042"
    ref = parse_command_id(cid)
    assert ref == CommandRef("abc123", 7, "node-00042")
    assert ref.shard_workflow_id == shard_workflow_id("abc123", 7) == "dispatch-abc123-s7"
    assert dispatch_workflow_id("abc123") == "dispatch-abc123"
    for foreign in ("charge-1", "a:b:c:d", "abc:x:node-1", "ABC:1:node-1", "abc:1:no/de"):
        assert parse_command_id(foreign) is None


def payload(cid: str) -> bytes:
    return (
        Ack(command_id=cid, status=AckStatus.ACCEPTED, at=datetime.now(UTC))
        .model_dump_json()
        .encode()
    )


def test_an_ack_is_routed_to_its_shard_with_the_node_from_the_topic() -> None:
    routed = parse_ack(PREFIX, "vpp/v1/nodes/node-1/ack", payload("abc:2:node-1"))
    assert not isinstance(routed, str)
    workflow_id, ack = routed
    assert (workflow_id, ack.dc_id, ack.status) == ("dispatch-abc-s2", "node-1", AckStatus.ACCEPTED)


def test_acks_that_cannot_be_routed_are_refused_with_a_reason() -> None:
    cases = {
        ("vpp/v1/nodes/node-1/telemetry", payload("abc:2:node-1")): "not an ack topic",
        ("other/nodes/node-1/ack", payload("abc:2:node-1")): "not an ack topic",
        ("vpp/v1/nodes/node-1/ack", b"{not json"): "invalid ack",
        ("vpp/v1/nodes/node-1/ack", payload("charge-1")): "is not a dispatch's",
        # A node answering for another node's command.
        ("vpp/v1/nodes/node-1/ack", payload("abc:2:node-2")): "acked node-2's command",
    }
    for (topic, body), why in cases.items():
        reason = parse_ack(PREFIX, topic, body)
        assert isinstance(reason, str)
        assert why in reason, reason
