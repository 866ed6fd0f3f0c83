"""A node's MQTT 5 session: its own credentials, a retained last will on its status topic,
store-and-forward telemetry, commands in and acks out.

A message counts as delivered only when its PUBACK arrives, which the session learns
through gmqtt's in-flight store (`vpp.bus.inflight`). Packets in flight are held below
the broker's receive maximum; past that gmqtt raises `OverflowError` (FACTS.md).

Once connected, gmqtt reconnects by itself after a lost connection (this module makes its
delay grow with jitter). If the broker kept the session, gmqtt replays what was in
flight; if not, the session puts those readings back at the front of the buffer and sends
them again. Either way nothing is lost; a reading may arrive twice (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from gmqtt import Client as MQTTClient
from gmqtt import Message
from gmqtt.mqtt.handler import MQTTConnectError

from vpp.bus.credentials import node_password
from vpp.bus.inflight import InFlightStore, free_ids, window_below
from vpp.bus.topics import NodeChannel, node_topic
from vpp.config import MqttSettings
from vpp.edge_sim.backoff import Backoff
from vpp.edge_sim.buffer import Reading, TelemetryBuffer
from vpp.edge_sim.link import CommandHandler, LinkStats
from vpp.models import Ack, NodeStatus

log = logging.getLogger(__name__)
# gmqtt logs every failed reconnect of every node; one logger to quieten them all.
gmqtt_log = logging.getLogger("vpp.edge_sim.gmqtt")

# The broker keeps a node's session (its subscription and commands queued for it) this long
# after the node goes away, so a short outage loses no command.
SESSION_EXPIRY_S = 600
CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 60
# Per node, more in flight gains nothing at a reading every few seconds; fewer keeps the
# broker's per-client queue short.
MAX_IN_FLIGHT = 64
# MQTT 5 DISCONNECT reason 0x04: the broker publishes the last will ("offline") anyway.
_DISCONNECT_WITH_WILL = 4


@dataclass(frozen=True, slots=True)
class _Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool = False
    reading: Reading | None = None  # set for telemetry


class _Client(MQTTClient):  # type: ignore[misc]
    """gmqtt's client with a reconnect delay that grows, with jitter, after each failure,
    and that stays down once its session has let it go."""

    def __init__(self, client_id: str, backoff: Backoff, **kwargs: Any) -> None:
        super().__init__(client_id, **kwargs)
        self._backoff = backoff
        self.abandoned = False

    async def reconnect(self, delay: bool = False) -> None:
        if delay:
            self.reconnect_delay = self._backoff.next_delay()
        await super().reconnect(delay=delay)

    async def _create_connection(self, *args: Any, **kwargs: Any) -> Any:
        # A refused CONNACK makes gmqtt schedule a reconnect that sleeps and then connects
        # whatever happened meanwhile; for a client the session has replaced, that would
        # be a second connection under the node's id, taking over the live one.
        if self.abandoned:
            raise ConnectionAbortedError("client abandoned by its session")
        return await super()._create_connection(*args, **kwargs)


class MqttNodeLink:
    def __init__(
        self,
        node_id: str,
        mqtt: MqttSettings,
        buffer_size: int,
        on_command: CommandHandler,
        *,
        rng: random.Random | None = None,
        connect_gate: asyncio.Semaphore | None = None,
    ) -> None:
        self.node_id = node_id
        self.mqtt = mqtt
        self.buffer = TelemetryBuffer(buffer_size)
        self.stats = LinkStats()
        self._on_command = on_command
        self._backoff = Backoff(rng or random.Random(node_id))
        self._connect_gate = connect_gate
        prefix = mqtt.topic_prefix
        self._telemetry_topic = node_topic(prefix, node_id, NodeChannel.TELEMETRY)
        self._cmd_topic = node_topic(prefix, node_id, NodeChannel.CMD)
        self._ack_topic = node_topic(prefix, node_id, NodeChannel.ACK)
        self._status_topic = node_topic(prefix, node_id, NodeChannel.STATUS)
        self._control: deque[_Outgoing] = deque()  # acks and status, sent before telemetry
        self._in_flight: dict[int, _Outgoing] = {}
        self._window = 1
        self._client: _Client | None = None
        self._storage: InFlightStore | None = None
        self._clean_start = True
        self._online_wanted = True
        self._stopping = False
        self._changed = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._pump_scheduled = False
        self._drop_acks = 0
        self._task: asyncio.Task[None] | None = None

    # -- the node's side ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        client = self._client
        return client is not None and bool(client.is_connected)

    @property
    def online_wanted(self) -> bool:
        return self._online_wanted

    @property
    def pending(self) -> int:
        return len(self.buffer) + len(self._control) + len(self._in_flight)

    def submit(self, reading: Reading) -> None:
        self.buffer.append(reading)
        self._kick()

    def send_ack(self, ack: Ack) -> None:
        if self._drop_acks > 0:
            self._drop_acks -= 1
            self.stats.acks_dropped += 1
            log.info("%s: fault: dropped ack %s %s", self.node_id, ack.command_id, ack.status)
            return
        self._control.append(_Outgoing(self._ack_topic, ack.model_dump_json().encode(), qos=1))
        self._kick()

    def drop_next_acks(self, count: int) -> None:
        self._drop_acks += count

    @property
    def acks_to_drop(self) -> int:
        return self._drop_acks

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"mqtt-{self.node_id}")

    def set_online(self, online: bool) -> None:
        self._online_wanted = online
        self._changed.set()

    async def drain(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._drained.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        self._stopping = True
        self._changed.set()
        if self._task is not None:
            await self._task
            self._task = None

    # -- connection ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        while not self._stopping:
            if not self._online_wanted:
                await self._wait_change()
                continue
            if not await self._connect():
                await self._wait_change(self._backoff.next_delay())
                continue
            # Connected: gmqtt keeps the session up from here until the node leaves.
            while self._online_wanted and not self._stopping:
                await self._wait_change()
            await self._leave()

    async def _wait_change(self, timeout_s: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        self._changed.clear()

    def _new_client(self) -> _Client:
        storage = InFlightStore(self._acked, self._session_lost)
        client = _Client(
            self.node_id,
            self._backoff,
            clean_session=self._clean_start,
            # Acknowledge a command only once it is handled (FACTS.md).
            optimistic_acknowledgement=False,
            will_message=Message(
                self._status_topic, NodeStatus.OFFLINE.value.encode(), qos=1, retain=True
            ),
            persistent_storage=storage,
            logger=gmqtt_log,
            session_expiry_interval=SESSION_EXPIRY_S,
        )
        client.set_auth_credentials(self.node_id, node_password(self.mqtt, self.node_id))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._storage = storage
        return client

    async def _connect(self) -> bool:
        client = self._new_client()
        self._client = client
        try:
            if self._connect_gate is not None:
                async with self._connect_gate:
                    await self._connect_client(client)
            else:
                await self._connect_client(client)
        except (OSError, TimeoutError, MQTTConnectError) as exc:
            log.debug("%s: connect failed: %s", self.node_id, exc)
            self._client = None
            self._storage = None
            await _close_quietly(client)
            return False
        # A process that starts afresh remembers no command ids, so it must not receive
        # an old session's queued commands; later connects resume the session.
        self._clean_start = False
        return True

    async def _connect_client(self, client: _Client) -> None:
        await asyncio.wait_for(
            client.connect(self.mqtt.host, self.mqtt.port, keepalive=KEEPALIVE_S),
            CONNECT_TIMEOUT_S,
        )

    async def _leave(self) -> None:
        """Disconnect on purpose; the broker publishes the will, and what was in flight is
        sent again on the next connection."""
        client, self._client, self._storage = self._client, None, None
        self._requeue_in_flight()
        if client is not None:
            await _close_quietly(client, reason_code=_DISCONNECT_WITH_WILL)
            self.stats.disconnects += 1

    def _on_connect(self, client: _Client, flags: int, rc: int, properties: dict[str, Any]) -> None:
        if client is not self._client:
            return
        self.stats.connects += 1
        self._backoff.reset()
        receive_maximum = properties.get("receive_maximum", [65_535])[0]
        self._window = window_below(receive_maximum, MAX_IN_FLIGHT)
        if not flags:
            # No session on the broker (first connect, or the broker lost it).
            client.subscribe(self._cmd_topic, qos=1)
        online = _Outgoing(self._status_topic, NodeStatus.ONLINE.value.encode(), 1, retain=True)
        self._control.appendleft(online)
        self._kick()

    def _on_disconnect(self, client: _Client, packet: Any, exc: Any = None) -> None:
        if client is self._client:
            self.stats.disconnects += 1

    async def _on_message(
        self, client: _Client, topic: str, payload: bytes, qos: int, properties: Any
    ) -> int:
        # A coroutine on purpose: with optimistic_acknowledgement=False gmqtt sends the
        # PUBACK from a coroutine's result, and ignores a plain function's, never acking.
        if topic == self._cmd_topic:
            try:
                self._on_command(payload)
            except Exception:
                # The command is lost to this node; the dispatcher resends unacked ones.
                log.exception("%s: command handling failed", self.node_id)
        return 0

    # -- sending -------------------------------------------------------------------------

    def _kick(self) -> None:
        """Something was queued or freed: send what the window allows, soon and once."""
        self._update_drained()
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _update_drained(self) -> None:
        if self.pending:
            self._drained.clear()
        else:
            self._drained.set()

    def _pump(self) -> None:
        self._pump_scheduled = False
        client, storage = self._client, self._storage
        if client is None or storage is None or not client.is_connected:
            return
        while len(self._in_flight) < self._window:
            item = self._next_item()
            if item is None:
                break
            try:
                client.publish(item.topic, item.payload, qos=item.qos, retain=item.retain)
            except OverflowError:
                # gmqtt has no free packet id: wait for PUBACKs to free some.
                self._put_back(item)
                break
            if item.qos:
                assert storage.last_mid is not None
                self._in_flight[storage.last_mid] = item
            else:
                self._delivered(item)
        self._update_drained()

    def _next_item(self) -> _Outgoing | None:
        if self._control:
            return self._control.popleft()
        reading = self.buffer.popleft()
        if reading is None:
            return None
        return _Outgoing(
            self._telemetry_topic, reading.payload, self.mqtt.telemetry_qos, reading=reading
        )

    def _put_back(self, item: _Outgoing) -> None:
        if item.reading is not None:
            self.buffer.requeue([item.reading])
        else:
            self._control.appendleft(item)

    def _delivered(self, item: _Outgoing) -> None:
        if item.reading is not None:
            self.stats.sent += 1
        elif item.topic == self._ack_topic:
            self.stats.acks_sent += 1

    def _acked(self, storage: InFlightStore, mid: int) -> None:
        if storage is not self._storage:
            return  # a late PUBACK to a client already left; its ids mean nothing now
        item = self._in_flight.pop(mid, None)
        if item is None:
            return
        self._delivered(item)
        if self._control or self.buffer:
            self._kick()
        else:
            self._update_drained()

    def _session_lost(self, storage: InFlightStore, _mids: list[int]) -> None:
        """gmqtt dropped its in-flight packets because the broker had no session for us."""
        client = self._client
        if storage is not self._storage or client is None:
            return
        lost = list(self._in_flight)
        self._requeue_in_flight()
        free_ids(client, lost)
        self._kick()

    def _requeue_in_flight(self) -> None:
        # A dict keeps insertion order, which is the order the packets were sent.
        items = list(self._in_flight.values())
        self._in_flight.clear()
        readings = [i.reading for i in items if i.reading is not None]
        if readings:
            self.stats.resent += len(readings)
            self.buffer.requeue(readings)
        # A status is not worth resending: each connect queues a fresh "online".
        acks = [i for i in items if i.topic == self._ack_topic]
        self._control.extendleft(reversed(acks))


async def _close_quietly(client: _Client, reason_code: int = 0) -> None:
    client.abandoned = True
    try:
        await client.disconnect(reason_code=reason_code)
    except Exception as exc:  # the connection may already be gone; nothing to do about it
        log.debug("disconnect: %s", exc)
