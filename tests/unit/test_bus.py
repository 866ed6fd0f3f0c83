from __future__ import annotations

import pytest

from vpp.bus.credentials import node_ids, node_password
from vpp.bus.topics import NodeChannel, fleet_filter, node_topic, shared_filter
from vpp.config import MqttSettings


def test_topics_follow_the_contract() -> None:
    assert node_topic("vpp/v1", "node-00001", NodeChannel.CMD) == "vpp/v1/nodes/node-00001/cmd"
    assert fleet_filter("vpp/v1", NodeChannel.ACK) == "vpp/v1/nodes/+/ack"
    assert shared_filter("ingest", "vpp/v1/nodes/+/telemetry") == (
        "$share/ingest/vpp/v1/nodes/+/telemetry"
    )


@pytest.mark.parametrize("bad", ["", "a/b", "+", "node#1"])
def test_node_id_that_would_escape_its_topic_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="may not be empty or contain"):
        node_topic("vpp/v1", bad, NodeChannel.TELEMETRY)


def test_node_passwords_differ_per_node_and_per_secret() -> None:
    mqtt = MqttSettings()
    assert node_password(mqtt, "node-00001") != node_password(mqtt, "node-00002")
    assert node_password(mqtt, "node-00001") == node_password(MqttSettings(), "node-00001")
    other = MqttSettings(node_secret="another-secret")
    assert node_password(other, "node-00001") != node_password(mqtt, "node-00001")


def test_node_ids_follow_the_format() -> None:
    assert node_ids(MqttSettings(node_accounts=3)) == ["node-00001", "node-00002", "node-00003"]
