"""`MongoDispatchStore`: the dispatch's reads and writes in MongoDB, with raw pymongo
collections (the hot path: one bulk call per batch of node changes).

A node's first entry in `dispatch_log` is inserted, later changes update it by its
`_id` (the command id). Every write repeats cleanly: an insert that already happened
fails on the duplicate key and is skipped, an update sets the same values again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from vpp.dispatch.documents import DISPATCH_LOG, DISPATCHES
from vpp.dispatch.ids import command_id
from vpp.dispatch.measure import Sample
from vpp.dispatch.models import (
    DispatchRecordInput,
    DispatchSpec,
    NodeCommand,
    RecordNodesInput,
    RegisteredNode,
    since_ms,
)
from vpp.models import NodeKind
from vpp.store.database import Database
from vpp.store.documents import NODES, TELEMETRY
from vpp.store.write_errors import refused_but_duplicates

# SecantusDB answers `$in` in time growing with the square of its list (measured: 100 ids
# 13 ms, 1,000 ids 730 ms, where reading all 1,000 nodes takes 18 ms): ask in short lists,
# or read the whole registry when it is less than this many times the nodes wanted.
_IN_CHUNK = 100
_SCAN_RATIO = 5


def log_fields(spec: DispatchSpec, shard: int, node: NodeCommand, now: datetime) -> dict[str, Any]:
    """A node's `dispatch_log` fields (all but `_id`)."""
    created = spec.created_at
    return {
        "dc_id": node.dc_id,
        "action": spec.action.value,
        "params": spec.params.model_dump(),
        "issued_by": spec.issued_by,
        "timestamp": created,
        "status": node.status.value,
        "dispatch_id": spec.dispatch_id,
        "shard": shard,
        "attempts": node.attempts,
        "latency_ms": since_ms(created, node.status_at),
        "ack_latency_ms": since_ms(created, node.answered_at),
        "reason": node.reason,
        "applied_kw": node.applied_kw,
        "sent_at": node.sent_at,
        "accepted_at": node.accepted_at,
        "finished_at": node.finished_at,
        "node_accepted_at": node.node_accepted_at,
        "node_completed_at": node.node_completed_at,
        "measured_kw": node.measured_kw,
        "measured_ratio": node.measured_ratio,
        "measured_note": node.measured_note,
        "measured_samples": node.measured_samples,
        "updated_at": now,
    }


class MongoDispatchStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def registered_nodes(self, node_ids: Sequence[str] | None) -> list[RegisteredNode]:
        coll = self._db[NODES]
        projection = {"_id": 0, "dc_id": 1, "kind": 1, "capacity_kw": 1}
        wanted = None if node_ids is None else set(node_ids)
        queries: list[dict[str, Any]]
        if wanted is None or await coll.estimated_document_count() <= _SCAN_RATIO * len(wanted):
            queries = [{}]
        else:
            ids = sorted(wanted)
            queries = [
                {"dc_id": {"$in": ids[i : i + _IN_CHUNK]}} for i in range(0, len(ids), _IN_CHUNK)
            ]
        found = []
        for query in queries:
            async for doc in coll.find(query, projection):
                if wanted is not None and doc["dc_id"] not in wanted:
                    continue
                found.append(
                    RegisteredNode(
                        dc_id=doc["dc_id"],
                        kind=NodeKind(doc.get("kind", NodeKind.EDGE_DC.value)),
                        capacity_kw=float(doc.get("capacity_kw", 0.0)),
                    )
                )
        return found

    async def save_dispatch(self, record: DispatchRecordInput, now: datetime) -> None:
        spec = record.spec
        fields: dict[str, Any] = {
            "workflow_id": record.workflow_id,
            "action": spec.action.value,
            "params": spec.params.model_dump(),
            "issued_by": spec.issued_by,
            "created_at": spec.created_at,
            "deadline": spec.deadline,
            "status": record.status.value,
            "updated_at": now,
        }
        optional: dict[str, Any] = {
            "targets": record.targets,
            "node_count": record.node_count,
            "shard_count": record.shard_count,
            "counts": None if record.counts is None else record.counts.model_dump(),
            "reason": record.reason,
            "cancelled_by": None if record.cancel is None else record.cancel.requested_by,
            "finished_at": record.finished_at,
        }
        fields |= {k: v for k, v in optional.items() if v is not None}
        if record.problems:
            fields["problems"] = record.problems
        if record.notes:
            fields["notes"] = record.notes
        await self._db[DISPATCHES].update_one(
            {"_id": spec.dispatch_id}, {"$set": fields}, upsert=True
        )

    async def save_nodes(self, record: RecordNodesInput, now: datetime) -> None:
        spec, shard = record.spec, record.shard
        coll = self._db[DISPATCH_LOG]
        new = [n for n in record.nodes if not n.recorded]
        changed = [n for n in record.nodes if n.recorded]
        if new:
            docs = [
                {
                    "_id": command_id(spec.dispatch_id, shard, n.dc_id),
                    **log_fields(spec, shard, n, now),
                }
                for n in new
            ]
            try:
                await coll.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                # A repeated write (the activity ran again): those entries exist already.
                if refused_but_duplicates(exc):
                    raise
        if changed:
            await coll.bulk_write(
                [
                    UpdateOne(
                        {"_id": command_id(spec.dispatch_id, shard, n.dc_id)},
                        {"$set": log_fields(spec, shard, n, now)},
                        upsert=True,
                    )
                    for n in changed
                ],
                ordered=False,
            )
        await self._db[DISPATCHES].update_one(
            {"_id": spec.dispatch_id},
            {"$set": {f"shards.{shard}": record.counts.model_dump(), "updated_at": now}},
            upsert=True,
        )

    async def telemetry(
        self, dc_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Sample]]:
        by_node: dict[str, list[Sample]] = defaultdict(list)
        ids = list(dict.fromkeys(dc_ids))
        projection = {"_id": 0, "dc_id": 1, "timestamp": 1, "battery_kw": 1, "load_kw": 1}
        # One query per node, through the (dc_id, timestamp) index: SecantusDB answers from
        # an index only a query whose every field the index holds and whose `$in`, if any,
        # stands alone, so `$in` beside the time range scanned every reading kept.
        for dc_id in ids:
            query = {"dc_id": dc_id, "timestamp": {"$gte": start, "$lte": end}}
            async for doc in self._db[TELEMETRY].find(query, projection):
                by_node[dc_id].append(
                    Sample(doc["timestamp"], doc.get("battery_kw"), doc.get("load_kw"))
                )
        for samples in by_node.values():
            samples.sort(key=lambda s: s.timestamp)
        return dict(by_node)
