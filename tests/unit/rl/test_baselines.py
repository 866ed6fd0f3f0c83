"""The perfect-foresight LP against every controller on the same held-out episodes: no
controller may cost less, and the env, replaying the LP's schedule, must charge exactly
the LP's own objective (the two cost models agree)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vpp.ml.rl.baselines import NO_BATTERY, RuleBasedPolicy, SelfConsumptionPolicy, solve_lp
from vpp.ml.rl.costs import CostModel
from vpp.ml.rl.env import BatteryEnv, EnvConfig
from vpp.ml.rl.episodes import EpisodeSpec, consecutive_episodes, load_home
from vpp.ml.rl.evaluate import (
    HINDSIGHT_SUFFIX,
    LP_NAME,
    evaluate,
    format_table,
    run_episode,
)
from vpp.ml.rl.settings import RLSettings


def _replay(rl: RLSettings, spec: EpisodeSpec, actions: np.ndarray, cost: CostModel) -> float:
    config = dataclasses.replace(
        EnvConfig.from_settings(rl, buildings=[spec.building], months=[], episodes=[spec]).exact(),
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
    rule, own = RuleBasedPolicy(), SelfConsumptionPolicy()
    report = evaluate(rl, held_out, [own, rule], hindsight=[rule])
    lp = report.row(LP_NAME)
    seeing = rule.name + HINDSIGHT_SUFFIX
    for name in (NO_BATTERY, own.name, rule.name, seeing):
        assert report.row(name).objective >= lp.objective - 1e-6
    # Episode by episode too, including controllers acting at random: around the idle
    # band (self-consumption mixed with setpoints) and anywhere.
    config = EnvConfig.from_settings(rl, buildings=[11], months=[], episodes=held_out)
    env = BatteryEnv(config)
    rng = np.random.default_rng(0)
    band = rl.idle_below_kw / 5.0
    for spec in held_out:
        home = load_home(rl.data_dir, spec.building)
        best = solve_lp(
            home, spec, config.cost, initial_soc=rl.eval_initial_soc, soc_min=0.05, soc_max=0.95
        ).objective
        for act in (
            lambda o, _t: rule.act(o),
            lambda o, _t: own.act(o),
            lambda _o, _t: float(rng.uniform(-1, 1)),
            lambda _o, _t: float(rng.uniform(-2 * band, 2 * band)),
        ):
            records = run_episode(env, spec, act, rl.eval_initial_soc)
            assert sum(r.cost.objective for r in records) >= best - 1e-6


def test_self_consumption_and_rule_based_beat_no_battery(
    rl: RLSettings, held_out: list[EpisodeSpec]
) -> None:
    report = evaluate(rl, held_out, [SelfConsumptionPolicy(), RuleBasedPolicy()])
    assert report.row(NO_BATTERY).score == pytest.approx(1.0)
    assert report.row(NO_BATTERY).saving == 0.0
    for name in ("self-consumption", "rule-based"):
        row = report.row(name)
        assert row.saving > 0
        assert 0 < row.saving_vs_lp <= 1
        assert row.score < 1.0


def test_no_battery_is_the_envs_hour_without_the_battery(
    rl: RLSettings, held_out: list[EpisodeSpec]
) -> None:
    """The reference row is computed, not acted: the hour's import at its price."""
    spec = held_out[0]
    report = evaluate(rl, [spec], [])
    home = load_home(rl.data_dir, spec.building)
    rows = np.arange(spec.start_row, spec.start_row + spec.hours)
    imports = np.clip(home.load_kw[rows] - home.pv_kw[rows], 0.0, None)
    assert report.row(NO_BATTERY).energy_cost == pytest.approx(float(home.price[rows] @ imports))


def test_rule_based_grid_charges_only_in_cheap_hours(
    rl: RLSettings, held_out: list[EpisodeSpec]
) -> None:
    """Its one decision: a top-up before an expensive block; otherwise no command."""
    rule = RuleBasedPolicy()
    env = BatteryEnv(EnvConfig.from_settings(rl, buildings=[11], months=[], episodes=held_out))
    commands = 0
    for spec in held_out:
        env.reset(options={"episode": spec, "soc": rl.soc_min})
        for _ in range(spec.hours):
            o = env.observation_input()
            a = rule.act(o)
            if o.prices_ahead[0] > min(o.prices_ahead) + 1e-6:
                assert a == 0.0
            else:
                assert a == 0.0 or a * o.max_power_kw >= rl.idle_below_kw
            commands += a > 0
            env.step(np.array([a], dtype=np.float32))
    assert commands > 0


def test_evaluate_prints_a_row_per_controller(rl: RLSettings, held_out: list[EpisodeSpec]) -> None:
    table = format_table(evaluate(rl, held_out[:2], [SelfConsumptionPolicy(), RuleBasedPolicy()]))
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["controller", "cost", "$", "CO2"]
    assert "of LP" in lines[0]
    assert "score" in lines[0]
    names = [line.split()[0] for line in lines[2:-1]]
    assert names == [NO_BATTERY, LP_NAME, "self-consumption", "rule-based"]
    assert lines[-1] == f"2 episodes, {2 * rl.episode_hours} hours"


def test_hindsight_is_a_reference_row_never_the_best_policy(
    rl: RLSettings, held_out: list[EpisodeSpec]
) -> None:
    """The rule with the actual hours ahead as forecasts: never chosen, even when it saves
    the most, and it differs from the rule only by what it was told about the future."""
    rule = RuleBasedPolicy()
    report = evaluate(rl, held_out, [rule], hindsight=[rule])
    seeing = report.row(rule.name + HINDSIGHT_SUFFIX)
    assert seeing.reference
    assert not report.row(rule.name).reference
    assert report.row(LP_NAME).reference
    assert report.row(NO_BATTERY).reference
    assert seeing.objective != report.row(rule.name).objective
    assert report.best_policy().name == rule.name
    table = format_table(report)
    assert f"{rule.name}{HINDSIGHT_SUFFIX} " in table  # the name column fits it


def test_evaluate_refuses_duplicate_names(rl: RLSettings, held_out: list[EpisodeSpec]) -> None:
    with pytest.raises(ValueError, match="distinct"):
        evaluate(rl, held_out[:1], [RuleBasedPolicy(), RuleBasedPolicy()])


def test_the_score_stays_bounded_for_homes_that_export_most_hours(rl: RLSettings) -> None:
    """Building 7 in July exports most hours; its 1 - load factor is taken on imports, so a
    tiny peak import cannot blow the grid term up (on the net it reached 546,825)."""
    episodes = consecutive_episodes([7], [7], rl.episode_hours)
    report = evaluate(rl, episodes, [SelfConsumptionPolicy(), RuleBasedPolicy()])
    for row in report.rows:
        assert 0.0 <= row.grid_ratio < 3.0, row
        assert 0.0 <= row.score < 3.0, row
