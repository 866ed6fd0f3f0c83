"""Which requests are refused before anything is sent."""

from __future__ import annotations

from vpp.dispatch.models import RegisteredNode
from vpp.dispatch.resolve import resolve
from vpp.models import Action, CommandParams, NodeKind

REGISTRY = [
    RegisteredNode(dc_id="dc-1", kind=NodeKind.EDGE_DC, capacity_kw=150.0),
    RegisteredNode(dc_id="dc-2", kind=NodeKind.EDGE_DC, capacity_kw=250.0),
    RegisteredNode(dc_id="home-1", kind=NodeKind.HOME_DER, capacity_kw=7.0),
]


def test_listed_nodes_able_to_take_the_command_are_resolved_once_each() -> None:
    result = resolve(["dc-2", "dc-1", "dc-2"], REGISTRY, Action.DISCHARGE, CommandParams(kw=100))
    assert (result.node_ids, result.problems) == (["dc-2", "dc-1"], [])


def test_unknown_nodes_impossible_actions_and_kw_over_capacity_refuse_the_request() -> None:
    result = resolve(
        ["dc-1", "home-1", "ghost"], REGISTRY, Action.DEFER_LOAD, CommandParams(kw=200)
    )
    assert result.problems == [
        "dc-1: 200 kW is over its 150 kW capacity",
        "home-1: a home_der node cannot defer_load",
        "ghost: unknown node",
    ]


def test_a_hold_needs_no_kw_but_the_other_actions_do() -> None:
    assert resolve(["home-1"], REGISTRY, Action.HOLD, CommandParams(kw=0)).problems == []
    assert resolve(["home-1"], REGISTRY, Action.CHARGE, CommandParams(kw=0)).problems == [
        "charge needs kW above 0"
    ]


def test_all_means_every_node_able_to_take_the_command() -> None:
    result = resolve("all", REGISTRY, Action.CHARGE, CommandParams(kw=100))
    assert result.node_ids == ["dc-1", "dc-2"]
    assert result.notes == ["1 nodes left out: 100 kW is over its 7 kW capacity"]
    nobody = resolve("all", REGISTRY, Action.CHARGE, CommandParams(kw=1_000))
    assert nobody.problems == ["no registered node can take this command"]


def test_a_long_list_of_problems_is_cut_short() -> None:
    result = resolve([f"ghost-{i}" for i in range(50)], REGISTRY, Action.HOLD, CommandParams())
    assert len(result.problems) == 21
    assert result.problems[-1] == "... and 30 more"
