"""Alerts derived from the live data, for the `alerts` subscription.

- Grid frequency: every node of one synchronous grid sees the same frequency, so the
  alert is the fleet's, not a node's (20,000 nodes would otherwise raise 20,000 alerts
  for one event). For each live batch, the median of its readings' frequency is put in
  the store's bands (`vpp.store.aggregate.freq_status`: normal within ±0.1 Hz, warning
  within ±0.2 Hz, critical beyond); a change of band raises `FREQUENCY_OUT_OF_BAND` (to
  warning or critical, or from warning to critical) or `FREQUENCY_RESTORED` (back to
  normal).
- Nodes: every `scan_s` the monitor reads when each node was last heard of and its last
  status, and decides online/offline exactly as the aggregate does
  (`vpp.store.live_state.is_online`); a node going from online to offline raises
  `NODE_OFFLINE` (silent for `offline_after_s`, or its last will said so), and back
  `NODE_ONLINE`. The first scan is the baseline and raises nothing.

The monitor runs only while someone subscribes. Each API process derives the same alerts
from the same data. Alerts are not stored: the design's `alerts` collection wants one
writer (the ingester, which sees every reading and status first), not every API process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from redis.exceptions import RedisError

from vpp.api.live.broadcaster import Broadcaster, LiveBatch
from vpp.bus.channels import RedisNames
from vpp.config import IngestSettings
from vpp.models import NodeStatus
from vpp.store.aggregate import FreqStatus, freq_status
from vpp.store.live_state import RawLiveState, RedisClient, epoch_ms, is_online

log = logging.getLogger(__name__)

_SEVERITY = {FreqStatus.NORMAL: 0, FreqStatus.WARNING: 1, FreqStatus.CRITICAL: 2}


class AlertKind(StrEnum):
    NODE_OFFLINE = "node_offline"
    NODE_ONLINE = "node_online"
    FREQUENCY_OUT_OF_BAND = "frequency_out_of_band"
    FREQUENCY_RESTORED = "frequency_restored"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    at: datetime
    message: str
    dc_id: str | None = None
    freq: float | None = None
    freq_status: FreqStatus | None = None


class AlertQueue:
    def __init__(self, maxsize: int = 1_000) -> None:
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize)

    def put(self, alert: Alert) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(alert)

    async def get(self) -> Alert:
        return await self._queue.get()


def frequency_alert(
    band: FreqStatus, freq: float, now: datetime
) -> tuple[Alert | None, FreqStatus]:
    """The alert (if any) of a grid frequency `freq` seen while in `band`, and the new band.

    Out of band when the band worsens (normal -> warning -> critical); restored when it
    returns to normal; easing from critical to warning raises nothing.
    """
    current = freq_status(freq)
    if current is FreqStatus.UNKNOWN or current is band:
        return None, band
    if current is FreqStatus.NORMAL:
        restored = Alert(
            AlertKind.FREQUENCY_RESTORED,
            now,
            f"grid frequency back to normal: {freq:.3f} Hz",
            freq=freq,
            freq_status=current,
        )
        return restored, current
    if _SEVERITY[current] < _SEVERITY.get(band, 0):
        return None, current
    out = Alert(
        AlertKind.FREQUENCY_OUT_OF_BAND,
        now,
        f"grid frequency {freq:.3f} Hz is {current.value} (50 Hz nominal)",
        freq=freq,
        freq_status=current,
    )
    return out, current


class AlertMonitor:
    def __init__(
        self,
        redis: RedisClient,
        names: RedisNames,
        broadcaster: Broadcaster,
        ingest: IngestSettings,
        *,
        scan_s: float = 5.0,
    ) -> None:
        self._redis = redis
        self._names = names
        self._broadcaster = broadcaster
        self._ingest = ingest
        self._scan_s = scan_s
        self._queues: set[AlertQueue] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._band = FreqStatus.NORMAL
        # Set once the monitor listens to the live channel and has its baseline scan.
        self.ready = asyncio.Event()
        self._listening = asyncio.Event()

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[AlertQueue]:
        queue = AlertQueue()
        self._queues.add(queue)
        if not self._tasks:
            self._start()
        try:
            yield queue
        finally:
            self._queues.discard(queue)
            if not self._queues:
                self._stop_tasks()

    async def stop(self) -> None:
        tasks = self._stop_tasks()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start(self) -> None:
        self._band = FreqStatus.NORMAL
        self.ready.clear()
        self._listening.clear()
        self._tasks = [
            asyncio.create_task(self._watch_frequency(), name="alerts-frequency"),
            asyncio.create_task(self._watch_nodes(), name="alerts-nodes"),
        ]

    def _stop_tasks(self) -> list[asyncio.Task[None]]:
        self.ready.clear()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        return tasks

    def _emit(self, alert: Alert) -> None:
        for queue in list(self._queues):
            queue.put(alert)

    def on_batch(self, batch: LiveBatch) -> None:
        freqs = [r["freq"] for r in batch.readings if isinstance(r.get("freq"), int | float)]
        if not freqs:
            return
        alert, self._band = frequency_alert(
            self._band, float(statistics.median(freqs)), datetime.now(UTC)
        )
        if alert is not None:
            self._emit(alert)

    async def _watch_frequency(self) -> None:
        with self._broadcaster.subscribe() as batches:
            self._listening.set()
            async for batch in batches:
                self.on_batch(batch)

    async def _watch_nodes(self) -> None:
        online: dict[str, bool] | None = None
        await self._listening.wait()
        while True:
            try:
                now = datetime.now(UTC)
                current = await self._online_map(epoch_ms(now))
            except (RedisError, OSError) as exc:
                log.warning("node scan for alerts failed: %s", exc)
            else:
                if online is not None:
                    for alert in node_alerts(online, current, now):
                        self._emit(alert)
                online = current
                self.ready.set()
            await asyncio.sleep(self._scan_s)  # a period: a node going silent sends nothing

    async def _online_map(self, now_ms: int) -> dict[str, bool]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(self._names.last_seen)
        pipe.hgetall(self._names.status)
        seen_raw, status_raw = await pipe.execute()
        seen = {_text(k): int(v) for k, v in seen_raw.items()}
        statuses = {_text(k): _text(v) for k, v in status_raw.items()}
        result = {}
        for node_id in set(seen) | set(statuses):
            status, at = _parse_status(statuses.get(node_id))
            state = RawLiveState(None, seen.get(node_id), status, at)
            result[node_id] = is_online(state, now_ms, self._ingest.offline_after_s)
        return result


def node_alerts(before: dict[str, bool], after: dict[str, bool], now: datetime) -> list[Alert]:
    """Alerts for the nodes whose online state changed between two scans."""
    alerts = []
    for node_id in sorted(after):
        was, now_online = before.get(node_id), after[node_id]
        if was is True and not now_online:
            alerts.append(Alert(AlertKind.NODE_OFFLINE, now, f"{node_id} went offline", node_id))
        elif was is False and now_online:
            alerts.append(Alert(AlertKind.NODE_ONLINE, now, f"{node_id} is back online", node_id))
    return alerts


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _parse_status(raw: str | None) -> tuple[NodeStatus | None, int | None]:
    if raw is None:
        return None, None
    value, _, at = raw.partition(":")
    try:
        return NodeStatus(value), int(at)
    except ValueError:
        return None, None
