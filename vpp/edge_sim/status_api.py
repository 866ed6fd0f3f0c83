"""The simulator process's small HTTP API: what each node is doing, and faults for tests."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from vpp.edge_sim.fleet import Fault, Fleet, NodeState
from vpp.edge_sim.metrics import fleet_registry


class FleetSummary(BaseModel):
    nodes: int
    connected: int
    sent: int
    buffered: int
    dropped: int


def _fleet(request: Request) -> Fleet:
    fleet: Fleet = request.app.state.fleet
    return fleet


FleetDep = Annotated[Fleet, Depends(_fleet)]


def _known(fleet: Fleet, node_id: str) -> None:
    if node_id not in fleet.node_ids:
        raise HTTPException(status_code=404, detail=f"no node {node_id!r} in this simulator")


def create_app(fleet: Fleet) -> FastAPI:
    app = FastAPI(title="VPP edge simulator", summary="Simulated DER nodes of one process.")
    app.state.fleet = fleet
    registry = fleet_registry(fleet)

    @app.get("/health")
    async def health(fleet: FleetDep) -> FleetSummary:
        states = fleet.states()
        return FleetSummary(
            nodes=len(states),
            connected=sum(s.connected for s in states),
            sent=sum(s.sent for s in states),
            buffered=sum(s.buffered for s in states),
            dropped=sum(s.dropped for s in states),
        )

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/nodes")
    async def nodes(fleet: FleetDep) -> list[NodeState]:
        return fleet.states()

    @app.get("/nodes/{node_id}")
    async def node(node_id: str, fleet: FleetDep) -> NodeState:
        _known(fleet, node_id)
        return fleet.state(node_id)

    @app.post("/faults")
    async def inject_fault(fault: Fault, fleet: FleetDep) -> NodeState:
        """Drop a node's next `count` acks, take it offline, make it silent (connected,
        sending nothing), or bring it back to normal (`online`)."""
        _known(fleet, fault.node_id)
        return fleet.inject(fault)

    return app
