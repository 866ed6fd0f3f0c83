"""`vpp schedules` and `vpp forecast train|cycle|backtest` when Temporal or MongoDB is away:
one line that says what and where, exit 1."""

from __future__ import annotations

import socket

import pytest
import typer
from typer.testing import CliRunner

from vpp.config import get_settings
from vpp.ml.forecast.command import forecast_app
from vpp.schedules_command import schedules_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("app", "command"),
    [
        (schedules_app, ["apply"]),
        (schedules_app, ["list"]),
        (forecast_app, ["train"]),
        (forecast_app, ["cycle"]),
    ],
)
def test_an_unreachable_temporal_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, app: typer.Typer, command: list[str]
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("VPP_TEMPORAL__PORT", str(port))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, command)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert f"error: cannot reach Temporal at 127.0.0.1:{port}" in result.output
    assert "vpp stack up" in result.output
    assert "Traceback" not in result.output


def test_a_backtest_that_cannot_store_says_so_before_it_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store is checked first: no minutes of fitting lost to an absent MongoDB."""
    port = free_port()
    monkeypatch.setenv("VPP_MONGO__PORT", str(port))
    monkeypatch.delenv("VPP_MONGO__URI", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(forecast_app, ["backtest", "-m", "lightgbm"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert f"error: cannot reach MongoDB at 127.0.0.1:{port} to store the table" in result.output
    assert "--no-store" in result.output
    assert "homes + fleet" not in result.output  # the run never started
    assert "Traceback" not in result.output
