"""Real-protocol checks that a server answers, beyond an open port."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from gmqtt import Client as MqttClient


async def mqtt_connects(host: str, port: int, username: str, password: str) -> bool:
    """True if the broker accepts an MQTT 5 session with these credentials."""
    client = MqttClient(f"vpp-probe-{uuid.uuid4().hex[:8]}")
    client.set_auth_credentials(username, password)
    client.set_config({"reconnect_retries": 0})
    try:
        await asyncio.wait_for(client.connect(host, port, keepalive=10), timeout=3)
    except Exception:
        return False
    with contextlib.suppress(Exception):
        await client.disconnect()
    return True
