"""`vpp schedules` when Temporal is away: one line that says what and where, exit 1."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from vpp.config import get_settings
from vpp.schedules_command import schedules_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("command", ["apply", "list"])
def test_an_unreachable_temporal_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("VPP_TEMPORAL__PORT", str(port))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(schedules_app, [command])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert f"error: cannot reach Temporal at 127.0.0.1:{port}" in result.output
    assert "vpp stack up" in result.output
    assert "Traceback" not in result.output
