"""The ingester: MQTT in, MongoDB and Redis out, acknowledged only once stored.

Subscriptions (service account):
- `<prefix>/nodes/+/telemetry`, QoS 1, when `share_group` is empty (the default: one
  ingester), or `$share/<share_group>/<prefix>/nodes/+/telemetry` when several split the
  readings between them. Mosquitto 2.0 keeps a persistent session's plain subscription
  across a broker restart but not its shared one: until a restarted broker sees the
  ingester subscribe again, readings that nodes replay from their buffers match nobody
  and are dropped after their PUBACK. A single ingester therefore subscribes plainly;
  several need a broker that keeps shared subscriptions (the EMQX cluster of
  `infra/k8s`);
- `<prefix>/nodes/+/status`, QoS 1, not shared: status messages are few and idempotent,
  and a plain subscription also brings every node's retained status at start, which a
  shared subscription does not. A status that changes what Redis held of the node is
  also logged in MongoDB (`vpp.store.status_log`) before Redis takes it, so alerts can
  be derived later for changes no API process saw (as are the silences the readings
  show: `vpp.store.status_log.SilenceLog`). With several ingesters each receives
  every status; the one that writes second finds nothing changed, and a change two of
  them log at once is one change to whoever replays the log.

Acknowledgement: the client runs with `optimistic_acknowledgement=False`, so gmqtt sends
a message's PUBACK only when the `on_message` coroutine returns (its return value is the
reason code; gmqtt adds a done-callback to the handler's task). The handler returns only
once the reading is in MongoDB (or its dead letter is), so a reading the ingester has
acknowledged is durable. If MongoDB is away, handlers wait; once `intake_limit`
messages are unacknowledged the ingester stops reading its socket and the broker queues
the rest (up to Mosquitto's `max_queued_messages`); when MongoDB returns the waiting
batch is written and everything resumes by itself.

Session: persistent (`clean_session=False`, `session_expiry_s`) under a stable client id,
so an ingester that restarts under the same instance name gets what the broker queued
meanwhile and what it had not acknowledged (stored duplicates are caught by the unique
key). An instance name retired for good strands its queue until the session expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from gmqtt import Client as MqttClient
from gmqtt import Subscription
from redis.asyncio import Redis

from vpp.bus.channels import RedisNames
from vpp.bus.topics import NodeChannel, fleet_filter, shared_filter
from vpp.config import IngestSettings, Settings
from vpp.ingest.batcher import Batcher, BatcherClosed
from vpp.ingest.dead_letters import DeadLetterWriter, dead_letter_document
from vpp.ingest.known_nodes import KnownNodes
from vpp.ingest.metrics import IngestMetrics
from vpp.ingest.mqtt_session import AckBatchingClient
from vpp.ingest.telemetry_writer import (
    PendingReading,
    TelemetryWriter,
    WriteOutcome,
    WriteStatus,
)
from vpp.ingest.validation import (
    Rejection,
    TopicParser,
    validate_status,
    validate_telemetry,
)
from vpp.store.database import Database, StoreInfo
from vpp.store.documents import DEAD_LETTERS, TELEMETRY, DeadLetterReason
from vpp.store.live_state import LiveReading, LiveStateWriter, StatusUpdate, epoch_ms
from vpp.store.retention import prune_telemetry
from vpp.store.status_log import SilenceLog, changes, log_changes

log = logging.getLogger(__name__)

PUBACK_SUCCESS = 0
_UNLIMITED_RECONNECTS = -1
_MAX_RECEIVE = 65_535
_PRUNE_EVERY_S = 3_600.0
_KEEPALIVE_S = 120


def intake_limit(ingest: IngestSettings) -> int:
    """How many messages one ingester holds unacknowledged at most: four batches (at
    least 2,000), never more than `max_buffered`. Beyond it the ingester stops reading
    from the broker, which keeps the rest queued (FACTS.md: Mosquitto's
    `max_queued_messages` must be set deliberately). Holding more would not make ingest
    faster: each message waiting in the process is a task, and tens of thousands of them
    made Python's garbage collector the largest cost (measured: 450 µs per message with
    50,000 waiting, 90 µs with 2,000)."""
    return max(1, min(_MAX_RECEIVE, ingest.max_buffered, max(4 * ingest.batch_size, 2_000)))


class Ingester:
    """One ingester: an MQTT session, three batchers (telemetry, dead letters, status)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis: Redis,
        metrics: IngestMetrics,
        *,
        client_id: str,
        names: RedisNames | None = None,
        store: StoreInfo | None = None,
        session_expiry_s: int | None = None,
        max_ahead: timedelta | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._db = db
        self._client_id = client_id
        ingest = settings.ingest
        self._session_expiry_s = (
            ingest.session_expiry_s if session_expiry_s is None else session_expiry_s
        )
        self.metrics = metrics
        self._topics = TopicParser(settings.mqtt.topic_prefix)
        self._max_age = timedelta(days=settings.mongo.telemetry_retention_days)
        # How far ahead of this clock a reading may be stamped; a simulator running faster
        # than real time (edge_sim.speed > 1) stamps readings ahead and needs more.
        self._max_ahead = max_ahead or timedelta(seconds=ingest.max_ahead_s)
        self._live = LiveStateWriter(redis, names or RedisNames())
        self.known_nodes = KnownNodes(db)
        self._telemetry_writer = TelemetryWriter(
            db[TELEMETRY],
            self._live,
            metrics,
            publish_in_background=True,
            silences=SilenceLog(db, self._live, ingest.offline_after_s),
        )
        self._telemetry: Batcher[PendingReading, WriteOutcome] = Batcher(
            "telemetry",
            self._telemetry_writer.write,
            batch_size=ingest.batch_size,
            flush_interval_s=ingest.flush_interval_s,
            max_buffered=ingest.max_buffered,
            on_error=self._telemetry_write_failed,
        )
        self._dead_letters: Batcher[dict[str, Any], None] = Batcher(
            "dead_letters",
            DeadLetterWriter(db[DEAD_LETTERS]).write,
            batch_size=ingest.batch_size,
            flush_interval_s=ingest.flush_interval_s,
            max_buffered=ingest.max_buffered,
            on_error=lambda exc, attempt: metrics.store_errors.labels(DEAD_LETTERS).inc(),
        )
        self._status: Batcher[StatusUpdate, None] = Batcher(
            "status",
            self._write_statuses,
            batch_size=ingest.batch_size,
            flush_interval_s=ingest.flush_interval_s,
            max_buffered=ingest.max_buffered,
        )
        self._dead_by_reason = {
            r: metrics.dead_letters.labels(reason=r.value) for r in DeadLetterReason
        }
        # Awaitable counts: messages handed to ingest, messages acknowledged, failed
        # telemetry writes (each retried).
        self.received = metrics.received
        self.acknowledged = metrics.acknowledged
        self.store_failures = metrics.store_failures
        self._client: AckBatchingClient | None = None
        self._subscribed = asyncio.Event()
        self._handling = 0  # handlers running: messages taken in, not yet acknowledged
        self._idle = asyncio.Event()
        self._intake_limit = intake_limit(ingest)
        self._paused = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def receiving(self) -> bool:
        """False while the ingester holds `intake_limit` messages and reads no more."""
        return not self._paused

    @property
    def buffered(self) -> int:
        """Readings received and not yet stored, hence not yet acknowledged."""
        return self._telemetry.buffered

    async def start(self, *, subscribe_timeout_s: float = 10.0) -> None:
        """Load the registry, start the batchers, connect and subscribe."""
        await self.known_nodes.load()
        for batcher in (self._telemetry, self._dead_letters, self._status):
            batcher.start()
        self._tasks.append(asyncio.create_task(self.known_nodes.refresh_forever()))
        if self._store is not None and not self._store.retention_enforced:
            self._tasks.append(asyncio.create_task(self._prune_forever(self._store.retention_s)))
        self.metrics.buffered.set_function(lambda: self._telemetry.buffered)
        mqtt = self._settings.mqtt
        client = AckBatchingClient(
            self._client_id,
            clean_session=False,
            optimistic_acknowledgement=False,
            session_expiry_interval=self._session_expiry_s,
            receive_maximum=self._intake_limit,
        )
        client.set_auth_credentials(mqtt.service_username, mqtt.service_password.get_secret_value())
        client.set_config({"reconnect_retries": _UNLIMITED_RECONNECTS, "reconnect_delay": 2})
        client.on_message = self.handle_message
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        self._client = client
        # A long keepalive: while the store is away, reading stays paused, and gmqtt drops
        # a connection it has heard nothing on for two keepalives.
        await client.connect(mqtt.host, mqtt.port, keepalive=_KEEPALIVE_S)
        await asyncio.wait_for(self._subscribed.wait(), subscribe_timeout_s)
        log.info("ingester %s subscribed on %s:%d", self._client_id, mqtt.host, mqtt.port)

    async def stop(self, *, timeout_s: float = 10.0, end_session: bool = False) -> None:
        """Take no more messages, write what is buffered (for up to `timeout_s`), send its
        PUBACKs and disconnect. The session stays on the broker (queueing for this client
        id) unless `end_session`; what could not be written stays unacknowledged there."""
        if self._client is not None:
            self._client.pause_receiving()
        for batcher in (self._telemetry, self._dead_letters, self._status):
            await batcher.stop(timeout_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._telemetry_writer.drain(), timeout_s)
        if self._handling:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout_s)
        await asyncio.sleep(0)  # one turn: gmqtt queues the PUBACKs of the last handlers
        self.known_nodes.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        client, self._client = self._client, None
        if client is not None:
            client.flush_acks()
            properties = {"session_expiry_interval": 0} if end_session else {}
            with contextlib.suppress(Exception):
                await client.disconnect(**properties)

    # -- MQTT callbacks ------------------------------------------------------------------

    def _on_connect(self, client: MqttClient, flags: int, rc: int, properties: Any) -> None:
        self.metrics.mqtt_connected.set(1)
        # A new connection reads; pause it again if the ingester is still full.
        self._paused = self._handling >= self._intake_limit
        if self._paused and self._client is not None:
            self._client.pause_receiving()
        prefix = self._settings.mqtt.topic_prefix
        group = self._settings.ingest.share_group
        telemetry = fleet_filter(prefix, NodeChannel.TELEMETRY)
        if group:
            telemetry = shared_filter(group, telemetry)
        status = fleet_filter(prefix, NodeChannel.STATUS)
        client.subscribe([Subscription(telemetry, qos=1), Subscription(status, qos=1)])

    def _on_disconnect(self, client: MqttClient, packet: Any, exc: Any = None) -> None:
        self.metrics.mqtt_connected.set(0)  # gmqtt reconnects by itself

    def _on_subscribe(self, client: MqttClient, mid: int, qos: Any, properties: Any) -> None:
        self._subscribed.set()

    async def handle_message(
        self, client: Any, topic: str | bytes, payload: bytes, qos: int, properties: Any
    ) -> int:
        """gmqtt's `on_message`: returns the PUBACK reason code once the message is handled
        for good (stored, or dead-lettered). Raises only if ingest is stopping before it
        could store the message, which leaves the message unacknowledged with the broker."""
        received_at = datetime.now(UTC)
        self.received.add()
        self._handling += 1
        if self._handling >= self._intake_limit and not self._paused and self._client:
            self._paused = True
            self._client.pause_receiving()
        try:
            try:
                await self._handle(topic, payload, received_at)
            except (BatcherClosed, asyncio.CancelledError):
                raise
            except Exception as exc:
                log.exception("handling a message on %r failed", topic)
                await self._dead_letter(
                    topic,
                    payload,
                    Rejection(DeadLetterReason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"),
                    received_at,
                )
        finally:
            self._handling -= 1
            if self._paused and self._handling <= self._intake_limit // 2 and self._client:
                self._paused = False
                self._client.resume_receiving()
            if not self._handling:
                self._idle.set()
        self.acknowledged.add()
        return PUBACK_SUCCESS

    async def _handle(self, topic: str | bytes, payload: bytes, received_at: datetime) -> None:
        parsed = self._topics.parse(topic)
        if isinstance(parsed, Rejection):
            await self._dead_letter(topic, payload, parsed, received_at)
            return
        node_id = parsed.node_id
        if parsed.channel is NodeChannel.STATUS:
            await self._handle_status(topic, node_id, payload, received_at)
            return
        reading = validate_telemetry(node_id, payload, received_at, self._max_age, self._max_ahead)
        if isinstance(reading, Rejection):
            await self._dead_letter(topic, payload, reading, received_at)
            return
        if not await self.known_nodes.contains(node_id):
            unknown = Rejection(DeadLetterReason.UNKNOWN_NODE, "not in the nodes registry", node_id)
            await self._dead_letter(topic, payload, unknown, received_at)
            return
        timestamp = reading.timestamp.astimezone(UTC)
        doc = reading.model_dump(exclude_none=True)
        doc["timestamp"] = timestamp
        doc["received_at"] = received_at
        live = LiveReading(node_id, epoch_ms(timestamp), orjson.dumps(doc))
        outcome = await self._telemetry.submit(PendingReading(doc, live))
        if outcome.status is WriteStatus.STORED:
            return
        at = timestamp.isoformat()
        if outcome.status is WriteStatus.DUPLICATE:
            reason = DeadLetterReason.DUPLICATE
            detail = f"a reading of {node_id} at {at} is already stored (seq {reading.seq})"
        elif outcome.status is WriteStatus.CONFLICT:
            reason = DeadLetterReason.TIMESTAMP_TAKEN
            detail = (
                f"another reading of {node_id} ({outcome.detail}) is stored at {at}; "
                f"this one is seq {reading.seq}"
            )
        else:
            reason, detail = DeadLetterReason.STORE_REJECTED, outcome.detail or "?"
        rejection = Rejection(reason, detail, node_id)
        await self._dead_letter(topic, payload, rejection, received_at)

    async def _handle_status(
        self, topic: str | bytes, node_id: str, payload: bytes, received_at: datetime
    ) -> None:
        if not payload:
            return  # a retained status being cleared
        status = validate_status(node_id, payload)
        if isinstance(status, Rejection):
            await self._dead_letter(topic, payload, status, received_at)
            return
        if not await self.known_nodes.contains(node_id):
            unknown = Rejection(DeadLetterReason.UNKNOWN_NODE, "not in the nodes registry", node_id)
            await self._dead_letter(topic, payload, unknown, received_at)
            return
        await self._status.submit(StatusUpdate(node_id, status, epoch_ms(received_at)))

    async def _dead_letter(
        self, topic: str | bytes, payload: bytes, rejection: Rejection, received_at: datetime
    ) -> None:
        doc = dead_letter_document(
            received_at=received_at,
            topic=topic,
            payload=payload,
            reason=rejection.reason,
            detail=rejection.detail,
            dc_id=rejection.dc_id,
        )
        await self._dead_letters.submit(doc)
        self._dead_by_reason[rejection.reason].inc()

    async def _write_statuses(self, updates: Sequence[StatusUpdate], attempt: int) -> list[None]:
        # Logged before Redis moves on: a retry after a failure finds the same changes
        # (and the log's ids make a second copy a duplicate).
        known = await self._live.statuses(sorted({u.dc_id for u in updates}))
        await log_changes(self._db, changes(known, updates))
        await self._live.set_statuses(updates)
        return [None] * len(updates)

    def _telemetry_write_failed(self, exc: BaseException, attempt: int) -> None:
        self.metrics.store_errors.labels(TELEMETRY).inc()
        self.store_failures.add()

    # -- housekeeping --------------------------------------------------------------------

    async def _prune_forever(self, retention_s: int) -> None:
        while True:
            await asyncio.sleep(_PRUNE_EVERY_S)  # a period, not a wait for an event
            try:
                await prune_telemetry(self._db, sorted(self.known_nodes.ids), retention_s)
            except Exception:
                log.exception("pruning old telemetry failed; next try in an hour")
