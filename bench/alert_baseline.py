"""Alert-baseline benchmark: how long a starting API process takes to read what the store
last said of each node and of the grid (`vpp.store.alert_log.newest_node_alerts`,
`newest_grid_alert`), with a fleet's worth of alerts stored, and to replay the status
changes ingest logged since (`vpp.store.status_log.StatusLogReader`,
`vpp.api.live.alerts.restart_alerts`).

Not a test: run it against a running store, e.g. after `vpp stack up`:

    python -m bench.alert_baseline --nodes 20000 --per-node 10 --logged 2

In a database of its own (`<database>_bench_alert_baseline`, dropped at the end), it
stores `--per-node` offline/online alerts for each of `--nodes` nodes (alternating, three
days apart, the last one `online`) and a grid alert, and `--logged` status changes per
node after its last alert (offline, online, ...: nodes that went away and came back
while no process watched); then reads the baseline and replays the log `--repeat`
times and prints each step's time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

from vpp.api.live.alerts import Presence, restart_alerts
from vpp.config import get_settings
from vpp.models import NodeStatus
from vpp.store.alert_log import alert_id, newest_grid_alert, newest_node_alerts
from vpp.store.database import mongo_client
from vpp.store.documents import ALERTS, NODE_STATUS_LOG, AlertKind, StoredAlert, StoredStatusChange
from vpp.store.live_state import StatusUpdate, epoch_ms
from vpp.store.status_log import StatusLogReader, log_changes

INSERT_BATCH = 5_000


async def run(nodes: int, per_node: int, logged: int, repeat: int) -> None:
    settings = get_settings()
    client = mongo_client(settings.mongo)
    db = client[f"{settings.mongo.database}_bench_alert_baseline"]
    try:
        await db[ALERTS].drop()
        await db[ALERTS].create_indexes(StoredAlert.Settings.indexes)
        await db[NODE_STATUS_LOG].drop()
        await db[NODE_STATUS_LOG].create_indexes(StoredStatusChange.Settings.indexes)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
        docs: list[dict[str, object]] = []
        changes: list[StatusUpdate] = []
        for n in range(nodes):
            dc_id = f"node-{n:05d}"
            for k in range(per_node):
                kind = AlertKind.NODE_ONLINE if (per_node - k) % 2 else AlertKind.NODE_OFFLINE
                at = start + timedelta(days=3 * k, seconds=n % 3_600)
                docs.append(
                    {
                        "_id": alert_id(kind, dc_id, at),
                        "kind": kind.value,
                        "at": at,
                        "message": f"{dc_id} {kind.value}",
                        "dc_id": dc_id,
                    }
                )
        grid_at = start + timedelta(days=1)
        grid = AlertKind.FREQUENCY_RESTORED
        docs.append(
            {
                "_id": alert_id(grid, None, grid_at),
                "kind": grid.value,
                "at": grid_at,
                "message": "back to normal",
                "dc_id": None,
            }
        )
        t0 = time.perf_counter()
        for i in range(0, len(docs), INSERT_BATCH):
            await db[ALERTS].insert_many(docs[i : i + INSERT_BATCH])
        print(f"stored {len(docs)} alerts of {nodes} nodes in {time.perf_counter() - t0:.1f} s")
        last_alert = start + timedelta(days=3 * (per_node - 1))
        for n in range(nodes):
            for k in range(logged):
                status = NodeStatus.OFFLINE if k % 2 == 0 else NodeStatus.ONLINE
                at = last_alert + timedelta(hours=1 + k, seconds=n % 3_600)
                changes.append(StatusUpdate(f"node-{n:05d}", status, epoch_ms(at)))
        for i in range(0, len(changes), INSERT_BATCH):
            await log_changes(db, changes[i : i + INSERT_BATCH])
        # What the live state says now: every node online, as it was last alerted.
        now = {f"node-{n:05d}": Presence(True, epoch_ms(datetime.now(UTC))) for n in range(nodes)}
        for _ in range(repeat):
            t0 = time.perf_counter()
            last = await newest_node_alerts(db)
            nodes_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            found = await newest_grid_alert(db)
            grid_ms = (time.perf_counter() - t0) * 1_000
            if len(last) != nodes or found is None:
                raise SystemExit(f"read {len(last)} of {nodes} nodes, grid {found}: wrong")
            t0 = time.perf_counter()
            since = min(at for _, at in last.values())
            replay = await StatusLogReader(db, since).read()
            read_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            known = {
                n: Presence(k is AlertKind.NODE_ONLINE, epoch_ms(at)) for n, (k, at) in last.items()
            }
            alerts, _ = restart_alerts(known, now, replay)
            replay_s = time.perf_counter() - t0
            if len(replay) != len(changes) or len(alerts) != nodes * (logged + logged % 2):
                raise SystemExit(f"replayed {len(replay)} changes into {len(alerts)} alerts: wrong")
            print(
                f"each node's newest: {len(last)} nodes in {nodes_s:.2f} s; "
                f"the grid's newest: {grid_ms:.0f} ms; "
                f"the log since: {len(replay)} changes in {read_s:.2f} s, "
                f"replayed into {len(alerts)} alerts in {replay_s:.2f} s"
            )
    finally:
        await client.drop_database(db.name)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20_000, help="nodes with alerts")
    parser.add_argument("--per-node", type=int, default=10, help="alerts stored per node")
    parser.add_argument(
        "--logged", type=int, default=2, help="status changes logged per node since"
    )
    parser.add_argument("--repeat", type=int, default=3, help="reads of the baseline")
    args = parser.parse_args()
    asyncio.run(run(args.nodes, args.per_node, args.logged, args.repeat))


if __name__ == "__main__":
    main()
