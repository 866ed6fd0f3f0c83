"""The safety guard: each rule clamps what it must, records why, and leaves the rest alone."""

from __future__ import annotations

import math

import pytest

from vpp.models import Action, NodeKind
from vpp.optimize.guard import GridState, GuardLimits, guard, guard_node
from vpp.optimize.models import GuardRule, NodeState
from vpp.optimize.plan import group_actions
from vpp.optimize.value import expected_saving
from vpp.store.aggregate import FreqStatus

LIMITS = GuardLimits(
    soc_min=0.1,
    soc_max=0.9,
    node_max_kw=500.0,
    fleet_max_kw=0.0,
    min_kw=0.5,
    kw_step=0.1,
    hours=0.25,
)
CALM = GridState(avg_freq=50.0, freq_status=FreqStatus.NORMAL)


def node(dc_id: str = "n1", **changes: object) -> NodeState:
    fields: dict[str, object] = {
        "dc_id": dc_id,
        "kind": NodeKind.HOME_DER,
        "capacity_kw": 5.0,
        "battery_kwh": 10.0,
        "soc": 0.5,
    }
    return NodeState.model_validate(fields | changes)


def test_an_action_within_every_limit_passes_unchanged() -> None:
    g = guard_node(node(), 3.0, LIMITS, CALM)
    assert (g.kw, g.changes) == (3.0, [])


def test_an_out_of_limit_action_is_clamped_to_the_rated_kw_with_its_reason() -> None:
    g = guard_node(node(), 8.0, LIMITS, CALM)
    assert g.kw == 5.0
    (change,) = g.changes
    assert change.rule is GuardRule.POWER
    assert (change.kw_before, change.kw_after) == (8.0, 5.0)
    assert "5 kW" in change.reason
    assert guard_node(node(), -8.0, LIMITS, CALM).kw == -5.0


def test_the_operator_per_node_limit_is_below_the_rating() -> None:
    limits = GuardLimits(**{**LIMITS.__dict__, "node_max_kw": 2.0})
    assert guard_node(node(), 4.0, limits, CALM).kw == 2.0


def test_charging_stops_at_the_soc_ceiling() -> None:
    # 0.85 of 10 kWh: 0.5 kWh of room below 0.9, i.e. 2 kW for a quarter hour.
    g = guard_node(node(soc=0.85), 5.0, LIMITS, CALM)
    assert g.kw == pytest.approx(2.0)
    assert [c.rule for c in g.changes] == [GuardRule.SOC]
    assert guard_node(node(soc=0.95), 5.0, LIMITS, CALM).kw == 0.0


def test_discharging_stops_at_the_soc_floor_with_losses_counted() -> None:
    # 0.15 of 10 kWh: 0.5 kWh above 0.1, delivering 0.45 kWh at 90 %: 1.8 kW for 15 min.
    g = guard_node(node(soc=0.15), -5.0, LIMITS, CALM)
    assert g.kw == pytest.approx(-1.8)
    assert g.changes[-1].rule is GuardRule.SOC


def test_a_node_held_by_a_manual_dispatch_is_left_alone() -> None:
    g = guard_node(node(held_by="abc123"), 3.0, LIMITS, CALM)
    assert g.kw == 0.0
    assert g.changes[0].rule is GuardRule.MANUAL
    assert "abc123" in g.changes[0].reason


def test_a_node_without_a_fresh_state_gets_nothing() -> None:
    g = guard_node(node(problem="offline"), -3.0, LIMITS, CALM)
    assert g.kw == 0.0
    assert g.changes[0].rule is GuardRule.STATE


@pytest.mark.parametrize(
    ("freq", "status", "asked", "kept"),
    [
        (49.75, FreqStatus.CRITICAL, 3.0, 0.0),  # short grid: no more load
        (49.75, FreqStatus.CRITICAL, -3.0, -3.0),  # discharging helps
        (50.15, FreqStatus.WARNING, -3.0, 0.0),  # long grid: no more supply
        (50.15, FreqStatus.WARNING, 3.0, 3.0),
        (50.05, FreqStatus.NORMAL, 3.0, 3.0),
    ],
)
def test_a_frequency_event_overrides_what_makes_it_worse(
    freq: float, status: FreqStatus, asked: float, kept: float
) -> None:
    g = guard_node(node(), asked, LIMITS, GridState(avg_freq=freq, freq_status=status))
    assert g.kw == kept
    if kept != asked:
        assert g.changes[0].rule is GuardRule.FREQUENCY


def test_the_fleet_limit_scales_every_node_and_is_never_exceeded() -> None:
    limits = GuardLimits(**{**LIMITS.__dict__, "fleet_max_kw": 6.0})
    out = guard([node("a"), node("b"), node("c")], [4.0, -4.0, 4.0], limits, CALM)
    assert sum(abs(g.kw) for g in out) <= 6.0
    assert all(any(c.rule is GuardRule.FLEET for c in g.changes) for g in out)


def test_small_actions_fall_in_the_deadband_and_others_round_towards_zero() -> None:
    out = guard([node("a"), node("b")], [0.3, 2.37], LIMITS, CALM)
    assert out[0].kw == 0.0
    assert out[0].changes[-1].rule is GuardRule.DEADBAND
    assert out[1].kw == pytest.approx(2.3)


def test_groups_share_one_dispatch_per_action_and_kw() -> None:
    out = guard([node("a"), node("b"), node("c"), node("d")], [2.0, 2.0, -1.0, 0.0], LIMITS, CALM)
    groups = group_actions(out)
    assert [(g.action, g.kw, g.node_ids) for g in groups] == [
        (Action.CHARGE, 2.0, ["a", "b"]),
        (Action.DISCHARGE, 1.0, ["c"]),
    ]


def test_the_expected_saving_follows_the_price_spread() -> None:
    cheap_now = [0.1] + [0.4] * 23
    dear_now = [0.4] + [0.1] * 23
    carbon = [0.0] * 24
    kwargs = {"carbon_price": 0.0, "efficiency": 0.9}
    assert expected_saving(4.0, 0.25, cheap_now, carbon, **kwargs) > 0
    assert expected_saving(4.0, 0.25, dear_now, carbon, **kwargs) < 0
    assert expected_saving(-4.0, 0.25, dear_now, carbon, **kwargs) > 0
    assert expected_saving(0.0, 0.25, dear_now, carbon, **kwargs) == 0.0


def test_without_export_a_home_discharges_no_more_than_its_net_load() -> None:
    limits = GuardLimits(**{**LIMITS.__dict__, "zero_export": True})
    g = guard_node(node(load_kw=2.5, pv_kw=1.0), -4.0, limits, CALM)
    assert g.kw == pytest.approx(-1.5)
    assert g.changes[-1].rule is GuardRule.EXPORT
    # PV above the load: nothing to cover, so no discharge; charging is untouched.
    nothing = guard_node(node(load_kw=0.5, pv_kw=2.0), -4.0, limits, CALM)
    assert nothing.kw == 0.0
    # A plain zero, not -0.0: the decision stores and shows 0 kW.
    assert math.copysign(1.0, nothing.kw) == 1.0
    assert math.copysign(1.0, nothing.changes[-1].kw_after) == 1.0
    assert guard_node(node(load_kw=0.5, pv_kw=2.0), 3.0, limits, CALM).kw == 3.0
    # With export allowed, the net load does not limit the discharge.
    assert guard_node(node(load_kw=2.5, pv_kw=1.0), -4.0, LIMITS, CALM).kw == -4.0
