"""`vpp forecast backtest` refuses bad options before reading data or fitting anything."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vpp.ml.forecast.command import forecast_app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--buildings", "99"], "--buildings: [99] not within 1-17"),
        (["--buildings", "0-2"], "--buildings: [0] not within 1-17"),
        (["--buildings", "one"], "--buildings must look like 11-17 or 5,6,7, not 'one'"),
        (["--buildings", ","], "--buildings names none"),
    ],
)
def test_backtest_refuses_buildings_outside_the_data(args: list[str], message: str) -> None:
    result = CliRunner().invoke(forecast_app, ["backtest", "--no-store", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_backtest_refuses_a_stride_below_one_hour() -> None:
    # Wide enough that the usage box does not wrap the message.
    result = CliRunner().invoke(
        forecast_app, ["backtest", "--no-store", "--stride", "0"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "Invalid value for '--stride': Input should be greater than or equal to 1" in (
        result.output
    )
