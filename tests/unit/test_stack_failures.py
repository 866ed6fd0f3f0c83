"""How `vpp stack up` reports a server that cannot start: one line to act on, and its log."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpp.config import Settings, StackSettings
from vpp.stack import Stack, StackError
from vpp.stack.servers import Launch, Server, require_binary


class ScriptServer(Server):
    """A stand-in process (a shell script) in place of a real server binary."""

    name = "redis"
    process_marker = "sh"
    script = ""

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def ports(self) -> dict[str, int]:
        return {"port": 1}  # nothing listens on port 1 here

    @property
    def endpoint(self) -> str:
        return "script"

    def prepare(self) -> Launch:
        return Launch(["sh", "-c", self.script])

    async def healthy(self) -> bool:
        return False


def _stack(tmp_path: Path, script: str, timeout_s: float = 30.0) -> Stack:
    settings = Settings(
        _env_file=None,
        stack=StackSettings(data_dir=tmp_path, start_timeout_s=timeout_s),
    )
    stack = Stack(settings, only=["redis"])
    server = ScriptServer(settings, stack.data_dir)
    server.script = script
    stack.servers = [server]
    return stack


async def test_server_that_exits_reports_its_log(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "echo 'fatal: cannot open data dir'; exit 3")
    with pytest.raises(StackError) as err:
        await stack.up()
    first, *log = str(err.value).splitlines()
    assert first.startswith("redis: exited during start-up; last lines of ")
    assert "fatal: cannot open data dir" in log


async def test_server_that_never_answers_times_out_and_says_how_to_stop_it(
    tmp_path: Path,
) -> None:
    stack = _stack(tmp_path, "echo 'still warming up'; exec sleep 60", timeout_s=1.0)
    try:
        with pytest.raises(StackError) as err:
            await stack.up()
        first = str(err.value).splitlines()[0]
        assert first.startswith("redis: did not answer within 1 s")
        assert "`vpp stack down` stops it" in first
        assert "still warming up" in str(err.value)
    finally:
        stack.down()
    assert stack.record(stack.servers[0]).pid() is None


def test_missing_binary_says_how_to_install_it() -> None:
    with pytest.raises(StackError, match=r"^no-such-server: not found on PATH; apt-get it$"):
        require_binary("no-such-server", "apt-get it")
