"""Fleet-history benchmark: how long the dashboard's reads of the fleet's recorded minutes
take with the retention's worth of minutes stored.

Not a test: run it against a running store, e.g. after `vpp stack up`:

    python -m bench.fleet_history --days 30

In a database of its own (`<database>_bench_fleet_history`, dropped at the end), it stores
`--days` of minutes as the API's recorder does (`vpp.store.fleet_history`), then reads the
Fleet page's three ranges (the last hour by minute, day by 15 minutes, week by hour)
`--repeat` times each and prints each read's time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

from vpp.config import get_settings
from vpp.store.database import mongo_client
from vpp.store.documents import FLEET_HISTORY, FleetMinute
from vpp.store.fleet_history import minute_of, read_points
from vpp.store.telemetry_queries import Bucket

RANGES = [
    ("hour by minute", timedelta(hours=1), Bucket.MINUTE),
    ("day by 15 minutes", timedelta(days=1), Bucket.FIFTEEN_MINUTES),
    ("week by hour", timedelta(days=7), Bucket.HOUR),
]
INSERT_BATCH = 5_000


async def run(days: int, repeat: int) -> None:
    settings = get_settings()
    client = mongo_client(settings.mongo)
    db = client[f"{settings.mongo.database}_bench_fleet_history"]
    try:
        await db[FLEET_HISTORY].drop()
        await db[FLEET_HISTORY].create_indexes(FleetMinute.Settings.indexes)
        end = minute_of(datetime.now(UTC))
        start = end - timedelta(days=days)
        minutes = days * 1_440
        # As `record_minute` stores them: 20,000 nodes, a power that varies by the minute.
        ats = [start + timedelta(minutes=m) for m in range(minutes)]
        docs = [
            {
                "_id": at,
                "at": at,
                "total_power_kw": 1_000.0 + m % 60,
                "avg_soc": 60.0,
                "avg_freq": 50.0,
                "node_count": 20_000,
                "online_nodes": 19_990,
            }
            for m, at in enumerate(ats)
        ]
        t0 = time.perf_counter()
        for i in range(0, len(docs), INSERT_BATCH):
            await db[FLEET_HISTORY].insert_many(docs[i : i + INSERT_BATCH])
        print(f"stored {minutes} minutes ({days} days) in {time.perf_counter() - t0:.1f} s")
        for label, span, bucket in RANGES:
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                points = await read_points(db, end - span, end, bucket)
                times.append((time.perf_counter() - t0) * 1_000)
            shown = ", ".join(f"{t:.0f}" for t in times)
            print(f"{label}: {len(points)} points, {shown} ms")
    finally:
        await client.drop_database(db.name)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="minutes stored (the retention)")
    parser.add_argument("--repeat", type=int, default=5, help="reads of each range")
    args = parser.parse_args()
    asyncio.run(run(args.days, args.repeat))


if __name__ == "__main__":
    main()
