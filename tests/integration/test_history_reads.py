"""Reading the hourly history on the real store: any number of nodes comes back whole,
however the read is cut into queries, and "every node" leaves the site out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from tests.integration.forecast_support import fdb
from vpp.ml.forecast.documents import SITE_SERIES
from vpp.ml.forecast.history import day_documents, read_series, replace_days
from vpp.store.database import Database

__all__ = ["fdb"]

DAY = datetime(2026, 10, 1, tzinfo=UTC)
NODES = [f"read-{n:03d}" for n in range(250)]  # more than one query's worth of ids


async def test_every_node_asked_for_is_read_whole_and_the_site_only_when_named(
    fdb: Database,
) -> None:
    db = fdb.client[f"{fdb.name}_reads"]  # a store holding only these nodes
    try:
        docs = [
            doc
            for n, node in enumerate(NODES)
            for doc in day_documents(node, DAY, {"load_kw": n + np.arange(48.0)}, "test")
        ]
        docs += day_documents(SITE_SERIES, DAY, {"temperature_c": np.zeros(48)}, "test")
        await replace_days(db, docs)
        start, end = DAY + timedelta(hours=12), DAY + timedelta(hours=36)

        asked = await read_series(db, [*NODES, "read-none"], ["load_kw"], start, end)
        assert sorted(asked) == NODES  # a node without history is left out
        for n, node in enumerate(NODES):
            np.testing.assert_array_equal(asked[node]["load_kw"], n + np.arange(12.0, 36.0))

        every = await read_series(db, None, ["load_kw"], start, end)
        assert sorted(every) == NODES
        assert every.keys() == asked.keys()
        site = await read_series(db, [SITE_SERIES], ["temperature_c"], start, end)
        assert list(site) == [SITE_SERIES]
        assert await read_series(db, [], ["load_kw"], start, end) == {}
    finally:
        await fdb.client.drop_database(db.name)
