"""How the `vpp` command ends once it has used Temporal.

The abort it avoids (the SDK's Rust threads outliving the interpreter's teardown,
temporalio/sdk-python#300) comes in some runs only, so these tests replace `os._exit`
and check the path taken; the real command was run repeatedly against the stack (see
`vpp.temporal_client.exit_before_teardown`)."""

from __future__ import annotations

import logging
import logging.handlers
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vpp import cli, temporal_client


class Ended(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@pytest.fixture
def core_started() -> Iterator[None]:
    temporal_client._core_started.set()
    try:
        yield
    finally:
        temporal_client._core_started.clear()


@pytest.fixture
def ended(monkeypatch: pytest.MonkeyPatch) -> None:
    def end(code: int) -> None:
        raise Ended(code)

    monkeypatch.setattr(os, "_exit", end)


def test_a_command_that_used_temporal_ends_with_its_status_past_the_teardown(
    monkeypatch: pytest.MonkeyPatch, core_started: None, ended: None
) -> None:
    monkeypatch.setattr("sys.argv", ["vpp", "--help"])
    with pytest.raises(Ended) as done:
        cli.main()
    assert done.value.code == 0
    monkeypatch.setattr("sys.argv", ["vpp", "no-such-command"])
    with pytest.raises(Ended) as done:
        cli.main()
    assert done.value.code == 2  # click's usage error keeps its status


def test_a_command_that_never_used_temporal_ends_as_usual(
    monkeypatch: pytest.MonkeyPatch, ended: None
) -> None:
    assert not temporal_client.core_started()
    monkeypatch.setattr("sys.argv", ["vpp", "--help"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0


def test_the_output_and_logs_are_flushed_before_the_process_ends(
    ended: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "command.log"
    # Buffered until flushed, as the teardown would flush it.
    handler = logging.handlers.MemoryHandler(100, target=logging.FileHandler(log))
    logger = logging.getLogger("test_cli_exit")
    logger.addHandler(handler)
    try:
        print("the command's result")
        logger.warning("the command's log line")
        assert log.read_text() == ""
        with pytest.raises(Ended) as done:
            temporal_client.exit_before_teardown(3)
    finally:
        logger.removeHandler(handler)
    assert done.value.code == 3
    assert capsys.readouterr().out == "the command's result\n"
    assert log.read_text() == "the command's log line\n"


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (4, 4), ("bad input", 1)])
def test_the_status_is_the_interpreters(
    code: int | str | None, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.exit_code(SystemExit(code)) == status
    assert capsys.readouterr().err == ("bad input\n" if isinstance(code, str) else "")
