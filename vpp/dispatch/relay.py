"""`vpp ack-relay`: nodes' acks from MQTT to their dispatch shards as batched signals.

The relay subscribes `$share/<group>/<prefix>/nodes/+/ack` (QoS 1), so several relays
split the acks between them. An ack's command id (`<dispatch>:<shard>:<node>`) names
the shard workflow to signal; the node id comes from the topic, which only that node may
publish to (broker ACL), and must match the command id's. Acks bound for the same shard
are gathered for `linger_s` (or until `batch_size`) and sent as one `acks` signal, so
a large fleet's answers cost a few history events rather than one each.

Delivery: gmqtt runs with `optimistic_acknowledgement=False`, so an ack's PUBACK goes
to the broker only once the signal carrying it was accepted by Temporal; a relay that
dies before that gets the ack again (its session is persistent) or another relay of the
group does. The shard ignores repeats. A signal to a shard that no longer runs (a late
ack after the deadline) is dropped and counted. Temporal away: the signal is retried with
a growing wait, and unacknowledged acks hold the broker back (QoS 1 back-pressure).

Run it as `vpp ack-relay` (the lead wires `run`) or `python -m vpp.dispatch.relay`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import socket
from dataclasses import dataclass, field
from typing import Any, Protocol

from gmqtt import Client as MqttClient
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from vpp.bus.topics import NodeChannel, fleet_filter, shared_filter
from vpp.config import Settings, get_settings
from vpp.dispatch.ids import parse_command_id
from vpp.dispatch.models import AckBatch, NodeAck
from vpp.dispatch.ready import temporal_when_ready, until_ready
from vpp.dispatch.settings import dispatch_settings
from vpp.lifecycle import configure_logging, stop_on_signals
from vpp.models import Ack
from vpp.workflows.dispatch import DispatchShardWorkflow

log = logging.getLogger(__name__)

PUBACK_SUCCESS = 0
SUBSCRIBE_TIMEOUT_S = 10.0
MAX_CONCURRENT_SIGNALS = 16
_RETRY_INITIAL_S = 0.2
_RETRY_MAX_S = 5.0
_NODE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class AckSignaller(Protocol):
    async def signal(self, workflow_id: str, batch: AckBatch) -> bool:
        """Deliver the batch; False if the workflow is gone (finished or unknown)."""
        ...


class TemporalAckSignaller:
    def __init__(self, client: Client) -> None:
        self._client = client

    async def signal(self, workflow_id: str, batch: AckBatch) -> bool:
        try:
            await self._client.get_workflow_handle(workflow_id).signal(
                DispatchShardWorkflow.acks, batch
            )
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True


@dataclass
class RelayStats:
    received: int = 0
    forwarded: int = 0  # acks delivered in a signal
    late: int = 0  # acks for a shard that no longer runs
    invalid: int = 0  # not an ack this platform can route
    signals: int = 0
    signal_errors: int = 0  # failed attempts, retried


@dataclass
class _Batch:
    acks: list[NodeAck] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


def parse_ack(prefix: str, topic: str, payload: bytes) -> tuple[str, NodeAck] | str:
    """The shard workflow id and the ack, or why the message cannot be routed."""
    head, _, rest = topic.partition("/nodes/")
    node_id, _, channel = rest.partition("/")
    if head != prefix or channel != NodeChannel.ACK.value or not _NODE_ID.match(node_id):
        return f"not an ack topic: {topic!r}"
    try:
        ack = Ack.model_validate_json(payload)
    except ValidationError as exc:
        return f"invalid ack from {node_id}: {exc.errors()[0]['msg']}"
    ref = parse_command_id(ack.command_id)
    if ref is None:
        return f"{node_id}: command id {ack.command_id!r} is not a dispatch's"
    if ref.node_id != node_id:
        return f"{node_id} acked {ref.node_id}'s command {ack.command_id!r}"
    return ref.shard_workflow_id, NodeAck(
        dc_id=node_id,
        command_id=ack.command_id,
        status=ack.status,
        reason=ack.reason,
        applied_kw=ack.applied_kw,
        at=ack.at,
    )


class AckBatcher:
    """Gathers acks per shard workflow and delivers each batch as one signal. `submit`
    returns once the ack's batch was delivered (or found its shard gone)."""

    def __init__(
        self,
        signaller: AckSignaller,
        *,
        batch_size: int,
        linger_s: float,
        max_concurrent: int = MAX_CONCURRENT_SIGNALS,
    ) -> None:
        self._signaller = signaller
        self._batch_size = batch_size
        self._linger_s = linger_s
        self.stats = RelayStats()
        self._batches: dict[str, _Batch] = {}
        self._deliveries: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._closing = False

    async def submit(self, workflow_id: str, ack: NodeAck) -> None:
        loop = asyncio.get_running_loop()
        batch = self._batches.get(workflow_id)
        if batch is None:
            batch = self._batches[workflow_id] = _Batch()
        waiter: asyncio.Future[None] = loop.create_future()
        batch.acks.append(ack)
        batch.waiters.append(waiter)
        if len(batch.acks) >= self._batch_size or self._closing:
            self._flush(workflow_id)
        elif batch.timer is None:
            batch.timer = loop.call_later(self._linger_s, self._flush, workflow_id)
        await waiter

    async def close(self) -> None:
        """Deliver what is gathered now, and wait for every delivery under way."""
        self._closing = True
        for workflow_id in list(self._batches):
            self._flush(workflow_id)
        if self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    def _flush(self, workflow_id: str) -> None:
        batch = self._batches.pop(workflow_id, None)
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        task = asyncio.create_task(self._deliver(workflow_id, batch))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, workflow_id: str, batch: _Batch) -> None:
        signal_batch = AckBatch(acks=batch.acks)
        delay = _RETRY_INITIAL_S
        async with self._slots:
            while True:
                try:
                    delivered = await self._signaller.signal(workflow_id, signal_batch)
                    break
                except Exception as exc:
                    self.stats.signal_errors += 1
                    log.warning(
                        "signal to %s failed (retrying in %.1f s): %s", workflow_id, delay, exc
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_MAX_S)
        self.stats.signals += 1
        if delivered:
            self.stats.forwarded += len(batch.acks)
        else:
            self.stats.late += len(batch.acks)
            log.info("%d acks for %s, which no longer runs", len(batch.acks), workflow_id)
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)


