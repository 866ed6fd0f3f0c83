"""The alerts as they happened (collection `alerts`): nodes going offline and back, the
grid's frequency leaving its band and returning (`vpp.api.live.alerts` derives them).

Each API process derives the same alerts from the same data, and each stores what it
derives. An alert's id is what happened and when (`alert_id`), its time the event's own
(the reading or status that showed it), so the processes' copies are one document: the
first insert stores it, the others are duplicates, not errors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from pymongo import DESCENDING

from vpp.store.database import Database
from vpp.store.documents import ALERTS, AlertKind, AlertRecord
from vpp.store.write_errors import insert_new

log = logging.getLogger(__name__)

NODE_KINDS = (AlertKind.NODE_OFFLINE, AlertKind.NODE_ONLINE)


def alert_id(
    kind: AlertKind, dc_id: str | None, at: datetime, offline_since: datetime | None = None
) -> str:
    """What happened, to whom, when (to the millisecond the store keeps). A node's return
    is named by the going offline it ends: processes agree on when a node went offline
    (its last will, or its last reading plus the silence), but each sees a return at its
    own scan, by then past another of the node's readings."""
    if kind is AlertKind.NODE_ONLINE and offline_since is not None:
        at = offline_since
    return f"{kind.value}:{dc_id or 'grid'}:{int(at.timestamp() * 1000)}"


async def store_alerts(db: Database, alerts: Sequence[AlertRecord]) -> int:
    """Insert the alerts another process has not stored yet; how many were new."""
    docs = [
        {"_id": alert_id(a.kind, a.dc_id, a.at, a.offline_since), **a.model_dump()} for a in alerts
    ]
    return await insert_new(db[ALERTS], docs)


async def prune_alerts(db: Database, cutoff: datetime) -> int:
    """Delete the alerts of before `cutoff`; how many."""
    result = await db[ALERTS].delete_many({"at": {"$lt": cutoff}})
    return int(result.deleted_count)


async def newest_node_alerts(db: Database) -> dict[str, tuple[AlertKind, datetime]]:
    """Each node's newest offline or online alert (its kind and time): what the node was
    last known to be. Read once as an API process starts; it scans the node alerts kept
    (3.8 s for 200,000 on SecantusDB, `bench.alert_baseline`), so it groups on the server
    and returns only the newest of each."""
    cursor = await db[ALERTS].aggregate(
        [
            {"$match": {"kind": {"$in": [k.value for k in NODE_KINDS]}}},
            # Documents compare field by field: the newest `at` wins.
            {"$group": {"_id": "$dc_id", "last": {"$max": {"at": "$at", "kind": "$kind"}}}},
        ]
    )
    return {
        row["_id"]: (AlertKind(row["last"]["kind"]), row["last"]["at"])
        async for row in cursor
        if row["_id"] is not None
    }


async def newest_grid_alert(db: Database) -> AlertRecord | None:
    """The grid frequency's newest alert (the grid's alerts are those of no node): the
    band it was last known to be in."""
    doc = await db[ALERTS].find_one({"dc_id": None}, sort=[("at", DESCENDING)])
    return None if doc is None else AlertRecord.model_validate(doc)
