"""`vpp rl evaluate` and `vpp rl train` from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vpp.config import get_settings
from vpp.ml.rl.command import rl_app


@pytest.fixture
def empty_model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VPP_RL__MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("VPP_RL__EPISODE_HOURS", "48")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_evaluate_prints_the_table(empty_model_dir: Path) -> None:
    out = empty_model_dir / "rows.json"
    result = CliRunner().invoke(
        rl_app, ["evaluate", "--buildings", "12", "--months", "7", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("controller"))
    names = ["no-battery", "lp-optimum", "self-consumption", "rule-based", "rule-based (hindsight)"]
    assert [line[: len(n)] for line, n in zip(lines[header + 2 :], names, strict=False)] == names
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == names
    assert [r["reference"] for r in rows] == [True, True, False, False, True]
    # The best is a policy, not a reference row: not the LP, not the rule in hindsight.
    best = max((r for r in rows if not r["reference"]), key=lambda r: r["saving"])
    assert f"best: {best['name']}, " in result.output


def test_evaluate_without_hindsight_has_no_reference_policy_row(empty_model_dir: Path) -> None:
    result = CliRunner().invoke(
        rl_app, ["evaluate", "--buildings", "12", "--months", "7", "--no-hindsight"]
    )
    assert result.exit_code == 0, result.output
    assert "hindsight" not in result.output


def test_evaluate_refuses_bad_buildings(empty_model_dir: Path) -> None:
    result = CliRunner().invoke(rl_app, ["evaluate", "--buildings", "eleven"])
    assert result.exit_code == 1
    assert "--buildings must look like" in result.output


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--buildings", "99", "--buildings: [99] not within 1-17"), ("--months", "0,13", "1-12")],
)
def test_evaluate_refuses_buildings_and_months_out_of_range(
    empty_model_dir: Path, option: str, value: str, message: str
) -> None:
    result = CliRunner().invoke(rl_app, ["evaluate", option, value])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_evaluate_refuses_a_policy_file_of_unknown_algorithm(empty_model_dir: Path) -> None:
    bogus = empty_model_dir / "dqn.zip"
    bogus.write_bytes(b"not a model")
    result = CliRunner().invoke(rl_app, ["evaluate", "--policy", str(bogus)])
    assert result.exit_code == 1
    assert "must start with one of sac, ppo" in result.output


def test_train_refuses_a_bad_hyperparameter_file(
    empty_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = empty_model_dir / "hp.yaml"
    path.write_text("sac:\n  total_timesteps: -3\n")
    monkeypatch.setenv("VPP_RL__HYPERPARAMS_FILE", str(path))
    get_settings.cache_clear()
    result = CliRunner().invoke(rl_app, ["train", "--no-registry", "-a", "sac"])
    assert result.exit_code == 1
    assert "sac.total_timesteps" in result.output


def test_a_trained_residual_policy_is_evaluated_from_its_file(
    empty_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's name says its algorithm (the longest match: ppo_residual, not ppo) and the
    file itself says it corrects the rule-based controller."""
    path = empty_model_dir / "hp.yaml"
    path.write_text(
        "ppo_residual:\n  total_timesteps: 256\n  n_steps: 128\n  batch_size: 64\n"
        "  n_epochs: 1\n  net_arch: [8]\n  residual_scale: 0.2\n"
    )
    monkeypatch.setenv("VPP_RL__HYPERPARAMS_FILE", str(path))
    get_settings.cache_clear()
    trained = CliRunner().invoke(
        rl_app, ["train", "--no-registry", "--no-held-out", "-a", "ppo_residual"]
    )
    assert trained.exit_code == 0, trained.output
    saved = empty_model_dir / "ppo_residual.zip"
    renamed = empty_model_dir / "ppo_residual-copy.zip"
    renamed.write_bytes(saved.read_bytes())
    result = CliRunner().invoke(
        rl_app,
        ["evaluate", "-p", str(saved), "-p", str(renamed), "--buildings", "11", "--months", "7"],
    )
    assert result.exit_code == 0, result.output
    rows = [line.split()[0] for line in result.output.splitlines() if line.startswith("ppo_")]
    assert rows == ["ppo_residual", "ppo_residual-copy"]
