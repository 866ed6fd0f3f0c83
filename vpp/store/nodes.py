"""The node registry: register nodes (idempotently) and read the registered ids.

Ingest accepts telemetry only from registered nodes; everything else is dead-lettered as
`unknown_node`. `seed_node_specs` makes the specs of the simulator's fleet
(`node-00001` ...), so `register_nodes(db, seed_node_specs(...))` is what
`vpp nodes seed --count N` does.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from vpp.bus.credentials import node_ids
from vpp.config import MqttSettings
from vpp.models import NodeKind
from vpp.store.database import Database
from vpp.store.documents import NODES, GeoPoint, NodeSpec
from vpp.store.write_errors import insert_new

_CHUNK = 1_000

# The simulated fleet sits around Fontana, California, where the CityLearn 2022 buildings
# whose data drives the simulator are.
_CENTRE = GeoPoint(lat=34.09, lon=-117.43)


@dataclass(frozen=True)
class RegisterResult:
    created: int
    existing: int


async def register_nodes(db: Database, specs: Sequence[NodeSpec]) -> RegisterResult:
    """Insert the nodes not yet registered; leave registered ones as they are."""
    coll = db[NODES]
    by_id = {spec.dc_id: spec for spec in specs}
    ids = list(by_id)
    existing: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        async for doc in coll.find({"dc_id": {"$in": chunk}}, {"dc_id": 1, "_id": 0}):
            existing.add(doc["dc_id"])
    missing = [by_id[i] for i in ids if i not in existing]
    created = 0
    for start in range(0, len(missing), _CHUNK):
        docs = [spec.model_dump() for spec in missing[start : start + _CHUNK]]
        # Registered concurrently by someone else: those count as existing.
        created += await insert_new(coll, docs)
    return RegisterResult(created=created, existing=len(ids) - created)


async def registered_ids(db: Database) -> set[str]:
    """Every registered node id."""
    return {doc["dc_id"] async for doc in db[NODES].find({}, {"dc_id": 1, "_id": 0})}


async def is_registered(db: Database, node_id: str) -> bool:
    return await db[NODES].find_one({"dc_id": node_id}, {"_id": 1}) is not None


def seed_node_specs(
    mqtt: MqttSettings, count: int, *, home_share: float = 0.5, seed: int = 7
) -> list[NodeSpec]:
    """Specs of the first `count` fleet nodes (the ids the broker has accounts for):
    a `home_share` of homes with battery and PV, the rest edge data centres; sizes and
    places drawn from `seed`, so the same call always gives the same fleet."""
    # Which node is a home is the simulator's rule, so the registry and the simulated
    # fleet agree on what each node can do.
    from vpp.edge_sim.node import is_home

    rng = random.Random(seed)
    specs = []
    for n, node_id in enumerate(node_ids(mqtt, count), start=1):
        home = is_home(n, home_share)
        location = GeoPoint(
            lat=round(_CENTRE.lat + rng.uniform(-0.4, 0.4), 5),
            lon=round(_CENTRE.lon + rng.uniform(-0.6, 0.6), 5),
        )
        if home:
            spec = NodeSpec(
                dc_id=node_id,
                kind=NodeKind.HOME_DER,
                hostname=f"home-{n}",
                location=location,
                # The CityLearn battery every simulated home has (schema.json).
                capacity_kw=5.0,
                battery_kwh=6.4,
            )
        else:
            spec = NodeSpec(
                dc_id=node_id,
                kind=NodeKind.EDGE_DC,
                hostname=f"edge-{n}",
                location=location,
                # The seed's edge nodes: 150 kW site capacity, a 200 kWh battery.
                capacity_kw=150.0,
                battery_kwh=200.0,
            )
        specs.append(spec)
    return specs
