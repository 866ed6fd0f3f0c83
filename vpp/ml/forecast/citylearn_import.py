"""`vpp data import citylearn`: give every simulated home a year of real history.

Placement in time: the year is the `hours` (8,760) whole hours that end at the current
hour, and each hour `t` holds the CityLearn row of the same calendar date and UTC clock
hour (`citylearn.profile_row`), shifted by the node's own whole-day offset - exactly what
the edge simulator plays for that node at `t`. So the back-filled history runs straight
into the node's live telemetry, PV peaks at midday, and weekdays stay weekdays up to the
offset. The one seam is the profile's own year boundary (31 Jul -> 1 Aug), which falls
somewhere inside the imported year.

Node `n` (id `node_id_format.format(n=n)`, e.g. `node-00001`) is a home when the simulator
says so (`is_home(n, home_share)`) and uses building `((n - 1) % 17) + 1`. The import
replaces the day documents it covers (telemetry already appended there is overwritten);
run again, it writes the same values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from vpp.bus.credentials import node_ids
from vpp.config import EdgeSimSettings, MqttSettings
from vpp.edge_sim.node import home_offset_hours, is_home
from vpp.ml.forecast.citylearn import (
    BUILDINGS,
    HOURS,
    SITE_CHANNELS,
    load_building,
    load_site,
    profile_rows,
)
from vpp.ml.forecast.documents import SITE_SERIES
from vpp.ml.forecast.history import (
    SITE_CURSOR,
    TELEMETRY_CURSOR,
    Database,
    day_documents,
    hour_floor,
    read_cursor,
    replace_days,
    write_cursor,
)
from vpp.ml.forecast.settings import Target


@dataclass(frozen=True)
class Home:
    node_id: str
    n: int
    building: int
    offset_h: int


@dataclass(frozen=True)
class ImportReport:
    homes: int
    start: datetime
    end: datetime
    documents: int


def building_for_node(n: int) -> int:
    return (n - 1) % BUILDINGS + 1


def simulated_homes(
    mqtt: MqttSettings, edge_sim: EdgeSimSettings, count: int, home_share: float | None = None
) -> list[Home]:
    """The homes among nodes 1..count, as the edge simulator builds them."""
    share = edge_sim.home_share if home_share is None else home_share
    return [
        Home(node_id, n, building_for_node(n), int(home_offset_hours(edge_sim.seed, n)))
        for n, node_id in enumerate(node_ids(mqtt, count), start=1)
        if is_home(n, share)
    ]


def home_history(data_dir: Path, home: Home, start: datetime, hours: int) -> dict[str, np.ndarray]:
    building = load_building(data_dir.expanduser().resolve(), home.building)
    rows = profile_rows(start, hours, home.offset_h)
    return {Target.LOAD.value: building.load_kw[rows], Target.PV.value: building.pv_kw[rows]}


async def import_citylearn(
    db: Database,
    data_dir: Path,
    homes: list[Home],
    *,
    now: datetime,
    hours: int = HOURS,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Write `hours` of history ending at `now`'s hour for every home and the site."""
    end = hour_floor(now)
    start = end - timedelta(hours=hours)
    root = await asyncio.to_thread(lambda: data_dir.expanduser().resolve())
    site = load_site(root)
    rows = profile_rows(start, hours)
    site_channels = {c: site.channels[c][rows] for c in SITE_CHANNELS}
    written = await replace_days(db, day_documents(SITE_SERIES, start, site_channels, "citylearn"))
    for home in homes:
        docs = day_documents(
            home.node_id, start, home_history(root, home, start, hours), "citylearn"
        )
        written += await replace_days(db, docs)
        if progress:
            progress(1)
    # Live appends continue from here: the site from the CityLearn year, the nodes from
    # their telemetry.
    for cursor in (SITE_CURSOR, TELEMETRY_CURSOR):
        current = await read_cursor(db, cursor)
        if current is None or current < end:
            await write_cursor(db, cursor, end)
    return ImportReport(homes=len(homes), start=start, end=end, documents=written)
