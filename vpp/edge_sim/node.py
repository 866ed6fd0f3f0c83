"""One simulated node: physics plus command handling in, telemetry and acks out; no I/O.

A node integrates its physics up to the clock's simulated now whenever it is asked for a
reading or handed a command, splitting the step where a command ends, so a command runs
for exactly its `duration_s` of simulated time however the calls fall.
"""

from __future__ import annotations

import logging
import math
import random
from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import ClassVar

from vpp.edge_sim.clock import Clock
from vpp.edge_sim.commands import (
    AckMemory,
    ActiveCommand,
    Reason,
    Undecodable,
    decode,
    reason,
)
from vpp.edge_sim.physics import Battery, ComputeLoad, Noise, self_consumption_kw
from vpp.edge_sim.profiles import Building, profile_position
from vpp.models import Ack, AckStatus, Action, Command, NodeKind, Telemetry

log = logging.getLogger(__name__)

# A reading's frequency is the grid's plus the meter's own noise.
_METER_NOISE_HZ = 0.002
# A node's readings are at least this far apart in time (`SimNode._stamp`).
_STAMP_STEP = timedelta(milliseconds=1)
_BATTERY_ACTIONS = frozenset({Action.CHARGE, Action.DISCHARGE, Action.HOLD})


class SimNode(ABC):
    kind: ClassVar[NodeKind]
    actions: ClassVar[frozenset[Action]]

    def __init__(
        self, node_id: str, n: int, clock: Clock, rng: random.Random, battery: Battery
    ) -> None:
        self.node_id = node_id
        self.n = n
        self.clock = clock
        self.rng = rng
        self.battery = battery
        self.memory = AckMemory()
        self.active: ActiveCommand | None = None
        self.applied_commands = 0
        self._completions: list[Ack] = []
        self.seq = 0  # the next reading's
        self.load_kw = self.pv_kw = self.battery_kw = self.power_kw = 0.0
        self.freq = 50.0
        self._t = clock.sim_now()
        self._last_reading_t = self._t
        self._last_stamp: datetime | None = None
        self._step(self._t, 0.0)

    # -- what each kind defines -------------------------------------------------------

    @abstractmethod
    def _demand(self, t: datetime, seconds: float) -> tuple[float, float]:
        """Load (before any deferral) and PV, in kW, around `t`."""

    @abstractmethod
    def _idle_battery_kw(self, load_kw: float, pv_kw: float) -> float:
        """What the battery does when no command holds it."""

    def _draw(self, load_kw: float, defer_kw: float, seconds: float) -> tuple[float, float]:
        """The load actually drawn and the kW deferred; only flexible loads defer."""
        return load_kw, 0.0

    def _refusal(self, command: Command) -> str | None:
        """A kind's own reasons to refuse a command it supports."""
        return None

    def _extra_telemetry(self, seconds: float) -> dict[str, float]:
        return {}

    # -- physics ------------------------------------------------------------------------

    @property
    def time(self) -> datetime:
        return self._t

    def advance(self) -> None:
        """Integrate up to the clock's simulated now."""
        now = self.clock.sim_now()
        while self._t < now:
            end = now
            if self.active is not None and self.active.ends < end:
                end = self.active.ends
            self._step(self._t, (end - self._t).total_seconds())
            self._t = end
            if self.active is not None and self._t >= self.active.ends:
                self._finish(None)

    def _step(self, t0: datetime, seconds: float) -> None:
        load, pv = self._demand(t0 + timedelta(seconds=seconds / 2), seconds)
        active = self.active
        defer_kw = active.setpoint_kw if active and active.action is Action.DEFER_LOAD else 0.0
        load, deferred = self._draw(load, defer_kw, seconds)
        if active is not None and active.action in _BATTERY_ACTIONS:
            wanted = active.setpoint_kw
        else:
            wanted = self._idle_battery_kw(load, pv)
        if seconds > 0:
            battery_kw = self.battery.run(wanted, seconds)
        else:
            battery_kw = self.battery.limit(wanted, 1.0)
        if active is not None and seconds > 0:
            hours = seconds / 3600.0
            if active.action is Action.DEFER_LOAD:
                active.energy_kwh += deferred * hours
                active.limited |= deferred < defer_kw - 1e-6
            else:
                active.energy_kwh += abs(battery_kw) * hours
                active.limited |= abs(battery_kw) < abs(wanted) - 1e-6
        self.load_kw, self.pv_kw, self.battery_kw = load, pv, battery_kw
        self.power_kw = load - pv + battery_kw

    # -- telemetry ----------------------------------------------------------------------

    def reading(self, grid_hz: float) -> Telemetry:
        """The next reading, at the node's current simulated time (call `advance` first)."""
        seconds = (self._t - self._last_reading_t).total_seconds()
        self._last_reading_t = self._t
        self.freq = grid_hz + self.rng.gauss(0.0, _METER_NOISE_HZ)
        telemetry = Telemetry(
            dc_id=self.node_id,
            seq=self.seq,
            timestamp=self._stamp(),
            soc=round(self.battery.soc * 100.0, 3),
            power_kw=round(self.power_kw, 3),
            freq=round(self.freq, 4),
            load_kw=round(self.load_kw, 3),
            pv_kw=round(self.pv_kw, 3),
            battery_kw=round(self.battery_kw, 3),
            **self._extra_telemetry(seconds),
        )
        self.seq += 1
        return telemetry

    def _stamp(self) -> datetime:
        """The reading's timestamp: the node's time to the millisecond, later than the last.

        The store keys a reading by its node and timestamp, in milliseconds (BSON dates),
        and takes a second reading with the same key for a redelivery of the first. After
        a stall the sampler takes a node's missed readings back to back, well within one
        millisecond, so without the step each such reading after the first was dropped."""
        stamp = self._t.replace(microsecond=self._t.microsecond // 1000 * 1000)
        if self._last_stamp is not None and stamp <= self._last_stamp:
            stamp = self._last_stamp + _STAMP_STEP
        self._last_stamp = stamp
        return stamp

    # -- commands -----------------------------------------------------------------------

    def receive(self, payload: bytes) -> list[Ack]:
        """Acks to send now for one command payload: a first answer, or the same answer
        again for an id already seen (which is never applied twice)."""
        decoded = decode(payload)
        command_id = decoded.command_id
        if command_id is not None and command_id in self.memory:
            return [self._again(command_id)]
        if isinstance(decoded, Undecodable):
            if command_id is None:
                log.warning(
                    "%s: dropped a command without a readable id: %s", self.node_id, decoded.detail
                )
                return []
            return [
                self._remember(
                    command_id, AckStatus.REJECTED, reason(Reason.INVALID, decoded.detail)
                )
            ]
        command_id = decoded.command_id
        self.advance()
        refusal = self._check(decoded)
        if refusal is not None:
            return [self._remember(command_id, AckStatus.REJECTED, refusal)]
        acks = []
        if self.active is not None:
            self._finish(f"superseded by {command_id}")
            acks.extend(self.take_completions())
        setpoint = self._setpoint(decoded)
        now = self._t
        self.active = ActiveCommand(
            decoded, setpoint, now, now + timedelta(seconds=decoded.params.duration_s)
        )
        self.applied_commands += 1
        acks.append(self._remember(command_id, AckStatus.ACCEPTED, None, abs(setpoint)))
        return acks

    def take_completions(self) -> list[Ack]:
        done, self._completions = self._completions, []
        return done

    def _check(self, command: Command) -> str | None:
        if command.expires_at <= self.clock.wall_now():
            return reason(Reason.EXPIRED, f"expires_at {command.expires_at.isoformat()} has passed")
        if command.action not in self.actions:
            return reason(Reason.UNSUPPORTED, f"{command.action.value} on a {self.kind.value} node")
        kw, b = command.params.kw, self.battery
        if command.action in (Action.CHARGE, Action.DISCHARGE) and kw > b.max_kw:
            return reason(Reason.KW_OVER_CAPACITY, f"{kw:g} kW over the battery's {b.max_kw:g} kW")
        if command.action is Action.DISCHARGE and b.at_min:
            return reason(Reason.SOC_TOO_LOW, f"soc {b.soc:.1%} at its minimum {b.soc_min:.0%}")
        if command.action is Action.CHARGE and b.at_max:
            return reason(Reason.SOC_TOO_HIGH, f"soc {b.soc:.1%} at its maximum {b.soc_max:.0%}")
        return self._refusal(command)

    @staticmethod
    def _setpoint(command: Command) -> float:
        if command.action is Action.DISCHARGE:
            return -command.params.kw
        if command.action is Action.HOLD:
            return 0.0
        return command.params.kw

    def _finish(self, why: str | None) -> None:
        active = self.active
        if active is None:
            return
        self.active = None
        if why is None and active.limited:
            why = "limited by the node's physical limits"
        self._completions.append(
            self._remember(
                active.command.command_id, AckStatus.COMPLETED, why, active.applied_kw(self._t)
            )
        )

    def _remember(
        self, command_id: str, status: AckStatus, why: str | None, applied_kw: float | None = None
    ) -> Ack:
        ack = Ack(
            command_id=command_id,
            status=status,
            reason=why,
            applied_kw=applied_kw,
            at=self.clock.wall_now(),
        )
        self.memory.remember(ack)
        return ack

    def _again(self, command_id: str) -> Ack:
        previous = self.memory.get(command_id)
        assert previous is not None
        return previous.model_copy(update={"at": self.clock.wall_now()})


class HomeNode(SimNode):
    """A home with battery, PV and household load from one CityLearn building. With no
    command the battery runs for self-consumption: it stores PV surplus and covers load."""

    kind = NodeKind.HOME_DER
    actions = frozenset({Action.CHARGE, Action.DISCHARGE, Action.HOLD})

    def __init__(
        self,
        node_id: str,
        n: int,
        clock: Clock,
        rng: random.Random,
        *,
        building: Building,
        offset_h: float,
    ) -> None:
        self.building = building
        self.offset_h = offset_h
        self._noise = Noise(rng, sigma=0.05, tau_s=600.0)
        spec = building.battery
        battery = Battery.at_soc(
            spec.capacity_kwh, spec.nominal_kw, spec.efficiency, rng.uniform(0.3, 0.7)
        )
        super().__init__(node_id, n, clock, rng, battery)

    def _demand(self, t: datetime, seconds: float) -> tuple[float, float]:
        position = profile_position(t, self.offset_h)
        load = self.building.load_at(position) * self._noise.step(seconds)
        return max(load, 0.0), self.building.pv_at(position)

    def _idle_battery_kw(self, load_kw: float, pv_kw: float) -> float:
        return self_consumption_kw(load_kw, pv_kw)


class EdgeDcNode(SimNode):
    """The seed's edge data centre: 100-200 kW of IT load with a daily shape, 30 % of it
    deferrable compute, and a 200 kWh / 100 kW battery kept near a backup reserve."""

    kind = NodeKind.EDGE_DC
    actions = frozenset(Action)
    capacity_kw = 200.0
    battery_kwh = 200.0
    battery_max_kw = 100.0
    # A larger commercial system than a home's: better round-trip efficiency.
    battery_efficiency = 0.95
    reserve_soc = 0.8
    recharge_kw = 10.0

    def __init__(self, node_id: str, n: int, clock: Clock, rng: random.Random) -> None:
        self.compute = ComputeLoad(mean_kw=rng.uniform(130.0, 155.0), capacity_kw=self.capacity_kw)
        self._noise = Noise(rng, sigma=0.04, tau_s=300.0)
        battery = Battery.at_soc(
            self.battery_kwh, self.battery_max_kw, self.battery_efficiency, rng.uniform(0.6, 0.9)
        )
        self._base_kw = 0.0
        super().__init__(node_id, n, clock, rng, battery)

    def _demand(self, t: datetime, seconds: float) -> tuple[float, float]:
        hour = t.hour + t.minute / 60.0 + t.second / 3600.0
        self._base_kw = self.compute.base_kw(hour, self._noise.step(seconds))
        return self._base_kw, 0.0

    def _draw(self, load_kw: float, defer_kw: float, seconds: float) -> tuple[float, float]:
        return self.compute.run(load_kw, defer_kw, seconds)

    def _idle_battery_kw(self, load_kw: float, pv_kw: float) -> float:
        return self.recharge_kw if self.battery.soc < self.reserve_soc else 0.0

    def _refusal(self, command: Command) -> str | None:
        if command.action is Action.DEFER_LOAD:
            flexible = self.compute.flexible_kw(self._base_kw)
            if command.params.kw > flexible:
                return reason(
                    Reason.KW_OVER_FLEXIBLE_LOAD,
                    f"{command.params.kw:g} kW over the {flexible:.1f} kW of deferrable load",
                )
        return None

    def _extra_telemetry(self, seconds: float) -> dict[str, float]:
        load_factor = min(max(self.load_kw / self.capacity_kw, 0.0), 1.0)
        cpu = min(max(100.0 * load_factor * 0.9 + self.rng.gauss(0.0, 1.5), 0.0), 100.0)
        # About 0.3 MB/s out and 0.2 MB/s in at full load, over the reading's interval.
        sent = max(0.0, 0.3 * load_factor * seconds * self.rng.uniform(0.8, 1.2))
        recv = max(0.0, 0.2 * load_factor * seconds * self.rng.uniform(0.8, 1.2))
        return {
            "cpu_usage": round(cpu, 2),
            "load_factor": round(load_factor, 4),
            "network_mb_sent": round(sent, 3),
            "network_mb_recv": round(recv, 3),
        }


def home_offset_hours(seed: int, n: int) -> float:
    """A node's shift along its building's year: whole days, so PV stays at midday and the
    fleet keeps a daily shape, up to two weeks either way, so nodes sharing a building
    (n, n + 17, ...) differ."""
    return 24.0 * random.Random(f"home-offset/{seed}/{n}").randint(-14, 14)


def node_rng(seed: int, n: int) -> random.Random:
    return random.Random(f"node/{seed}/{n}")


def is_home(n: int, home_share: float) -> bool:
    """Spread homes evenly through the node numbers: `home_share` of any long run are homes."""
    return math.floor(n * home_share) > math.floor((n - 1) * home_share)
