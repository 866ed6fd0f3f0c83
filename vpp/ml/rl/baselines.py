"""The controllers every policy is measured against.

- no battery: the evaluation's reference row (the CityLearn score's denominator), the
  env's own hour without the battery (`StepRecord.baseline`); no action stands for it.
- `SelfConsumptionPolicy`: no command ever, so the home battery runs in its own mode
  (stores PV surplus, covers the load): what the fleet does without this platform.
- `RuleBasedPolicy`: leaves the battery to self-consumption, and in cheap hours tops it
  up from the grid just enough for the next expensive block. It reads only an
  `ObservationInput`, so the live cycle can use it as its fallback policy.
- `solve_lp`: the perfect-foresight optimum of an episode, a linear program over the same
  battery physics (`vpp.edge_sim.physics.Battery`) and the same cost model
  (`vpp.ml.rl.costs`) as the env, solved by HiGHS. It knows the actual load and PV and
  sets any power each hour (self-consumption included), so no controller can cost less;
  tests replay its schedule through the env to hold the two models to the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]
from scipy.optimize import linprog  # type: ignore[import-untyped]

from vpp.ml.rl.costs import CostModel
from vpp.ml.rl.episodes import EpisodeSpec, Home
from vpp.ml.rl.observation import Float32Array, ObservationInput, build_observation

FloatArray = npt.NDArray[np.float64]
_PRICE_EPS = 1e-6
NO_BATTERY = "no-battery"


class SelfConsumptionPolicy:
    name = "self-consumption"
    reads_recent = False

    def act(self, obs_input: ObservationInput) -> float:
        return 0.0  # under any idle band: no command

    def observe(self, obs_input: ObservationInput) -> Float32Array:
        return build_observation(obs_input)


class RuleBasedPolicy:
    """A hand-written controller on the observation's forecasts and tariff.

    Its one decision is when to charge from the grid; everything else is the node's own
    self-consumption, which follows the actual load and PV and so beats any setpoint made
    from a forecast of them: in an expensive hour it covers the load from storage (the
    most a zero-export inverter may discharge) and keeps any PV surplus. On buildings
    9-10 in May-July that alone earned 0.93 of the LP's saving, more than setpoints
    following the forecasts (0.80); with the top-up, 0.95.

    `efficiency` applies each way (as on the nodes); `degradation_per_kwh` keeps it from
    grid-charging when the price spread does not pay for the round trip; `idle_below_kw`
    is the env's and the guard's band: a top-up smaller than that is no command.
    """

    name = "rule-based"
    reads_recent = False

    def __init__(
        self,
        *,
        efficiency: float = 0.9,
        soc_min: float = 0.05,
        soc_max: float = 0.95,
        degradation_per_kwh: float = 0.01,
        idle_below_kw: float = 1.0,
    ) -> None:
        if not 0.0 < efficiency <= 1.0:
            raise ValueError("efficiency must be in (0, 1]")
        self.efficiency = efficiency
        self.soc_min = soc_min
        self.soc_max = soc_max
        self.degradation = degradation_per_kwh
        self.idle_below_kw = idle_below_kw

    def act(self, obs_input: ObservationInput) -> float:
        return min(max(self._kw(obs_input) / obs_input.max_power_kw, -1.0), 1.0)

    def observe(self, obs_input: ObservationInput) -> Float32Array:
        return build_observation(obs_input)

    @staticmethod
    def may_top_up(o: ObservationInput) -> bool:
        """Whether the hour is one of the cheapest ahead, where a grid top-up is weighed;
        in any dearer hour the rule leaves the battery to self-consumption."""
        return o.prices_ahead[0] <= min(o.prices_ahead) + _PRICE_EPS

    def _kw(self, o: ObservationInput) -> float:
        if not self.may_top_up(o):  # an expensive hour: self-consumption
            return 0.0
        prices = np.asarray(o.prices_ahead)
        eff = self.efficiency
        net = np.asarray(o.load_forecast_kw) - np.asarray(o.pv_forecast_kw)
        stored = max(o.soc - self.soc_min, 0.0) * o.capacity_kwh  # kWh inside, above the floor
        room = max(self.soc_max - o.soc, 0.0) * o.capacity_kwh
        top_up = self._top_up(net, prices, stored, o.max_power_kw)
        if top_up <= 0.0:
            return 0.0
        # A grid charge replaces self-consumption for the hour: it takes the forecast PV
        # surplus along with it.
        kw = min(max(float(-net[0]), top_up), o.max_power_kw, room / eff)
        return kw if kw >= self.idle_below_kw else 0.0

    def _top_up(self, net: FloatArray, prices: FloatArray, stored: float, max_kw: float) -> float:
        """What the next expensive block needs beyond what is stored and what the PV
        surplus before it will bring, charged as late as the cheap hours allow (by then
        the PV has shown what it brings)."""
        eff = self.efficiency
        dearer = np.flatnonzero(prices > prices[0] + _PRICE_EPS)
        if dearer.size == 0:
            return 0.0
        first = int(dearer[0])  # cheap hours left, this one included
        last = first
        while last + 1 < len(prices) and prices[last + 1] > prices[0] + _PRICE_EPS:
            last += 1
        round_trip_cost = prices[0] / (eff * eff) + 2.0 * self.degradation
        if prices[first : last + 1].max() <= round_trip_cost:
            return 0.0
        need = np.clip(net[first : last + 1], 0.0, None).sum() / eff  # kWh out of storage
        pv_later = np.clip(-net[1:first], 0.0, None).sum() * eff
        deficit = (need - stored - pv_later) / eff  # kWh at the terminals
        # Leave to the later cheap hours what they can still charge at full power.
        return float(np.clip(deficit - (first - 1) * max_kw, 0.0, max_kw))


@dataclass(frozen=True)
class LpSolution:
    battery_kw: FloatArray  # terminal power per hour, + charging
    objective: float  # $, the cost model's objective over the episode
    energy_cost: float
    emissions_kg: float

    def actions(self, max_power_kw: float) -> FloatArray:
        """The env's actions that reproduce this schedule."""
        return np.clip(self.battery_kw / max_power_kw, -1.0, 1.0)


