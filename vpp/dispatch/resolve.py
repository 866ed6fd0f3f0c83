"""Whether a dispatch is possible as asked: its targets against the node registry.

A listed node must be registered, able to do the action (a home has no deferrable load)
and rated for the kW. `all` means every registered node able to take the command; nodes
that cannot are left out and said so. Anything impossible refuses the whole request
before a single command is sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from vpp.dispatch.models import RegisteredNode
from vpp.models import Action, CommandParams, NodeKind

KIND_ACTIONS: dict[NodeKind, frozenset[Action]] = {
    NodeKind.EDGE_DC: frozenset(Action),
    NodeKind.HOME_DER: frozenset({Action.CHARGE, Action.DISCHARGE, Action.HOLD}),
}
_POWERED = frozenset({Action.CHARGE, Action.DISCHARGE, Action.DEFER_LOAD})
# Problems listed one by one up to this many, then counted.
_MAX_LISTED = 20


@dataclass
class Resolution:
    node_ids: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # any: the request is refused
    notes: list[str] = field(default_factory=list)  # nodes `all` left out, and why


def _unable(node: RegisteredNode, action: Action, params: CommandParams) -> str | None:
    if action not in KIND_ACTIONS.get(node.kind, frozenset()):
        return f"a {node.kind.value} node cannot {action.value}"
    if action in _POWERED and params.kw > node.capacity_kw:
        return f"{params.kw:g} kW is over its {node.capacity_kw:g} kW capacity"
    return None


def resolve(
    targets: Sequence[str] | Literal["all"],
    registered: Sequence[RegisteredNode],
    action: Action,
    params: CommandParams,
) -> Resolution:
    result = Resolution()
    if action in _POWERED and params.kw <= 0:
        result.problems.append(f"{action.value} needs kW above 0")
        return result
    by_id = {n.dc_id: n for n in registered}
    if targets == "all":
        left_out: Counter[str] = Counter()
        for node in sorted(registered, key=lambda n: n.dc_id):
            why = _unable(node, action, params)
            if why is None:
                result.node_ids.append(node.dc_id)
            else:
                left_out[why] += 1
        result.notes = [f"{count} nodes left out: {why}" for why, count in sorted(left_out.items())]
        if not result.node_ids:
            result.problems.append("no registered node can take this command")
        return result
    seen: set[str] = set()
    problems: list[str] = []
    for dc_id in targets:
        if dc_id in seen:
            continue
        seen.add(dc_id)
        found = by_id.get(dc_id)
        if found is None:
            problems.append(f"{dc_id}: unknown node")
            continue
        why = _unable(found, action, params)
        if why is not None:
            problems.append(f"{dc_id}: {why}")
            continue
        result.node_ids.append(dc_id)
    if len(problems) > _MAX_LISTED:
        problems = [*problems[:_MAX_LISTED], f"... and {len(problems) - _MAX_LISTED} more"]
    result.problems = problems
    return result
