"""From guarded actions to dispatches: nodes that get the same command share one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from vpp.models import Action
from vpp.optimize.guard import Guarded
from vpp.optimize.models import DispatchGroup


def action_of(kw: float) -> Action | None:
    if kw > 0:
        return Action.CHARGE
    if kw < 0:
        return Action.DISCHARGE
    return None


def group_actions(guarded: Sequence[Guarded]) -> list[DispatchGroup]:
    """One group per (action, kW), largest first; nodes with nothing to do are left out."""
    groups: dict[tuple[Action, float], list[str]] = defaultdict(list)
    for g in guarded:
        action = action_of(g.kw)
        if action is not None:
            groups[(action, abs(g.kw))].append(g.dc_id)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0][0].value, item[0][1]))
    return [
        DispatchGroup(action=action, kw=kw, node_ids=sorted(ids)) for (action, kw), ids in ordered
    ]
