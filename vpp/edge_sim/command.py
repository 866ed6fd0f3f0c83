"""`vpp edge-sim`: run a fleet of simulated nodes with its status API until stopped.

`run` is the Typer command (the platform's CLI registers it); `python -m
vpp.edge_sim.command` runs it on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections.abc import Generator
from typing import Annotated

import typer
import uvicorn

from vpp.config import LOOPBACK, Settings, get_settings
from vpp.edge_sim.fleet import Fleet
from vpp.edge_sim.session import gmqtt_log
from vpp.edge_sim.status_api import create_app
from vpp.lifecycle import configure_logging, stop_on_signals

log = logging.getLogger(__name__)


class _StatusServer(uvicorn.Server):
    """uvicorn without its own signal handling: the simulator stops on a signal itself,
    draining its buffers before it leaves."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _raise_open_files_limit() -> None:
    # One socket per node: thousands of nodes need more than a default soft limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(
    settings: Settings, stop: asyncio.Event | None = None, status_host: str = LOOPBACK
) -> None:
    """Run the fleet and its status API until `stop` is set (or SIGINT / SIGTERM)."""
    stop = stop or stop_on_signals()
    sim = settings.edge_sim
    fleet = Fleet(settings)
    fleet.start()
    server = _StatusServer(
        uvicorn.Config(
            create_app(fleet), host=status_host, port=sim.status_port, log_level="warning"
        )
    )
    server_task = asyncio.create_task(server.serve(), name="edge-sim-status-api")
    log.info(
        "%d nodes (%s) from %s, a reading every %s s, speed x%s; status API on http://%s:%d",
        sim.nodes,
        "MQTT" if sim.mqtt_enabled else f"HTTP to {sim.http_fallback_url}",
        settings.mqtt.node_id_format.format(n=sim.first_node),
        sim.interval_s,
        sim.speed,
        status_host,
        sim.status_port,
    )
    try:
        done, _ = await asyncio.wait(
            {server_task, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if server_task in done:
            server_task.result()  # the API could not start (port taken): say why
    finally:
        server.should_exit = True
        await asyncio.gather(server_task, return_exceptions=True)
        delivered = await fleet.stop()
        log.info("stopped; %s", "all delivered" if delivered else "some readings undelivered")


def run(
    *,
    nodes: Annotated[int | None, typer.Option(help="Nodes to simulate.")] = None,
    speed: Annotated[float | None, typer.Option(help="Simulated seconds per real second.")] = None,
    first_node: Annotated[int | None, typer.Option(help="Number of the first node.")] = None,
    interval: Annotated[
        float | None, typer.Option(help="Real seconds between a node's readings.")
    ] = None,
    home_share: Annotated[
        float | None, typer.Option(help="Share of nodes that are homes (the rest edge DCs).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of every random draw.")] = None,
    mqtt: Annotated[
        bool | None, typer.Option("--mqtt/--http", help="Publish over MQTT or POST over HTTP.")
    ] = None,
    status_port: Annotated[int | None, typer.Option(help="Port of the status API.")] = None,
    status_host: Annotated[str, typer.Option(help="Address of the status API.")] = LOOPBACK,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug.")] = False,
) -> None:
    """Simulate DER nodes (edge data centres and homes) that publish telemetry and obey
    dispatch commands; options override the VPP_EDGE_SIM__* settings."""
    configure_logging(logging.DEBUG if verbose else logging.INFO)
    # gmqtt logs each node's every connect, close and, after a broker restart, every
    # reconnect attempt: thousands of lines that say nothing the status API does not.
    gmqtt_log.setLevel(logging.DEBUG if verbose else logging.ERROR)
    logging.getLogger("gmqtt").setLevel(logging.DEBUG if verbose else logging.WARNING)
    settings = get_settings()
    overrides = {
        "nodes": nodes,
        "speed": speed,
        "first_node": first_node,
        "interval_s": interval,
        "home_share": home_share,
        "seed": seed,
        "mqtt_enabled": mqtt,
        "status_port": status_port,
    }
    sim = settings.edge_sim.model_validate(
        settings.edge_sim.model_dump() | {k: v for k, v in overrides.items() if v is not None}
    )
    _raise_open_files_limit()
    asyncio.run(serve(settings.model_copy(update={"edge_sim": sim}), status_host=status_host))


app = typer.Typer(help="The edge simulator.", add_completion=False)
app.command()(run)

if __name__ == "__main__":
    app()