class LpError(RuntimeError):
    pass


def solve_lp(
    home: Home,
    spec: EpisodeSpec,
    cost: CostModel,
    *,
    initial_soc: float,
    soc_min: float,
    soc_max: float,
    zero_export: bool = True,
) -> LpSolution:
    """The least objective over the episode, knowing its actual load and PV.

    Variables per hour t: charge c, discharge d (terminal kW, 0..P), import, export (kW,
    >= 0), stored energy after the hour e (kWh, within the SOC limits); and one peak
    variable above every import when the cost model charges for the peak.
    """
    T = spec.hours
    rows = np.arange(spec.start_row, spec.start_row + T)
    net = home.load_kw[rows] - home.pv_kw[rows]
    price, carbon = home.price[rows], home.carbon[rows]
    b = home.battery
    eta, cap, pmax = b.efficiency, b.capacity_kwh, b.nominal_kw
    c, d, imp, exp, _e, peak = (k * T for k in range(6))  # offsets; `peak` is one variable
    n = 5 * T + 1
    eye = sparse.identity(T, format="csr")
    # Energy balance at the meter: import - export - charge + discharge = load - PV.
    balance = sparse.hstack([-eye, eye, eye, -eye, sparse.csr_matrix((T, T + 1))])
    # Storage: e_t - e_{t-1} - eta c_t + d_t / eta = 0, with e_{-1} the initial energy.
    shift = sparse.eye(T, k=-1, format="csr")
    storage = sparse.hstack(
        [
            -eta * eye,
            eye / eta,
            sparse.csr_matrix((T, 2 * T)),
            eye - shift,
            sparse.csr_matrix((T, 1)),
        ]
    )
    a_eq = sparse.vstack([balance, storage]).tocsc()
    e0 = initial_soc * cap
    b_eq = np.concatenate([net, np.r_[e0, np.zeros(T - 1)]])
    objective = np.zeros(n)
    objective[c : c + T] = cost.degradation_per_kwh
    objective[d : d + T] = cost.degradation_per_kwh
    objective[imp : imp + T] = price + cost.carbon_price_per_kg * carbon
    objective[exp : exp + T] = -cost.export_price_share * price
    objective[peak] = cost.peak_price_per_kw
    bounds = (
        [(0.0, pmax)] * (2 * T)
        + [(0.0, None)] * (2 * T)
        + [(soc_min * cap, soc_max * cap)] * T
        + [(0.0, None if cost.peak_price_per_kw > 0 else 0.0)]
    )
    blocks: list[sparse.csc_matrix] = []
    limits: list[FloatArray] = []
    if cost.peak_price_per_kw > 0:  # import_t - peak <= 0
        blocks.append(
            sparse.hstack(
                [
                    sparse.csr_matrix((T, 2 * T)),
                    eye,
                    sparse.csr_matrix((T, 2 * T)),
                    -np.ones((T, 1)),
                ]
            ).tocsc()
        )
        limits.append(np.zeros(T))
    if zero_export:  # discharge - charge <= the home's net load (the env's inverter cap)
        blocks.append(sparse.hstack([-eye, eye, sparse.csr_matrix((T, 3 * T + 1))]).tocsc())
        limits.append(np.clip(net, 0.0, None))
    a_ub = sparse.vstack(blocks).tocsc() if blocks else None
    b_ub = np.concatenate(limits) if limits else None
    result = linprog(
        objective, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs"
    )
    if result.status != 0:
        raise LpError(f"the LP of {spec} failed: {result.message}")
    x = result.x
    imports = x[imp : imp + T]
    exports = x[exp : exp + T]
    return LpSolution(
        battery_kw=x[c : c + T] - x[d : d + T],
        objective=float(result.fun),
        energy_cost=float(price @ imports - cost.export_price_share * price @ exports),
        emissions_kg=float(carbon @ imports),
    )
