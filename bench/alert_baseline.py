"""Alert-baseline benchmark: how long a starting API process takes to read what the store
last said of each node and of the grid (`vpp.store.alert_log.newest_node_alerts`,
`newest_grid_alert`), with a fleet's worth of alerts stored.

Not a test: run it against a running store, e.g. after `vpp stack up`:

    python -m bench.alert_baseline --nodes 20000 --per-node 10

In a database of its own (`<database>_bench_alert_baseline`, dropped at the end), it
stores `--per-node` offline/online alerts for each of `--nodes` nodes (alternating, three
days apart) and a grid alert, then reads the baseline `--repeat` times and prints each
read's time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

from vpp.config import get_settings
from vpp.store.alert_log import alert_id, newest_grid_alert, newest_node_alerts
from vpp.store.database import mongo_client
from vpp.store.documents import ALERTS, AlertKind, StoredAlert

INSERT_BATCH = 5_000


async def run(nodes: int, per_node: int, repeat: int) -> None:
    settings = get_settings()
    client = mongo_client(settings.mongo)
    db = client[f"{settings.mongo.database}_bench_alert_baseline"]
    try:
        await db[ALERTS].drop()
        await db[ALERTS].create_indexes(StoredAlert.Settings.indexes)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
        docs: list[dict[str, object]] = []
        for n in range(nodes):
            dc_id = f"node-{n:05d}"
            for k in range(per_node):
                kind = AlertKind.NODE_OFFLINE if k % 2 == 0 else AlertKind.NODE_ONLINE
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
        for _ in range(repeat):
            t0 = time.perf_counter()
            last = await newest_node_alerts(db)
            nodes_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            found = await newest_grid_alert(db)
            grid_ms = (time.perf_counter() - t0) * 1_000
            if len(last) != nodes or found is None:
                raise SystemExit(f"read {len(last)} of {nodes} nodes, grid {found}: wrong")
            print(
                f"each node's newest: {len(last)} nodes in {nodes_s:.2f} s; "
                f"the grid's newest: {grid_ms:.0f} ms"
            )
    finally:
        await client.drop_database(db.name)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20_000, help="nodes with alerts")
    parser.add_argument("--per-node", type=int, default=10, help="alerts stored per node")
    parser.add_argument("--repeat", type=int, default=3, help="reads of the baseline")
    args = parser.parse_args()
    asyncio.run(run(args.nodes, args.per_node, args.repeat))


if __name__ == "__main__":
    main()
