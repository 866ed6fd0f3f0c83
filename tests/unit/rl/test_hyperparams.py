"""The hyperparameter file: the shipped one is valid; bad input is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpp.ml.rl.hyperparams import (
    HyperparamsError,
    PPOParams,
    ResidualPPOParams,
    SACParams,
    load_hyperparams,
    parse_hyperparams,
)
from vpp.ml.rl.service import chosen_params
from vpp.ml.rl.settings import RLSettings


def test_the_shipped_file_is_valid() -> None:
    table = load_hyperparams(RLSettings().hyperparams_file)
    assert isinstance(table["sac"], SACParams)
    assert isinstance(table["ppo"], PPOParams)
    assert isinstance(table["ppo_residual"], ResidualPPOParams)
    assert 0.0 < table["ppo_residual"].residual_scale <= 1.0
    assert table["sac"].sb3_kwargs()["policy_kwargs"] == {"net_arch": table["sac"].net_arch}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sac: [1, 2", "not valid YAML"),
        ("- sac\n- ppo\n", "mapping of algorithm"),
        ("dqn:\n  total_timesteps: 10\n", "unknown algorithm 'dqn'"),
        ("sac: 5\n", "sac must be a mapping"),
        ("sac:\n  total_timesteps: 0\n", r"sac\.total_timesteps: .*greater than or equal to 1"),
        ("sac:\n  total_timesteps: 10\n  learning_rat: 0.1\n", r"sac\.learning_rat: Extra"),
        ("ppo:\n  total_timesteps: 10\n  gamma: 1.5\n", r"ppo\.gamma"),
        ("sac:\n  learning_rate: 0.1\n", r"sac\.total_timesteps: Field required"),
        ("sac:\n  total_timesteps: 10\n  ent_coef: lots\n", r"sac\.ent_coef"),
        ("sac:\n  total_timesteps: 10\n  seeds: 0\n", r"sac\.seeds"),
        ("ppo_residual:\n  total_timesteps: 10\n  residual_scale: 2\n", r"residual_scale"),
        ("ppo:\n  total_timesteps: 10\n  residual_scale: 0.2\n", r"ppo\.residual_scale: Extra"),
    ],
)
def test_bad_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "hp.yaml"
    path.write_text(text)
    with pytest.raises(HyperparamsError, match=message) as info:
        load_hyperparams(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HyperparamsError, match="cannot read hyperparameters"):
        load_hyperparams(tmp_path / "nope.yaml")


def test_an_algorithm_the_file_lacks_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hp.yaml"
    path.write_text("ppo:\n  total_timesteps: 10\n")
    rl = RLSettings(hyperparams_file=path)
    with pytest.raises(HyperparamsError, match=r"no parameters for \['sac'\]"):
        chosen_params(rl, ["sac"])
    with pytest.raises(HyperparamsError, match="unknown algorithm"):
        chosen_params(rl, ["a2c"])


def test_empty_mapping_is_refused() -> None:
    with pytest.raises(HyperparamsError, match="mapping"):
        parse_hyperparams({})
