"""The nodes' status changes as ingest received them (collection `node_status_log`).

Redis holds each node's last status only, so a node that went offline and came back
while no API process watched leaves no trace there. Ingest logs every status message
that changes what it knew of the node (`changes`): a last will, a reconnect's `online`.
A retained status delivered again when ingest resubscribes says nothing new and is not
logged. A starting alert monitor replays what was logged since the store's last word on
each node (`vpp.api.live.alerts.restart_alerts`), then what is logged between its scans
(`StatusLogReader`, `replay_alerts`): a node's last will and its reconnect a moment
later fall between two scans of Redis.

A node can also fall silent without a last will: it stays connected and sends nothing
(a hung meter), or it drops off and its will comes a keepalive later. Ingest logs such a
silence when the node's readings resume (`silences`, `SilenceLog`): more than
`offline_after_s` between two of its readings, by their timestamps and by when ingest
received them, is an `offline` at the first plus that silence and an `online` at the
second. Readings a broker or an edge buffer held through an outage of the platform
arrive late but stamped without a gap, and raise nothing.

A change's id is the node, the status and its time (when ingest received a status
message, or what the readings showed), so a batch written again after a failure stores
each change once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING

from vpp.models import NodeStatus
from vpp.store.database import Database
from vpp.store.documents import NODE_STATUS_LOG
from vpp.store.live_state import (
    Heard,
    LiveReading,
    LiveStateWriter,
    StatusUpdate,
    epoch_ms,
    from_epoch_ms,
    silent_from_ms,
)
from vpp.store.write_errors import insert_new

log = logging.getLogger(__name__)


def change_id(update: StatusUpdate) -> str:
    return f"{update.dc_id}:{update.status.value}:{update.at_ms}"


def changes(
    known: Mapping[str, NodeStatus | None], updates: Sequence[StatusUpdate]
) -> list[StatusUpdate]:
    """The updates that change a node's status from what was `known` (in order: each one
    against the last before it, within the batch too)."""
    current = dict(known)
    out = []
    for update in updates:
        if current.get(update.dc_id) is not update.status:
            out.append(update)
        current[update.dc_id] = update.status
    return out


def silences(
    heard: Mapping[str, Heard],
    readings: Sequence[LiveReading],
    received_ms: int,
    offline_after_s: float,
) -> list[StatusUpdate]:
    """The silences a batch of `readings` received at `received_ms` ends. A node was
    silent if nothing came from it for more than `offline_after_s` by both clocks: its
    first reading here newer than what it was last `heard` of is stamped that much after
    it, and the batch arrives that much after the last. Then it went offline when the
    silence began and came back at that reading.

    By its own clock alone, readings that a broker or an edge buffer held through an outage
    of the platform would not count, but a simulator running faster than real time would
    seem silent between every two readings; by ingest's clock alone, every held reading
    would count. Readings that arrive together end no silence among themselves."""
    first_new: dict[str, int] = {}
    for r in readings:
        before = heard.get(r.dc_id)
        if before is not None and r.timestamp_ms > before.timestamp_ms:
            first_new[r.dc_id] = min(first_new.get(r.dc_id, r.timestamp_ms), r.timestamp_ms)
    gap_ms = offline_after_s * 1000
    out = []
    for node, ts in sorted(first_new.items()):
        before = heard[node]
        if ts - before.timestamp_ms > gap_ms and received_ms - before.received_ms > gap_ms:
            went = silent_from_ms(before.timestamp_ms, offline_after_s)
            out += [
                StatusUpdate(node, NodeStatus.OFFLINE, went, silent=True),
                StatusUpdate(node, NodeStatus.ONLINE, ts),
            ]
    return out


class SilenceLog:
    """Ingest's side: logs the silences each stored batch ends, before Redis takes the
    batch, so a batch whose log failed leaves Redis as it was and the node's next reading
    finds the gap again."""

    def __init__(self, db: Database, live: LiveStateWriter, offline_after_s: float) -> None:
        self._db = db
        self._live = live
        self._offline_after_s = offline_after_s

    async def log(self, readings: Sequence[LiveReading], received_ms: int) -> int:
        """Log the silences `readings`, received at `received_ms`, end; how many changes
        were new."""
        if not readings:
            return 0
        heard = await self._live.heard(sorted({r.dc_id for r in readings}))
        found = silences(heard, readings, received_ms, self._offline_after_s)
        return await log_changes(self._db, found) if found else 0


async def log_changes(db: Database, updates: Sequence[StatusUpdate]) -> int:
    """Store the changes not stored yet; how many were new."""
    logged_at = datetime.now(UTC)
    docs = [
        {
            "_id": change_id(u),
            "dc_id": u.dc_id,
            "status": u.status.value,
            "at": from_epoch_ms(u.at_ms),
            "logged_at": logged_at,
            "silent": u.silent,
        }
        for u in updates
    ]
    return await insert_new(db[NODE_STATUS_LOG], docs)


@dataclass(frozen=True)
class LoggedChange:
    change: StatusUpdate
    logged_at: datetime


async def changes_logged_after(db: Database, after: datetime) -> list[LoggedChange]:
    """The changes logged after `after` (by the ingester's clock), oldest received first."""
    found = await _find(db, {"logged_at": {"$gt": after}}, "logged_at")
    return sorted(found, key=lambda c: c.change.at_ms)


async def _find(db: Database, query: dict[str, Any], order: str) -> list[LoggedChange]:
    cursor = db[NODE_STATUS_LOG].find(query).sort(order, ASCENDING)
    found = [_logged_change(doc) async for doc in cursor]
    return [c for c in found if c is not None]


def _logged_change(doc: Mapping[str, Any]) -> LoggedChange | None:
    """The change a log document holds; None, with a warning, if it holds none a reader
    can use (one bad document must not stop every alert after it)."""
    try:
        at = doc["at"]
        change = StatusUpdate(
            str(doc["dc_id"]),
            NodeStatus(doc["status"]),
            epoch_ms(at),
            silent=bool(doc.get("silent", False)),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        log.warning("node_status_log: skipping %r, not a status change: %r", doc.get("_id"), exc)
        return None
    # Changes logged before the log kept when they were logged: as if logged on receipt.
    logged_at = doc.get("logged_at")
    return LoggedChange(change, logged_at if isinstance(logged_at, datetime) else at)


class StatusLogReader:
    """Reads the log call after call: the first call returns the changes received after
    `since`, each later one those (received after `since`) logged since the call before,
    by when ingest logged them, so a change whose batch was written late (retried while
    the store was away) is read once it is written. Each read reaches `OVERLAP` back (the
    ingesters' clocks, inserts in flight) and skips what it returned before."""

    OVERLAP = timedelta(seconds=10)

    def __init__(self, db: Database, since: datetime) -> None:
        self._db = db
        self._since = since
        self._logged_after: datetime | None = None
        self._returned: dict[str, datetime] = {}  # id -> logged_at, within the overlap

    async def read(self) -> list[StatusUpdate]:
        started = datetime.now(UTC)
        if self._logged_after is None:
            found = await _find(self._db, {"at": {"$gt": self._since}}, "at")
        else:
            found = await changes_logged_after(self._db, self._logged_after)
        since_ms = epoch_ms(self._since)
        new = [
            c.change
            for c in found
            if c.change.at_ms > since_ms and change_id(c.change) not in self._returned
        ]
        self._logged_after = started - self.OVERLAP
        floor = self._logged_after
        self._returned = {k: t for k, t in self._returned.items() if t > floor} | {
            change_id(c.change): c.logged_at for c in found if c.logged_at > floor
        }
        return new


async def prune_changes(db: Database, cutoff: datetime) -> int:
    """Delete the changes of before `cutoff`; how many."""
    result = await db[NODE_STATUS_LOG].delete_many({"at": {"$lt": cutoff}})
    return int(result.deleted_count)
