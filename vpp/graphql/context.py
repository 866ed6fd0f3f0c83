"""The per-request (per-connection, for WebSockets) context: the app's shared state, who
is asking, and DataLoaders that batch per-item reads of one request into one round trip."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from vpp.api.auth import Principal
from vpp.api.state import ApiState
from vpp.services.nodes import find_nodes
from vpp.store.documents import NodeSpec
from vpp.store.live_state import NodeLiveState, read_live_states


class Context(BaseContext):
    def __init__(self, state: ApiState, principal: Principal | None = None) -> None:
        super().__init__()
        self.state = state
        self.principal = principal
        # Live state of nodes (Redis: one pipelined HMGET for every node of a page).
        self.live_states: DataLoader[str, NodeLiveState | None] = DataLoader(
            load_fn=self._load_live_states
        )
        # Registered nodes by id (MongoDB: one `$in` query).
        self.nodes: DataLoader[str, NodeSpec | None] = DataLoader(load_fn=self._load_nodes)

    async def _load_live_states(self, ids: Sequence[str]) -> list[NodeLiveState | None]:
        state = self.state
        found = await read_live_states(
            state.redis, state.names, list(ids), state.settings.ingest.offline_after_s
        )
        by_id = {s.dc_id: s for s in found}
        return [by_id.get(i) for i in ids]

    async def _load_nodes(self, ids: Sequence[str]) -> list[NodeSpec | None]:
        found = await find_nodes(ids)
        return [found.get(i) for i in ids]
