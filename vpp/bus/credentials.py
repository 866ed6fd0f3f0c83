"""Broker credentials for nodes, derived so that broker and nodes need no shared file."""

from __future__ import annotations

import hashlib
import hmac

from vpp.config import MqttSettings


def node_password(mqtt: MqttSettings, node_id: str) -> str:
    """A node's MQTT password: HMAC of its id under the fleet's node secret."""
    key = mqtt.node_secret.get_secret_value().encode()
    return hmac.new(key, node_id.encode(), hashlib.sha256).hexdigest()[:32]


def node_ids(mqtt: MqttSettings, count: int | None = None) -> list[str]:
    """The ids the broker has accounts for: `node_id_format` for n = 1..count."""
    total = mqtt.node_accounts if count is None else count
    return [mqtt.node_id_format.format(n=n) for n in range(1, total + 1)]
