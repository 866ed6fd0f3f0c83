"""The expected saving of one battery action: an estimate stored with each decision, so an
operator can see what the automation expects to gain, and compare it with what happened.

Energy charged now is worth what it displaces later: the import it saves at the dearest
quarter of the hours ahead, less the losses. Energy discharged now saves the import at
today's price, but must be bought back at the cheapest quarter of the hours ahead. The
same holds for emissions at the carbon price. An estimate, not a promise: the policy's
reward is the real objective.
"""

from __future__ import annotations

from collections.abc import Sequence


def _quarter_mean(values: Sequence[float], *, high: bool) -> float:
    ranked = sorted(values, reverse=high)
    k = max(1, len(ranked) // 4)
    return sum(ranked[:k]) / k


def expected_saving(
    kw: float,
    hours: float,
    prices: Sequence[float],
    carbon: Sequence[float],
    *,
    carbon_price: float,
    efficiency: float,
) -> float:
    """The saving (currency units) of running `kw` (positive charges) for `hours`, given
    the price and carbon intensity of this hour first and the hours ahead after."""
    if kw == 0 or not prices:
        return 0.0
    costs = [
        p + carbon_price * (carbon[i] if i < len(carbon) else 0.0) for i, p in enumerate(prices)
    ]
    cost_now, later = costs[0], costs[1:] or costs
    energy = abs(kw) * hours
    if kw > 0:
        return energy * (efficiency * _quarter_mean(later, high=True) - cost_now)
    return energy * (cost_now - _quarter_mean(later, high=False) / efficiency)
