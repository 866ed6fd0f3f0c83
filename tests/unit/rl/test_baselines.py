"""The perfect-foresight LP against every controller on the same held-out episodes: no
controller may cost less, and the env, replaying the LP's schedule, must charge exactly
the LP's own objective (the two cost models agree)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vpp.ml.rl.baselines import NoBatteryPolicy, RuleBasedPolicy, solve_lp
from vpp.ml.rl.costs import CostModel
from vpp.ml.rl.env import BatteryEnv, EnvConfig
from vpp.ml.rl.episodes import EpisodeSpec, load_home
from vpp.ml.rl.evaluate import LP_NAME, NO_BATTERY, evaluate, format_table, run_episode
from vpp.ml.rl.settings import RLSettings


def _replay(rl: RLSettings, spec: EpisodeSpec, actions: np.ndarray, cost: CostModel) -> float:
    config = dataclasses.replace(
        EnvConfig.from_settings(rl, buildings=[spec.building], months=[], episodes=[spec]),
        cost=cost,
    )
    records = run_episode(BatteryEnv(config), spec, lambda _o, t: float(actions[t]), 0.3)
    return sum(r.cost.objective for r in records)


@pytest.mark.parametrize(
    "cost",
    [
        CostModel(),
        CostModel(carbon_price_per_kg=0.0, degradation_per_kwh=0.0),
        CostModel(export_price_share=0.5, degradation_per_kwh=0.03),
        CostModel(peak_price_per_kw=0.2),
    ],
    ids=["default", "energy-only", "paid-export", "peak-charge"],
)
def test_env_replaying_the_lp_charges_the_lp_objective(
    rl: RLSettings, held_out: list[EpisodeSpec], cost: CostModel
) -> None:
    for spec in held_out[:3]:
        home = load_home(rl.data_dir, spec.building)
        lp = solve_lp(home, spec, cost, initial_soc=0.3, soc_min=rl.soc_min, soc_max=rl.soc_max)
        charged = _replay(rl, spec, lp.actions(home.battery.nominal_kw), cost)
        assert charged == pytest.approx(lp.objective, abs=1e-6 * spec.hours)


def test_a_wrong_lp_is_caught_by_the_replay(rl: RLSettings, held_out: list[EpisodeSpec]) -> None:
    """The replay check can fail: an LP that forgets the efficiency promises a cost the env
    does not deliver."""
    spec = held_out[0]
    home = load_home(rl.data_dir, spec.building)
    lossless = dataclasses.replace(home, battery=dataclasses.replace(home.battery, efficiency=1.0))
    wrong = solve_lp(lossless, spec, CostModel(), initial_soc=0.3, soc_min=0.05, soc_max=0.95)
    charged = _replay(rl, spec, wrong.actions(home.battery.nominal_kw), CostModel())
    assert charged > wrong.objective + 0.01


def test_no_controller_beats_the_lp(rl: RLSettings, held_out: list[EpisodeSpec]) -> None:
    rule = RuleBasedPolicy()
    report = evaluate(rl, held_out, [rule])
    lp = report.row(LP_NAME)
    for name in (NO_BATTERY, rule.name):
        assert report.row(name).objective >= lp.objective - 1e-6
    # Episode by episode too, including a controller acting at random.
    config = EnvConfig.from_settings(rl, buildings=[11], months=[], episodes=held_out)
    env = BatteryEnv(config)
    rng = np.random.default_rng(0)
    for spec in held_out:
        home = load_home(rl.data_dir, spec.building)
        best = solve_lp(
            home, spec, config.cost, initial_soc=rl.eval_initial_soc, soc_min=0.05, soc_max=0.95
        ).objective
        for act in (
            lambda o, _t: rule.act(o),
            lambda o, _t: NoBatteryPolicy().act(o),
            lambda _o, _t: float(rng.uniform(-1, 1)),
        ):
            records = run_episode(env, spec, act, rl.eval_initial_soc)
            assert sum(r.cost.objective for r in records) >= best - 1e-6


def test_rule_based_beats_no_battery(rl: RLSettings, held_out: list[EpisodeSpec]) -> None:
    report = evaluate(rl, held_out, [RuleBasedPolicy()])
    rule = report.row("rule-based")
    assert rule.saving > 0
    assert 0 < rule.saving_vs_lp <= 1
    assert rule.score < 1.0
    assert report.row(NO_BATTERY).score == pytest.approx(1.0)


def test_evaluate_prints_a_row_per_controller(rl: RLSettings, held_out: list[EpisodeSpec]) -> None:
    table = format_table(evaluate(rl, held_out[:2], [RuleBasedPolicy()]))
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["controller", "cost", "$", "CO2"]
    assert "of LP" in lines[0]
    assert "score" in lines[0]
    names = [line.split()[0] for line in lines[2:-1]]
    assert names == [NO_BATTERY, LP_NAME, "rule-based"]
    assert lines[-1] == f"2 episodes, {2 * rl.episode_hours} hours"


def test_evaluate_refuses_duplicate_names(rl: RLSettings, held_out: list[EpisodeSpec]) -> None:
    with pytest.raises(ValueError, match="distinct"):
        evaluate(rl, held_out[:1], [RuleBasedPolicy(), RuleBasedPolicy()])
