"""Run controllers over the same episodes and compare them.

Every controller (a `Policy`, or the LP's schedule replayed as actions) runs through the
same env, so the env's cost model judges all of them. The LP's schedule is replayed with
every setpoint applied as given (`EnvConfig.exact`); no battery is the env's own
reference hour, recorded beside the LP's. A policy may also run in *hindsight*, its
forecasts replaced by the actual hours ahead (`BatteryEnv.hindsight_input`): a reference
row that splits its gap to the LP into what perfect forecasts would close and what its
own way of acting leaves (the LP also acts exactly and sees the whole episode, its end
included). Per controller: energy cost,
emissions, peak import, the objective (cost + carbon + wear, what the LP minimises), the
saving against no battery, that saving as a share of the LP's, and a CityLearn-2022-style
score (cost, emissions and the grid terms each divided by the no-battery run, averaged as
1/3 cost + 1/3 emissions + 1/3 grid, the grid term the mean of ramping and 1 - load
factor of the imports; lower is better, no battery = 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from vpp.ml.rl.baselines import NO_BATTERY, solve_lp
from vpp.ml.rl.env import BatteryEnv, EnvConfig, StepRecord
from vpp.ml.rl.episodes import EpisodeSpec, load_home
from vpp.ml.rl.observation import ObservationInput
from vpp.ml.rl.policy import Policy
from vpp.ml.rl.settings import RLSettings

LP_NAME = "lp-optimum"
HINDSIGHT_SUFFIX = " (hindsight)"

ActFn = Callable[[ObservationInput, int], float]  # (observation, hour of the episode) -> action
ProgressFn = Callable[[int], None]


@dataclass
class Totals:
    """One controller over a set of episodes."""

    name: str
    objective: float = 0.0
    energy_cost: float = 0.0
    emissions_kg: float = 0.0
    peak_import_kw: float = 0.0
    ramping_kw: float = 0.0
    load_factors: list[float] = field(default_factory=list)
    episodes: int = 0
    objectives: list[float] = field(default_factory=list)  # per episode, for checks

    def add(self, records: Sequence[StepRecord]) -> None:
        net = np.array([r.cost.net_kw for r in records])
        objective = sum(r.cost.objective for r in records)
        self.objective += objective
        self.objectives.append(objective)
        self.energy_cost += sum(r.cost.energy_cost for r in records)
        self.emissions_kg += sum(r.cost.emissions_kg for r in records)
        self.peak_import_kw = max(self.peak_import_kw, *(r.cost.import_kw for r in records))
        self.ramping_kw += float(np.abs(np.diff(net)).sum())
        # On imports: with exports in the net, a PV home's tiny peak import would divide
        # a large negative mean and swamp every other term.
        imports = np.clip(net, 0.0, None)
        top = float(imports.max())
        self.load_factors.append(1.0 - float(imports.mean()) / top if top > 0 else 0.0)
        self.episodes += 1


@dataclass(frozen=True)
class Row:
    name: str
    energy_cost: float
    emissions_kg: float
    peak_import_kw: float
    objective: float
    saving: float  # objective of no battery minus this one, $
    saving_vs_lp: float  # saving / the LP's saving
    score: float  # CityLearn-style, lower is better
    price_ratio: float
    emissions_ratio: float
    grid_ratio: float
    # The LP, no battery and hindsight rows: references, never a policy to choose.
    reference: bool = False


@dataclass(frozen=True)
class Report:
    rows: list[Row]
    episodes: int
    hours: int

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def best_policy(self) -> Row:
        """The policy with the largest saving (no reference row)."""
        return max((r for r in self.rows if not r.reference), key=lambda r: r.saving)


def without_battery(records: Sequence[StepRecord]) -> list[StepRecord]:
    """The same hours as the env charged them with no battery at all."""
    return [replace(r, battery_kw=0.0, cost=r.baseline, idle=False) for r in records]


def run_episode(env: BatteryEnv, spec: EpisodeSpec, act: ActFn, soc: float) -> list[StepRecord]:
    env.reset(options={"episode": spec, "soc": soc})
    truncated = False
    hour = 0
    while not truncated:
        a = act(env.observation_input(), hour)
        _, _, _, truncated, _ = env.step(np.array([a], dtype=np.float32))
        hour += 1
    return list(env.history)


def _replaying(actions: npt.NDArray[np.float64]) -> ActFn:
    return lambda _o, t: float(actions[t])


def evaluate(
    rl: RLSettings,
    episodes: Sequence[EpisodeSpec],
    policies: Sequence[Policy],
    *,
    hindsight: Sequence[Policy] = (),
    progress: ProgressFn | None = None,
) -> Report:
    """No battery, the LP optimum, each policy and each `hindsight` policy (named with
    `HINDSIGHT_SUFFIX`) over `episodes`, all from `rl.eval_initial_soc`."""
    if not episodes:
        raise ValueError("no episodes to evaluate")
    config = EnvConfig.from_settings(
        rl, buildings=sorted({e.building for e in episodes}), months=[], episodes=episodes
    )
    env, exact = BatteryEnv(config), BatteryEnv(config.exact())
    soc = rl.eval_initial_soc
    seeing = [p.name + HINDSIGHT_SUFFIX for p in hindsight]
    names = [NO_BATTERY, LP_NAME, *(p.name for p in policies), *seeing]
    totals = {name: Totals(name) for name in names}
    if len(totals) != len(names):
        raise ValueError("controllers need distinct names")
    for spec in episodes:
        home = load_home(config.data_dir, spec.building, config.forecast_days)
        lp = solve_lp(
            home,
            spec,
            config.cost,
            initial_soc=soc,
            soc_min=rl.soc_min,
            soc_max=rl.soc_max,
            zero_export=rl.zero_export,
        )
        actions = lp.actions(home.battery.nominal_kw)
        lp_records = run_episode(exact, spec, _replaying(actions), soc)
        totals[LP_NAME].add(lp_records)
        totals[NO_BATTERY].add(without_battery(lp_records))
        for policy in policies:
            totals[policy.name].add(
                run_episode(env, spec, lambda o, _t, p=policy: p.act(o), soc)  # type: ignore[misc]
            )
        for policy, name in zip(hindsight, seeing, strict=True):
            totals[name].add(
                run_episode(env, spec, lambda _o, _t, p=policy: p.act(env.hindsight_input()), soc)  # type: ignore[misc]
            )
        if progress:
            progress(1)
    references = {NO_BATTERY, LP_NAME, *seeing}
    return _report(totals, references, len(episodes), sum(e.hours for e in episodes))


def _report(totals: dict[str, Totals], references: set[str], episodes: int, hours: int) -> Report:
    base, lp = totals[NO_BATTERY], totals[LP_NAME]
    lp_saving = base.objective - lp.objective
    base_lf = float(np.mean(base.load_factors))

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else math.nan

    rows = []
    for t in totals.values():
        price = ratio(t.energy_cost, base.energy_cost)
        emissions = ratio(t.emissions_kg, base.emissions_kg)
        grid = 0.5 * (
            ratio(t.ramping_kw, base.ramping_kw) + ratio(float(np.mean(t.load_factors)), base_lf)
        )
        saving = base.objective - t.objective
        rows.append(
            Row(
                name=t.name,
                energy_cost=t.energy_cost,
                emissions_kg=t.emissions_kg,
                peak_import_kw=t.peak_import_kw,
                objective=t.objective,
                saving=saving,
                saving_vs_lp=ratio(saving, lp_saving),
                score=(price + emissions + grid) / 3.0,
                price_ratio=price,
                emissions_ratio=emissions,
                grid_ratio=grid,
                reference=t.name in references,
            )
        )
    return Report(rows=rows, episodes=episodes, hours=hours)


def format_table(report: Report) -> str:
    width = max(22, *(len(r.name) + 1 for r in report.rows))
    head = (
        f"{'controller':<{width}}{'cost $':>10}{'CO2 kg':>10}{'peak kW':>9}{'objective $':>13}"
        f"{'saving $':>10}{'of LP':>8}{'score':>8}{'price':>7}{'CO2':>7}{'grid':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in report.rows:
        lines.append(
            f"{r.name:<{width}}{r.energy_cost:>10.2f}{r.emissions_kg:>10.1f}{r.peak_import_kw:>9.2f}"
            f"{r.objective:>13.2f}{r.saving:>10.2f}{r.saving_vs_lp:>8.3f}{r.score:>8.3f}"
            f"{r.price_ratio:>7.3f}{r.emissions_ratio:>7.3f}{r.grid_ratio:>7.3f}"
        )
    lines.append(f"{report.episodes} episodes, {report.hours} hours")
    return "\n".join(lines)
