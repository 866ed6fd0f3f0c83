"""Commands out over MQTT at QoS 1 with the service account, each one confirmed.

gmqtt's `publish()` returns nothing to await and raises `OverflowError` once the
broker's receive maximum of packets is in flight (FACTS.md). So the publisher holds a
window of at most `window` unacknowledged packets and learns of each PUBACK through
`vpp.bus.inflight`. `publish()` returns when every command it was given is
acknowledged by the broker, and raises if the connection drops first; the caller (an
activity) is retried, which is safe because a node never applies a command id twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from gmqtt import Client as MqttClient

from vpp.bus.inflight import InFlightStore, free_ids, window_below
from vpp.config import MqttSettings
from vpp.dispatch.ports import OutgoingCommand

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


class PublishError(ConnectionError):
    """The broker did not acknowledge every command (connection lost or timeout)."""


class MqttCommandPublisher:
    def __init__(
        self,
        mqtt: MqttSettings,
        *,
        client_id: str,
        window: int = 500,
        puback_timeout_s: float = 30.0,
    ) -> None:
        self._mqtt = mqtt
        self._client_id = client_id
        self._window = window
        self._timeout_s = puback_timeout_s
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._storage = InFlightStore(self._acked, self._cleared)
        self._client: MqttClient | None = None
        self._receive_maximum = 65_535

    @property
    def connected(self) -> bool:
        return self._client is not None and bool(self._client.is_connected)

    async def start(self) -> None:
        client = MqttClient(
            self._client_id,
            clean_session=True,
            persistent_storage=self._storage,
            session_expiry_interval=0,
        )
        client.set_auth_credentials(
            self._mqtt.service_username, self._mqtt.service_password.get_secret_value()
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.set_config({"reconnect_delay": 1})
        self._client = client
        await asyncio.wait_for(client.connect(self._mqtt.host, self._mqtt.port), CONNECT_TIMEOUT_S)
        window = window_below(self._receive_maximum, self._window)
        self._slots = asyncio.Semaphore(window)

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()
        self._fail_pending("publisher stopped")

    async def publish(self, commands: Sequence[OutgoingCommand]) -> None:
        client, slots = self._client, self._slots
        if client is None or slots is None:
            raise PublishError("publisher not started")
        futures: list[asyncio.Future[None]] = []
        try:
            await self._publish_all(client, slots, commands, futures)
            async with asyncio.timeout(self._timeout_s):
                outcomes = await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError as exc:
            raise PublishError(f"no PUBACK within {self._timeout_s} s") from exc
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            raise PublishError(f"{len(errors)} of {len(futures)} unconfirmed: {errors[0]}")

    async def _publish_all(
        self,
        client: MqttClient,
        slots: asyncio.Semaphore,
        commands: Sequence[OutgoingCommand],
        futures: list[asyncio.Future[None]],
    ) -> None:
        """Hand every command to gmqtt, holding a window slot for each until its PUBACK."""
        loop = asyncio.get_running_loop()
        for command in commands:
            await slots.acquire()
            if not client.is_connected:
                slots.release()
                raise PublishError("not connected to the broker")
            try:
                client.publish(command.topic, command.payload, qos=1)
            except Exception:
                slots.release()
                raise
            mid = self._storage.last_mid
            assert mid is not None
            future: asyncio.Future[None] = loop.create_future()
            self._pending[mid] = future
            futures.append(future)

    # -- gmqtt callbacks -------------------------------------------------------------

    def _acked(self, _storage: InFlightStore, mid: int) -> None:
        future = self._pending.pop(mid, None)
        if future is None:
            return
        if self._slots is not None:
            self._slots.release()
        if not future.done():
            future.set_result(None)

    def _cleared(self, _storage: InFlightStore, mids: list[int]) -> None:
        """gmqtt dropped its in-flight packets (the broker kept no session)."""
        if self._client is not None:
            free_ids(self._client, mids)
        self._fail_pending("session lost")

    def _on_connect(self, client: Any, flags: int, rc: int, properties: dict[str, Any]) -> None:
        self._receive_maximum = properties.get("receive_maximum", [65_535])[0]

    def _on_disconnect(self, client: Any, packet: Any, exc: Any = None) -> None:
        log.warning("command publisher lost the broker (%s); reconnecting", exc)
        self._fail_pending("connection lost")

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if self._slots is not None:
                self._slots.release()
            if not future.done():
                future.set_exception(PublishError(why))
