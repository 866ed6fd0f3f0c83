"""The safety guard: what the automation may actually ask of a node.

The policy proposes a kW for each node; `guard` passes it through the rules below in
order and records each change with its reason, so a decision always says why a node got
less than the policy asked (or nothing). Pure functions, no I/O: the cycle's activity
calls them with the fleet's state as it read it.

1. `state`: no fresh reading, or the node is offline — nothing is sent.
2. `manual`: a node held by an operator's dispatch is left alone.
3. `frequency`: the grid's frequency is out of its normal band — nothing that makes it
   worse (no charging below 50 Hz, no discharging above).
4. `power`: within the node's rated kW and the operator's per-node limit.
5. `soc`: the cycle's energy must keep the battery within the automation's SOC band.
6. `export`: with `zero_export` (exported energy earns nothing: the tariff the policy was
   trained and scored on), a home discharges no more than its own net load (load - PV)
   as last measured, so stored energy covers the home rather than flowing to the grid.
7. `fleet`: all nodes' kW scaled down together to the operator's fleet limit.
8. `deadband`: rounded to the kW step; less than the smallest worthwhile action is none.

Signs: positive kW charges the battery, negative discharges (the telemetry's
`battery_kw`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vpp.optimize.models import GuardChange, GuardRule, NodeState
from vpp.optimize.settings import OptimizeSettings
from vpp.store.aggregate import NOMINAL_HZ, FreqStatus


@dataclass(frozen=True)
class GuardLimits:
    soc_min: float
    soc_max: float
    node_max_kw: float
    fleet_max_kw: float  # 0: no fleet limit
    min_kw: float
    kw_step: float
    hours: float  # how long the action holds (the cycle's length)
    # Discharging draws kW/efficiency from storage; assume a poor battery so the SOC floor
    # holds for any node.
    efficiency: float = 0.9
    zero_export: bool = False

    @classmethod
    def from_settings(cls, o: OptimizeSettings, *, zero_export: bool = False) -> GuardLimits:
        return cls(
            soc_min=o.soc_min,
            soc_max=o.soc_max,
            node_max_kw=o.node_max_kw,
            fleet_max_kw=o.fleet_max_kw,
            min_kw=o.min_kw,
            kw_step=o.kw_step,
            hours=o.cycle_minutes / 60.0,
            zero_export=zero_export,
        )


@dataclass(frozen=True)
class GridState:
    avg_freq: float | None
    freq_status: FreqStatus


@dataclass
class Guarded:
    """One node's action after the guard: `kw` (signed) and what changed it."""

    dc_id: str
    requested_kw: float
    kw: float
    changes: list[GuardChange]

    def change(self, rule: GuardRule, reason: str, after: float, *, always: bool = False) -> None:
        """Record a rule's change; a rule that excludes the node is recorded even when the
        node had nothing to do, so every decision says why a node got no command."""
        # A cap of 0 kW on a discharge (-0.0) is stored and shown as 0, never as "-0.0".
        after = 0.0 if after == 0.0 else after
        if always or after != self.kw:
            self.changes.append(
                GuardChange(rule=rule, reason=reason, kw_before=self.kw, kw_after=after)
            )
            self.kw = after


def guard_node(
    state: NodeState, requested_kw: float, limits: GuardLimits, grid: GridState
) -> Guarded:
    """Rules 1-6 for one node (the fleet rule needs every node: `guard_fleet`)."""
    g = Guarded(state.dc_id, requested_kw, requested_kw, [])
    if state.problem is not None:
        g.change(GuardRule.STATE, state.problem, 0.0, always=True)
        return g
    if state.held_by is not None:
        g.change(GuardRule.MANUAL, f"held by operator dispatch {state.held_by}", 0.0, always=True)
        return g
    if grid.freq_status in (FreqStatus.WARNING, FreqStatus.CRITICAL) and grid.avg_freq is not None:
        if grid.avg_freq < NOMINAL_HZ and g.kw > 0:
            g.change(
                GuardRule.FREQUENCY, f"under-frequency {grid.avg_freq:.2f} Hz: no charging", 0.0
            )
        elif grid.avg_freq > NOMINAL_HZ and g.kw < 0:
            g.change(
                GuardRule.FREQUENCY, f"over-frequency {grid.avg_freq:.2f} Hz: no discharging", 0.0
            )
    rated = min(state.capacity_kw, limits.node_max_kw)
    if abs(g.kw) > rated:
        g.change(GuardRule.POWER, f"limited to {rated:g} kW", math.copysign(rated, g.kw))
    soc = state.soc if state.soc is not None else 0.0
    if g.kw > 0:
        room_kwh = max(0.0, (limits.soc_max - soc) * state.battery_kwh)
        most = room_kwh / limits.hours
        if g.kw > most:
            g.change(
                GuardRule.SOC,
                f"soc {soc:.0%}: charging {limits.hours:g} h may add {room_kwh:.2f} kWh "
                f"up to {limits.soc_max:.0%}",
                most,
            )
    elif g.kw < 0:
        stored_kwh = max(0.0, (soc - limits.soc_min) * state.battery_kwh)
        most = stored_kwh * limits.efficiency / limits.hours
        if -g.kw > most:
            g.change(
                GuardRule.SOC,
                f"soc {soc:.0%}: discharging {limits.hours:g} h may use {stored_kwh:.2f} kWh "
                f"down to {limits.soc_min:.0%}",
                -most,
            )
    if limits.zero_export and g.kw < 0:
        net_load = max(0.0, (state.load_kw or 0.0) - (state.pv_kw or 0.0))
        if -g.kw > net_load:
            g.change(
                GuardRule.EXPORT,
                f"no export: discharge capped at the home's net load {net_load:.2f} kW",
                -net_load,
            )
    return g


def guard_fleet(guarded: Sequence[Guarded], limits: GuardLimits) -> None:
    """Rules 7-8, in place: the fleet limit, then rounding and the deadband."""
    total = sum(abs(g.kw) for g in guarded)
    if limits.fleet_max_kw > 0 and total > limits.fleet_max_kw:
        share = limits.fleet_max_kw / total
        for g in guarded:
            g.change(
                GuardRule.FLEET,
                f"fleet asked {total:.1f} kW, limit {limits.fleet_max_kw:g} kW: scaled by "
                f"{share:.3f}",
                g.kw * share,
            )
    for g in guarded:
        # Round towards zero so that neither a limit nor the fleet cap is exceeded.
        steps = math.floor(abs(g.kw) / limits.kw_step + 1e-9)
        rounded = math.copysign(steps * limits.kw_step, g.kw) if steps else 0.0
        if rounded and abs(rounded) < limits.min_kw:
            rounded = 0.0
        if rounded != g.kw:
            reason = (
                f"below the smallest action {limits.min_kw:g} kW"
                if rounded == 0.0
                else f"rounded to the {limits.kw_step:g} kW step"
            )
            g.change(GuardRule.DEADBAND, reason, rounded)


def guard(
    states: Sequence[NodeState],
    requested_kw: Sequence[float],
    limits: GuardLimits,
    grid: GridState,
) -> list[Guarded]:
    """Every rule, for the whole fleet."""
    guarded = [guard_node(s, kw, limits, grid) for s, kw in zip(states, requested_kw, strict=True)]
    guard_fleet(guarded, limits)
    return guarded