class AckRelay:
    def __init__(
        self,
        settings: Settings,
        signaller: AckSignaller,
        *,
        client_id: str,
        share_group: str | None = None,
        batch_size: int | None = None,
        linger_s: float | None = None,
        session_expiry_s: int | None = None,
    ) -> None:
        options = dispatch_settings(settings)
        self._mqtt = settings.mqtt
        self._client_id = client_id
        self._group = share_group or options.ack_share_group
        self._batch_size = batch_size or options.ack_batch_size
        self._expiry_s = (
            options.ack_session_expiry_s if session_expiry_s is None else session_expiry_s
        )
        self._batcher = AckBatcher(
            signaller,
            batch_size=self._batch_size,
            linger_s=options.ack_linger_s if linger_s is None else linger_s,
        )
        self._client: MqttClient | None = None
        self._subscribed = asyncio.Event()

    @property
    def stats(self) -> RelayStats:
        return self._batcher.stats

    @property
    def topic_filter(self) -> str:
        return shared_filter(self._group, fleet_filter(self._mqtt.topic_prefix, NodeChannel.ACK))

    async def start(self) -> None:
        client = MqttClient(
            self._client_id,
            clean_session=False,
            optimistic_acknowledgement=False,
            session_expiry_interval=self._expiry_s,
            # The broker may send this many acks before the first is acknowledged: room to
            # fill a batch while the previous signal is under way.
            receive_maximum=min(65_535, 4 * self._batch_size),
        )
        client.set_auth_credentials(
            self._mqtt.service_username, self._mqtt.service_password.get_secret_value()
        )
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *args: self._subscribed.set()
        client.on_message = self._on_message
        client.set_config({"reconnect_delay": 1})
        self._client = client
        await client.connect(self._mqtt.host, self._mqtt.port)
        await asyncio.wait_for(self._subscribed.wait(), SUBSCRIBE_TIMEOUT_S)
        log.info("relaying acks from %s", self.topic_filter)

    async def stop(self) -> None:
        """Deliver what is batched, then leave."""
        await self._batcher.close()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()

    def _on_connect(self, client: MqttClient, flags: int, rc: int, properties: Any) -> None:
        # Every connect: a broker that lost the session has lost the subscription too.
        client.subscribe(self.topic_filter, qos=1)

    async def _on_message(
        self, client: MqttClient, topic: str, payload: bytes, qos: int, properties: Any
    ) -> int:
        stats = self._batcher.stats
        stats.received += 1
        parsed = parse_ack(self._mqtt.topic_prefix, topic, payload)
        if isinstance(parsed, str):
            stats.invalid += 1
            log.info("dropped: %s", parsed)
            return PUBACK_SUCCESS
        workflow_id, ack = parsed
        # The PUBACK goes when this returns: once the ack is in a delivered signal.
        await self._batcher.submit(workflow_id, ack)
        return PUBACK_SUCCESS


# -- the process ------------------------------------------------------------------------------


def client_id(instance: str | None) -> str:
    return f"vpp-ack-relay-{instance or socket.gethostname()}"


async def serve(
    settings: Settings, *, instance: str | None = None, stop: asyncio.Event | None = None
) -> None:
    """Relay until `stop` is set (by default on SIGINT or SIGTERM)."""
    stop = stop or stop_on_signals()
    temporal = await temporal_when_ready(settings.temporal)
    relay = AckRelay(settings, TemporalAckSignaller(temporal), client_id=client_id(instance))
    from vpp.dispatch.relay_metrics import serve_relay_metrics  # it imports this module

    serve_relay_metrics(lambda: relay.stats, settings.metrics.host, settings.metrics.ack_relay_port)
    await until_ready("the broker", relay.start)
    try:
        await stop.wait()
    finally:
        await relay.stop()
        log.info("stopped: %s", relay.stats)


def run(settings: Settings | None = None, *, instance: str | None = None) -> None:
    """Run one ack relay until SIGINT or SIGTERM (the `vpp ack-relay` command)."""
    configure_logging()
    asyncio.run(serve(settings or get_settings(), instance=instance))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vpp.dispatch.relay", description=__doc__)
    parser.add_argument("--instance", help="this relay's stable name (default: host name)")
    args = parser.parse_args(argv)
    run(instance=args.instance)


if __name__ == "__main__":
    main()
