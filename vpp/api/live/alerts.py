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
  `NODE_ONLINE`. A monitor that stores alerts also replays the status changes ingest
  logged since its last scan (`vpp.store.status_log`, `replay_alerts`): a last will
  and the reconnect a moment later fall between two scans.

Each alert carries the time of what showed it, not of its detection: the batch's newest
reading for the frequency, the status's time or the last reading plus the silence for a
node going offline, the reading that brought it back (as the scan finds it: a process
scanning later may find a later one). Every API process derives the same alerts from the
same data and stores them (`vpp.store.alert_log`, `start`): their copies share an id (a
return's names the going offline it ends, on which they agree), so the `alerts`
collection holds each once.

A process that stores alerts starts from what the store last said: each node's newest
offline/online alert, and the grid's band from its newest frequency alert. So its first
scan raises what changed while no process watched (a node that went offline meanwhile,
or came back), at the time of what showed it, and a restart raises nothing twice. A node
the store never mentioned counts as online until then. What happened and was undone
while no process watched (a node offline and back) leaves no trace in the live state;
it is replayed from the status changes ingest logged (`vpp.store.status_log`): a last
will raises `NODE_OFFLINE` at its time, a reconnect's `online` status `NODE_ONLINE` at
its own, and a silence between two readings `NODE_OFFLINE` when it began and
`NODE_ONLINE` at the reading that ended it. Without a store the monitor runs only
while someone subscribes, and its first scan is its baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from vpp.api.live.broadcaster import Broadcaster, LiveBatch
from vpp.api.live.cancellation import raise_if_cancelled
from vpp.api.live.keyed import NewestQueue
from vpp.bus.channels import RedisNames
from vpp.config import IngestSettings
from vpp.models import NodeStatus
from vpp.store.aggregate import FreqStatus, freq_status
from vpp.store.alert_log import (
    alert_id,
    newest_grid_alert,
    newest_node_alerts,
    prune_alerts,
    store_alerts,
)
from vpp.store.database import Database
from vpp.store.documents import AlertKind, AlertRecord
from vpp.store.live_state import (
    RawLiveState,
    RedisClient,
    StatusUpdate,
    epoch_ms,
    from_epoch_ms,
    is_online,
    silent_from_ms,
)
from vpp.store.status_log import StatusLogReader, prune_changes

log = logging.getLogger(__name__)

_SEVERITY = {FreqStatus.NORMAL: 0, FreqStatus.WARNING: 1, FreqStatus.CRITICAL: 2}


__all__ = [
    "Alert",
    "AlertKind",
    "AlertMonitor",
    "AlertMonitorCollector",
    "Presence",
    "frequency_alert",
    "newest_reading",
    "node_alerts",
    "presence",
    "restart_alerts",
]

# Alerts waiting for the store while it is away, at most; the oldest go first.
MAX_UNSTORED = 10_000
# Alerts held for a subscriber that falls behind; beyond it loses the oldest.
ALERT_QUEUE_SIZE = 1_000
STORE_RETRY_S = 5.0
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    at: datetime
    message: str
    dc_id: str | None = None
    freq: float | None = None
    freq_status: FreqStatus | None = None
    offline_since: datetime | None = None  # a node's return: since when it was offline

    @property
    def id(self) -> str:
        return alert_id(self.kind, self.dc_id, self.at, self.offline_since)

    def record(self) -> AlertRecord:
        return AlertRecord(
            kind=self.kind,
            at=self.at,
            message=self.message,
            dc_id=self.dc_id,
            freq=self.freq,
            freq_status=None if self.freq_status is None else self.freq_status.value,
            offline_since=self.offline_since,
        )


@dataclass(frozen=True)
class Presence:
    """A node's online state and since when (what showed it, in ms since the epoch)."""

    online: bool
    since_ms: int
    # Offline because its readings stopped, not because it (or its last will) said so.
    silent: bool = False


class AlertMonitorCollector(Collector):
    """The monitor's counts at scrape time (`vpp_api_alert_*`): a scan that fails again
    and again, or none for minutes, means this process stores no node alert."""

    def __init__(self, monitor: AlertMonitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[Metric]:
        m = self._monitor
        yield CounterMetricFamily("vpp_api_alert_scans", "Node scans for alerts done", m.scans)
        yield CounterMetricFamily(
            "vpp_api_alert_scan_failures",
            "Node scans for alerts that failed (the next one tries again)",
            m.scan_failures,
        )
        yield CounterMetricFamily("vpp_api_alerts_stored", "Alerts stored (new ids)", m.stored)
        yield CounterMetricFamily(
            "vpp_api_alert_store_failures",
            "Attempts to store alerts that failed (each is retried)",
            m.store_failures,
        )
        yield CounterMetricFamily(
            "vpp_api_alerts_unstorable",
            "Alerts left out because the store refused what they hold (each one logged)",
            m.unstorable,
        )
        last = GaugeMetricFamily(
            "vpp_api_alert_last_scan_seconds",
            "When the last node scan for alerts ended well (unix time; absent before one)",
        )
        if m.last_scan_at is not None:
            last.add_metric([], m.last_scan_at)
        yield last


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
        db: Database | None = None,
        retention: timedelta = timedelta(days=30),
    ) -> None:
        self._redis = redis
        self._names = names
        self._broadcaster = broadcaster
        self._ingest = ingest
        self._scan_s = scan_s
        self._db = db
        self._retention = retention
        self._queues: set[NewestQueue[Alert]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._always = False
        self._band = FreqStatus.NORMAL
        self._unstored: asyncio.Queue[Alert] = asyncio.Queue()
        self.stored = 0
        self.store_failures = 0  # attempts to store that failed (each is retried)
        self.unstorable = 0  # alerts the store refused for what they hold (left out)
        self._pruned_at: datetime | None = None
        self.scans = 0  # node scans done
        self.scan_failures = 0  # node scans that failed (the next one tries again)
        self.last_scan_at: float | None = None  # when the last scan ended well (unix s)
        # Set once the monitor listens to the live channel and has its baseline scan.
        self.ready = asyncio.Event()
        self._listening = asyncio.Event()
        # Set once the grid's band is what the store last said (or nothing was stored).
        self._seeded = asyncio.Event()
        # Status changes read from the log that no scan has replayed yet (oldest first).
        self._logged: list[StatusUpdate] = []

    def start(self) -> None:
        """Watch from now on, subscribers or not, storing every alert (needs a store)."""
        if self._db is None:
            raise RuntimeError("an alert monitor without a store watches for subscribers only")
        self._always = True
        if not self._tasks:
            self._start()

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[NewestQueue[Alert]]:
        queue: NewestQueue[Alert] = NewestQueue(ALERT_QUEUE_SIZE)
        self._queues.add(queue)
        if not self._tasks:
            self._start()
        try:
            yield queue
        finally:
            self._queues.discard(queue)
            if not self._queues and not self._always:
                self._stop_tasks()

    async def stop(self) -> None:
        self._always = False
        tasks = self._stop_tasks()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start(self) -> None:
        self._band = FreqStatus.NORMAL
        self.ready.clear()
        self._listening.clear()
        self._seeded.clear()
        self._logged = []
        self._tasks = [
            asyncio.create_task(self._watch_frequency(), name="alerts-frequency"),
            asyncio.create_task(self._watch_nodes(), name="alerts-nodes"),
        ]
        if self._db is not None and self._always:
            self._tasks.append(asyncio.create_task(self._store_forever(), name="alerts-store"))

    def _stop_tasks(self) -> list[asyncio.Task[None]]:
        self.ready.clear()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        return tasks

    def _emit(self, alert: Alert) -> None:
        for queue in list(self._queues):
            queue.put(alert)
        if self._always:
            if self._unstored.qsize() >= MAX_UNSTORED:
                dropped = self._unstored.get_nowait()
                log.warning("alerts: the store is away too long; not storing %s", dropped.id)
            self._unstored.put_nowait(alert)

    def on_batch(self, batch: LiveBatch) -> None:
        freqs = [r["freq"] for r in batch.readings if isinstance(r.get("freq"), int | float)]
        if not freqs:
            return
        alert, self._band = frequency_alert(
            self._band, float(statistics.median(freqs)), newest_reading(batch)
        )
        if alert is not None:
            self._emit(alert)

    async def _watch_frequency(self) -> None:
        await self._seeded.wait()
        with self._broadcaster.subscribe() as batches:
            self._listening.set()
            async for batch in batches:
                try:
                    self.on_batch(batch)
                except Exception:
                    # The live channel carries what any publisher sent: one odd batch must
                    # not end the grid's alerts for the life of the process.
                    log.exception("alerts: a live batch could not be judged; skipped")

    async def _watch_nodes(self) -> None:
        presence: dict[str, Presence] | None = None
        try:
            await self._seed_band()
        finally:
            self._seeded.set()
        last_known = await self._last_known()
        log_reader = self._log_reader(last_known)
        await self._listening.wait()
        while True:
            try:
                presence = await self._scan(presence, last_known, log_reader)
            except (RedisError, OSError) as exc:
                self.scan_failures += 1
                log.warning("node scan for alerts failed: %s", exc)
            except Exception:
                self.scan_failures += 1
                # Whatever the data held, the monitor must go on watching: a dead task
                # would stop every node alert of this process without a word.
                log.exception("node scan for alerts failed; the next scan tries again")
            raise_if_cancelled()
            await asyncio.sleep(self._scan_s)  # a period: a node going silent sends nothing

    async def _scan(
        self,
        presence: dict[str, Presence] | None,
        last_known: Mapping[str, Presence] | None,
        log_reader: StatusLogReader | None,
    ) -> dict[str, Presence]:
        """One scan: the alerts since the scan before (`presence`; at the first, since the
        store's `last_known`), emitted; what the next scan compares with."""
        # The log before Redis: ingest writes a change to the log first. What was read
        # stays until a scan uses it: a scan that fails after reading loses none of it.
        self._logged += await self._read_log(log_reader)
        current = await self._presence(epoch_ms(datetime.now(UTC)))
        logged = sorted(self._logged, key=lambda change: change.at_ms)
        self._logged = []
        alerts: list[Alert] = []
        if presence is not None:
            alerts, presence = replay_alerts(presence, current, logged)
        elif last_known is not None:
            alerts, presence = restart_alerts(last_known, current, logged)
        else:
            presence = current
        for alert in alerts:
            self._emit(alert)
        self.scans += 1
        self.last_scan_at = time.time()
        self.ready.set()
        return presence

    async def _seed_band(self) -> None:
        """Start from the grid's band the store last recorded (normal if none)."""
        if self._db is None or not self._always:
            return
        try:
            grid = await newest_grid_alert(self._db)
        except (PyMongoError, OSError) as exc:
            log.warning("alerts: the grid's last alert is unreadable, assuming normal: %s", exc)
            return
        if grid is not None and grid.kind is AlertKind.FREQUENCY_OUT_OF_BAND:
            self._band = FreqStatus(grid.freq_status or FreqStatus.WARNING.value)

    async def _last_known(self) -> dict[str, Presence] | None:
        """What the store last said of each node, when this monitor stores alerts; None,
        and the first scan is the baseline, otherwise."""
        if self._db is None or not self._always:
            return None
        try:
            nodes = await newest_node_alerts(self._db)
        except (PyMongoError, OSError) as exc:
            log.warning(
                "alerts: the stored alerts are unreadable, the first scan is the baseline: %s", exc
            )
            return None
        return {
            node_id: Presence(kind is AlertKind.NODE_ONLINE, epoch_ms(at))
            for node_id, (kind, at) in nodes.items()
        }

    def _log_reader(self, last_known: Mapping[str, Presence] | None) -> StatusLogReader | None:
        """A reader of the status log from the oldest of the store's last words (within
        the retention; from the retention's start if it has none). None without a last
        word: a monitor that does not store alerts has no baseline to replay from."""
        if self._db is None or last_known is None:
            return None
        since = datetime.now(UTC) - self._retention
        if last_known:
            since = max(since, from_epoch_ms(min(p.since_ms for p in last_known.values())))
        return StatusLogReader(self._db, since)

    async def _read_log(self, reader: StatusLogReader | None) -> list[StatusUpdate]:
        if reader is None:
            return []
        try:
            return await reader.read()
        except (PyMongoError, OSError) as exc:
            log.warning("alerts: the status log is unreadable, scanning Redis only: %s", exc)
            return []

    async def _store_forever(self) -> None:
        assert self._db is not None
        while True:
            batch = [await self._unstored.get()]
            while not self._unstored.empty() and len(batch) < 1_000:
                batch.append(self._unstored.get_nowait())
            try:
                await self._store(batch)
            except Exception:
                # Not the store being away (`_store` waits that out): something in the
                # batch the store cannot take, which would fail again on every retry and
                # hold back each later alert. Alone, such an alert costs only itself.
                log.exception("alerts: storing %d failed; storing them one by one", len(batch))
                for alert in batch:
                    try:
                        await self._store([alert])
                    except Exception:
                        self.unstorable += 1
                        # Cut short: what the store refused may be what is too large.
                        log.exception("alerts: %.200s cannot be stored; left out", alert.id)

    async def _store(self, alerts: list[Alert]) -> None:
        """Store `alerts` (and prune the old ones now and then), retrying while the store
        is away."""
        assert self._db is not None
        records = [a.record() for a in alerts]
        while True:
            try:
                self.stored += await store_alerts(self._db, records)
                now = datetime.now(UTC)
                if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                    await prune_alerts(self._db, now - self._retention)
                    await prune_changes(self._db, now - self._retention)
                    self._pruned_at = now
                return
            except (PyMongoError, OSError) as exc:
                self.store_failures += 1
                log.warning("alerts: storing %d failed, retrying: %s", len(records), exc)
                raise_if_cancelled()
                await asyncio.sleep(STORE_RETRY_S)  # a back-off: the store sends no event

    async def _presence(self, now_ms: int) -> dict[str, Presence]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(self._names.last_seen)
        pipe.hgetall(self._names.status)
        seen_raw, status_raw = await pipe.execute()
        seen = {_text(k): int(v) for k, v in seen_raw.items()}
        statuses = {_text(k): _text(v) for k, v in status_raw.items()}
        return {
            node_id: presence(
                RawLiveState(None, seen.get(node_id), *_parse_status(statuses.get(node_id))),
                now_ms,
                self._ingest.offline_after_s,
            )
            for node_id in set(seen) | set(statuses)
        }


def presence(state: RawLiveState, now_ms: int, offline_after_s: float) -> Presence:
    """Online or not, as the aggregate decides (`is_online`), and since what showed it:
    the last reading; an offline status (a last will) sent after it; or the last reading
    plus the silence that makes a node offline."""
    last, status, at = state.last_seen_ms, state.status, state.status_at_ms
    if is_online(state, now_ms, offline_after_s):
        return Presence(True, last or now_ms)
    if last is None:
        return Presence(False, at or now_ms)
    if status is NodeStatus.OFFLINE and at is not None and at >= last:
        return Presence(False, at)
    return Presence(False, silent_from_ms(last, offline_after_s), silent=True)


def node_alerts(before: Mapping[str, Presence], after: Mapping[str, Presence]) -> list[Alert]:
    """Alerts for the nodes whose online state changed between two scans, each at the
    time of what showed the change."""
    alerts = []
    for node_id in sorted(after):
        was, now = before.get(node_id), after[node_id]
        if was is None or was.online == now.online:
            continue
        at = from_epoch_ms(now.since_ms)
        if now.online:
            went = from_epoch_ms(was.since_ms)
            message = f"{node_id} is back online after {_duration(at - went)} offline"
            alerts.append(Alert(AlertKind.NODE_ONLINE, at, message, node_id, offline_since=went))
        else:
            why = "its readings stopped" if now.silent else "it disconnected"
            message = f"{node_id} went offline: {why}"
            alerts.append(Alert(AlertKind.NODE_OFFLINE, at, message, node_id))
    return alerts


def replay_alerts(
    before: Mapping[str, Presence],
    now: Mapping[str, Presence],
    logged: Sequence[StatusUpdate] = (),
) -> tuple[list[Alert], dict[str, Presence]]:
    """The alerts between two scans (`before`, `now`), with the status changes ingest
    `logged` in between (oldest first) replayed on the way, so a node offline and back
    between the scans is alerted at both times; and what the next scan compares with.

    A change older than what `before` knew of its node is superseded; a node first seen
    `now` raises nothing. Ingest logs a change just before Redis takes it, so a scan can
    find a change in the log that Redis does not show yet (`now` older than the change):
    the change stands, and the next scan compares with it."""
    replayed = dict(before)
    changed: set[str] = set()
    alerts: list[Alert] = []
    for change in logged:
        was = replayed.get(change.dc_id)
        if was is None or change.at_ms <= was.since_ms:
            continue
        then = Presence(change.status is NodeStatus.ONLINE, change.at_ms, change.silent)
        if then.online != was.online:
            alerts += node_alerts({change.dc_id: was}, {change.dc_id: then})
            replayed[change.dc_id] = then
            changed.add(change.dc_id)
    baseline: dict[str, Presence] = {}
    for node, seen in now.items():
        was = replayed.get(node)
        if was is None or was.online == seen.online:
            baseline[node] = seen
        elif node in changed and seen.since_ms < was.since_ms:
            baseline[node] = was
        else:
            # Never before the change it follows: a node that said `online` and then
            # sent nothing is offline from then on, not from before it.
            settled = Presence(seen.online, max(seen.since_ms, was.since_ms), seen.silent)
            alerts += node_alerts({node: was}, {node: settled})
            baseline[node] = settled
    return sorted(alerts, key=lambda a: (a.at, a.dc_id or "")), baseline


def restart_alerts(
    last_known: Mapping[str, Presence],
    now: Mapping[str, Presence],
    logged: Sequence[StatusUpdate] = (),
) -> tuple[list[Alert], dict[str, Presence]]:
    """The alerts a first scan owes for what changed while no process watched: each node
    from what the store last said of it (one it never mentioned was online), through the
    status changes ingest `logged` after that, to what it is `now`."""
    assumed = Presence(online=True, since_ms=0)
    nodes = set(now) | {change.dc_id for change in logged}
    return replay_alerts({n: last_known.get(n, assumed) for n in nodes}, now, logged)


def _duration(span: timedelta) -> str:
    """e.g. 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 1:
        return "under 1 s"  # a last will and the reconnect right behind it
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def newest_reading(batch: LiveBatch) -> datetime:
    """The time of the batch's newest reading (now, if none parses)."""
    times = []
    for reading in batch.readings:
        with contextlib.suppress(TypeError, ValueError):
            times.append(datetime.fromisoformat(str(reading.get("timestamp"))))
    aware = [t for t in times if t.tzinfo is not None]
    return max(aware) if aware else datetime.now(UTC)


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
