"""The nodes' status changes as ingest received them (collection `node_status_log`).

Redis holds each node's last status only, so a node that went offline and came back
while no API process watched leaves no trace there. Ingest logs every status message
that changes what it knew of the node (`changes`): a last will, a reconnect's `online`.
A retained status delivered again when ingest resubscribes says nothing new and is not
logged. A starting alert monitor replays what was logged since the store's last word on
each node (`vpp.api.live.alerts.restart_alerts`), then what is logged between its scans
(`StatusLogReader`, `replay_alerts`): a node's last will and its reconnect a moment
later fall between two scans of Redis.

A change's id is the node, the status and the time ingest received it, so a batch
written again after a failure stores each change once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pymongo import ASCENDING

from vpp.models import NodeStatus
from vpp.store.database import Database
from vpp.store.documents import NODE_STATUS_LOG
from vpp.store.live_state import StatusUpdate, epoch_ms, from_epoch_ms
from vpp.store.write_errors import insert_new


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


async def log_changes(db: Database, updates: Sequence[StatusUpdate]) -> int:
    """Store the changes not stored yet; how many were new."""
    if not updates:
        return 0
    docs = [
        {
            "_id": change_id(u),
            "dc_id": u.dc_id,
            "status": u.status.value,
            "at": from_epoch_ms(u.at_ms),
        }
        for u in updates
    ]
    return await insert_new(db[NODE_STATUS_LOG], docs)


async def changes_since(db: Database, since: datetime) -> list[StatusUpdate]:
    """The changes received after `since`, oldest first."""
    cursor = db[NODE_STATUS_LOG].find({"at": {"$gt": since}}).sort("at", ASCENDING)
    return [
        StatusUpdate(doc["dc_id"], NodeStatus(doc["status"]), epoch_ms(doc["at"]))
        async for doc in cursor
    ]


class StatusLogReader:
    """Reads the log call after call: the first call returns the changes received after
    `since`, each later one those logged since the call before. A change can reach the
    log after others received later (its batch was retried while the store was away), so
    each read reaches `LATE` back and skips what it returned before."""

    LATE = timedelta(minutes=2)

    def __init__(self, db: Database, since: datetime) -> None:
        self._db = db
        self._since = since
        self._returned: dict[str, int] = {}  # id -> epoch ms, within LATE of the newest

    async def read(self) -> list[StatusUpdate]:
        found = await changes_since(self._db, self._since)
        new = [c for c in found if change_id(c) not in self._returned]
        if not found:
            return new
        newest = max(c.at_ms for c in found)
        horizon = newest - int(self.LATE.total_seconds() * 1000)
        self._returned = {key: at for key, at in self._returned.items() if at > horizon} | {
            change_id(c): c.at_ms for c in found if c.at_ms > horizon
        }
        self._since = max(self._since, from_epoch_ms(horizon))
        return new


async def prune_changes(db: Database, cutoff: datetime) -> int:
    """Delete the changes of before `cutoff`; how many."""
    result = await db[NODE_STATUS_LOG].delete_many({"at": {"$lt": cutoff}})
    return int(result.deleted_count)
