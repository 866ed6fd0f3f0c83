"""`vpp nodes seed --count N`: register the first N fleet nodes (`node-00001` ...), the ids
the broker has accounts for and the simulator publishes as. Idempotent: nodes already
registered are left as they are."""

from __future__ import annotations

import asyncio

from vpp.config import Settings, get_settings
from vpp.store.database import init_store, mongo_client
from vpp.store.nodes import RegisterResult, register_nodes, seed_node_specs


async def seed_nodes(settings: Settings, count: int | None = None) -> RegisterResult:
    """Register `count` nodes (default: `settings.edge_sim.nodes`)."""
    total = settings.edge_sim.nodes if count is None else count
    if total > settings.mqtt.node_accounts:
        raise ValueError(
            f"{total} nodes but the broker has accounts for {settings.mqtt.node_accounts} "
            "(VPP_MQTT__NODE_ACCOUNTS)"
        )
    client = mongo_client(settings.mongo)
    try:
        db = client[settings.mongo.database]
        await init_store(db, settings.mongo)
        specs = seed_node_specs(
            settings.mqtt,
            total,
            home_share=settings.edge_sim.home_share,
            seed=settings.edge_sim.seed,
        )
        return await register_nodes(db, specs)
    finally:
        await client.close()


def run_seed(count: int | None = None, settings: Settings | None = None) -> RegisterResult:
    """The synchronous entry the CLI calls."""
    return asyncio.run(seed_nodes(settings or get_settings(), count))
