"""Many nodes in one process: one sampler task for all of them, one link (MQTT session or
HTTP sender) per node, one grid frequency they all see.

Every `interval_s` of wall time each node takes one reading; the nodes are spread evenly
over the interval so the broker sees a steady stream rather than a burst per interval.
Command completions run on timers at the simulated end of each command.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import httpx
from pydantic import BaseModel, Field

from vpp.config import Settings
from vpp.edge_sim.buffer import Reading
from vpp.edge_sim.clock import Clock, ScaledClock
from vpp.edge_sim.frequency import FrequencyModel, GridFrequency
from vpp.edge_sim.http_link import HttpNodeLink
from vpp.edge_sim.link import CommandHandler, NodeLink
from vpp.edge_sim.node import (
    EdgeDcNode,
    HomeNode,
    SimNode,
    home_offset_hours,
    is_home,
    node_rng,
)
from vpp.edge_sim.profiles import building_for_node, load_building
from vpp.edge_sim.service_token import ServiceTokenAuth
from vpp.edge_sim.session import MqttNodeLink
from vpp.models import Action, NodeKind

log = logging.getLogger(__name__)

# Connection attempts in progress at once when a large fleet starts or comes back.
CONNECT_CONCURRENCY = 200
# While the sampler is behind, it still lets I/O run after this many readings.
_YIELD_EVERY = 64
# A sampler this far behind stops catching up; it says so at most once a minute.
_MAX_CATCH_UP_S = 1.0
_WARN_EVERY_S = 60.0
# A completion timer fires this much after the command's end, so the node is past it.
_TIMER_SLACK_S = 0.001

LinkFactory = Callable[[str, CommandHandler], NodeLink]


class FaultKind(StrEnum):
    DROP_ACKS = "drop_acks"  # the node applies commands but loses its next `count` acks
    OFFLINE = "offline"  # the node leaves the broker and buffers its telemetry
    # The node stays connected (no last will) but takes no readings: a hung meter.
    SILENT = "silent"
    ONLINE = "online"  # back to normal: connected, sending what it buffered, and reporting


class Fault(BaseModel):
    node_id: str
    kind: FaultKind
    count: int = Field(default=1, ge=1, le=1_000_000)


class ActiveCommandState(BaseModel):
    command_id: str
    action: Action
    setpoint_kw: float
    ends_at: datetime


class NodeState(BaseModel):
    node_id: str
    n: int
    kind: NodeKind
    building: int | None
    connected: bool
    online_wanted: bool
    reporting: bool  # takes readings (not made silent)
    time: datetime
    next_seq: int
    soc: float
    power_kw: float
    load_kw: float
    pv_kw: float
    battery_kw: float
    freq: float
    buffered: int
    dropped: int
    pending: int
    sent: int
    resent: int
    acks_sent: int
    acks_dropped: int
    drop_acks_next: int
    applied_commands: int
    active_command: ActiveCommandState | None


@dataclass
class _Member:
    node: SimNode
    link: NodeLink
    timer: asyncio.TimerHandle | None = None
    silent: bool = False


class Fleet:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        link_factory: LinkFactory | None = None,
        frequency: FrequencyModel | None = None,
    ) -> None:
        self.settings = settings
        sim = settings.edge_sim
        self.clock = clock or ScaledClock(sim.speed)
        self._origin = self.clock.sim_now()
        self.grid = GridFrequency(sim.seed, frequency)
        self._http: httpx.AsyncClient | None = None
        self._auth: ServiceTokenAuth | None = None
        self._connect_gate: asyncio.Semaphore | None = None
        self._link_factory = link_factory or self._default_link
        self._members: dict[str, _Member] = {}
        for n in range(sim.first_node, sim.first_node + sim.nodes):
            node = self._build_node(n)
            link = self._link_factory(node.node_id, self._command_handler(node.node_id))
            self._members[node.node_id] = _Member(node, link)
        self._sampler: asyncio.Task[None] | None = None

    # -- building ----------------------------------------------------------------------

    def _build_node(self, n: int) -> SimNode:
        sim, mqtt = self.settings.edge_sim, self.settings.mqtt
        node_id = mqtt.node_id_format.format(n=n)
        rng = node_rng(sim.seed, n)
        if is_home(n, sim.home_share):
            building = load_building(sim.data_dir, building_for_node(n))
            offset = home_offset_hours(sim.seed, n)
            return HomeNode(node_id, n, self.clock, rng, building=building, offset_h=offset)
        return EdgeDcNode(node_id, n, self.clock, rng)

    def _default_link(self, node_id: str, on_command: CommandHandler) -> NodeLink:
        sim = self.settings.edge_sim
        rng = random.Random(f"link/{sim.seed}/{node_id}")
        if sim.mqtt_enabled:
            if self._connect_gate is None:
                self._connect_gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
            return MqttNodeLink(
                node_id,
                self.settings.mqtt,
                sim.buffer_size,
                on_command,
                rng=rng,
                connect_gate=self._connect_gate,
            )
        if self._http is None:
            self._auth = ServiceTokenAuth(self.settings.keycloak)
            self._http = httpx.AsyncClient(timeout=10.0, auth=self._auth)
        return HttpNodeLink(node_id, sim.http_fallback_url, self._http, sim.buffer_size, rng=rng)

    def _command_handler(self, node_id: str) -> CommandHandler:
        def handle(payload: bytes) -> None:
            self.handle_command(node_id, payload)

        return handle

    # -- running -----------------------------------------------------------------------

    @property
    def node_ids(self) -> list[str]:
        return list(self._members)

    def node(self, node_id: str) -> SimNode:
        return self._members[node_id].node

    def link(self, node_id: str) -> NodeLink:
        return self._members[node_id].link

    def start(self, *, sampling: bool = True) -> None:
        for member in self._members.values():
            member.link.start()
        if sampling and self._sampler is None:
            self._sampler = asyncio.create_task(self._sample_loop(), name="edge-sim-sampler")

    async def stop(self, drain_timeout_s: float = 10.0) -> bool:
        """Stop sampling, give the links `drain_timeout_s` to deliver what they hold, then
        leave. True if everything was delivered."""
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)
            self._sampler = None
        for member in self._members.values():
            if member.timer is not None:
                member.timer.cancel()
                member.timer = None
        links = [m.link for m in self._members.values()]
        drained = await asyncio.gather(*(link.drain(drain_timeout_s) for link in links))
        await asyncio.gather(*(link.stop() for link in links))
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._auth is not None:
            await self._auth.close()
            self._auth = None
        undelivered = sum(link.pending for link in links)
        if undelivered:
            log.warning("stopped with %d readings and acks undelivered", undelivered)
        return all(drained)

    async def _sample_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.edge_sim.interval_s
        members = list(self._members.values())
        if not members:
            return
        spacing = interval / len(members)
        start = loop.time()
        warned = -math.inf
        cycle = 0
        while True:
            base = start + cycle * interval
            lag = loop.time() - base
            if lag > max(interval, _MAX_CATCH_UP_S):
                # Too many nodes for the interval on this machine (or a long stall): go on
                # from now rather than burst to catch up on every missed cycle.
                if loop.time() - warned > _WARN_EVERY_S:
                    warned = loop.time()
                    log.warning(
                        "sampler %.1f s behind: readings come less often than every %s s",
                        lag,
                        interval,
                    )
                start += lag
                base += lag
            for i, member in enumerate(members):
                delay = base + i * spacing - loop.time()
                if delay > 0.001:
                    await asyncio.sleep(delay)
                elif i % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                if member.silent:
                    self._keep_time(member)
                else:
                    self.sample(member.node.node_id)
            cycle += 1

    def sample(self, node_id: str) -> Reading:
        """Take one reading of a node now and hand it to its link."""
        member = self._members[node_id]
        node = member.node
        node.advance()
        grid_hz = self.grid.at((node.time - self._origin).total_seconds())
        telemetry = node.reading(grid_hz)
        reading = Reading(telemetry.seq, telemetry.model_dump_json().encode())
        member.link.submit(reading)
        self._send_completions(member)
        return reading

    def _keep_time(self, member: _Member) -> None:
        """A silent node's time goes on, and so do its commands; it only reports nothing."""
        member.node.advance()
        self._send_completions(member)

    # -- commands ------------------------------------------------------------------------

    def handle_command(self, node_id: str, payload: bytes) -> None:
        member = self._members[node_id]
        for ack in member.node.receive(payload):
            member.link.send_ack(ack)
        self._arm_completion(member)

    def _send_completions(self, member: _Member) -> None:
        for ack in member.node.take_completions():
            member.link.send_ack(ack)

    def _arm_completion(self, member: _Member) -> None:
        if member.timer is not None:
            member.timer.cancel()
            member.timer = None
        active = member.node.active
        if active is None:
            return
        sim_left = (active.ends - self.clock.sim_now()).total_seconds()
        delay = max(0.0, self.clock.real_seconds(sim_left)) + _TIMER_SLACK_S
        member.timer = asyncio.get_running_loop().call_later(delay, self._complete, member)

    def _complete(self, member: _Member) -> None:
        member.timer = None
        member.node.advance()
        self._send_completions(member)
        self._arm_completion(member)

    # -- status and faults ----------------------------------------------------------------

    def inject(self, fault: Fault) -> NodeState:
        member = self._members[fault.node_id]
        if fault.kind is FaultKind.DROP_ACKS:
            member.link.drop_next_acks(fault.count)
        elif fault.kind is FaultKind.SILENT:
            member.silent = True
        else:
            member.silent = False
            member.link.set_online(fault.kind is FaultKind.ONLINE)
        log.info("fault injected: %s", fault.model_dump_json())
        return self.state(fault.node_id)

    def state(self, node_id: str) -> NodeState:
        member = self._members[node_id]
        node, link = member.node, member.link
        active = node.active
        return NodeState(
            node_id=node.node_id,
            n=node.n,
            kind=node.kind,
            building=node.building.number if isinstance(node, HomeNode) else None,
            connected=link.connected,
            online_wanted=link.online_wanted,
            reporting=not member.silent,
            time=node.time,
            next_seq=node.seq,
            soc=round(node.battery.soc * 100.0, 3),
            power_kw=round(node.power_kw, 3),
            load_kw=round(node.load_kw, 3),
            pv_kw=round(node.pv_kw, 3),
            battery_kw=round(node.battery_kw, 3),
            freq=round(node.freq, 4),
            buffered=len(link.buffer),
            dropped=link.buffer.dropped,
            pending=link.pending,
            sent=link.stats.sent,
            resent=link.stats.resent,
            acks_sent=link.stats.acks_sent,
            acks_dropped=link.stats.acks_dropped,
            drop_acks_next=link.acks_to_drop,
            applied_commands=node.applied_commands,
            active_command=None
            if active is None
            else ActiveCommandState(
                command_id=active.command.command_id,
                action=active.action,
                setpoint_kw=active.setpoint_kw,
                ends_at=active.ends,
            ),
        )

    def states(self) -> list[NodeState]:
        return [self.state(node_id) for node_id in self._members]
