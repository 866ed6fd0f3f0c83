"""`vpp stack up | down | status`: the local stack's servers as tracked processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from vpp.config import Settings
from vpp.stack.process import ProcessRecord, StackError, port_in_use, tail
from vpp.stack.servers import SERVER_TYPES, Server

_POLL_S = 0.25


class State(StrEnum):
    STARTED = "started"
    REUSED = "reused"
    RUNNING = "running"
    UNHEALTHY = "unhealthy"
    STOPPED = "stopped"
    NOT_RUNNING = "not running"
    EXTERNAL = "external"


@dataclass(frozen=True)
class ServerReport:
    name: str
    state: State
    endpoint: str
    pid: int | None = None
    seconds: float | None = None

    def line(self) -> str:
        pid = f"pid {self.pid}" if self.pid else ""
        took = f"({self.seconds:.1f} s)" if self.seconds is not None else ""
        return f"{self.name:<9} {self.state.value:<9} {pid:<11} {self.endpoint} {took}".rstrip()


class Stack:
    """The servers of one stack: one data directory, one set of ports."""

    def __init__(
        self,
        settings: Settings,
        only: Sequence[str] = (),
        server_types: Sequence[type[Server]] = SERVER_TYPES,
    ) -> None:
        names = [cls.name for cls in server_types]
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise StackError(
                f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(names)}"
            )
        self.settings = settings
        self.data_dir = settings.stack.data_dir.expanduser().resolve()
        self.external_mongo = settings.mongo.external and "mongo" in names
        self.servers: list[Server] = [
            cls(settings, self.data_dir)
            for cls in server_types
            if (not only or cls.name in only)
            and not (cls.name == "mongo" and settings.mongo.external)
        ]

    def record(self, server: Server) -> ProcessRecord:
        return ProcessRecord(server.name, self.data_dir / "run", self.data_dir / "logs")

    def log_file(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def _live_pid(self, server: Server) -> int | None:
        pid = self.record(server).pid()
        if pid is None:
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return None
        return pid if server.process_marker in cmdline else None

    async def up(
        self, on_ready: Callable[[ServerReport], None] | None = None
    ) -> list[ServerReport]:
        """Start what is not running, reuse what is, and wait until every server answers."""
        started: dict[str, tuple[int, bool, float]] = {}
        for server in self.servers:
            t0 = time.monotonic()
            pid = self._live_pid(server)
            if pid is not None:
                started[server.name] = (pid, False, t0)
                continue
            for key, port in server.ports.items():
                if port_in_use(server.host, port):
                    raise StackError(
                        f"{server.name}: port {server.host}:{port} is already in use by a process "
                        f"this stack did not start; stop that process or set "
                        f"{server.port_variable(key)} to a free port"
                    )
            launch = server.prepare()
            pid = self.record(server).spawn(launch.argv, env=launch.env, cwd=launch.cwd)
            started[server.name] = (pid, True, t0)

        async def wait(server: Server) -> ServerReport:
            pid, fresh, t0 = started[server.name]
            report = await self._wait_healthy(server, pid, fresh, t0)
            if on_ready is not None:
                on_ready(report)
            return report

        results = await asyncio.gather(
            *(wait(server) for server in self.servers), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise StackError("\n".join(str(e) for e in errors))
        reports = [r for r in results if isinstance(r, ServerReport)]
        if self.external_mongo:
            reports.append(self._external_mongo_report())
        return reports

    async def _wait_healthy(self, server: Server, pid: int, fresh: bool, t0: float) -> ServerReport:
        deadline = t0 + self.settings.stack.start_timeout_s
        record = self.record(server)
        while True:
            if await server.healthy():
                state = State.STARTED if fresh else State.REUSED
                return ServerReport(server.name, state, server.endpoint, pid, time.monotonic() - t0)
            if record.pid() is None:
                raise StackError(
                    f"{server.name}: exited during start-up; last lines of {record.log_file}:\n"
                    + tail(record.log_file)
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"{server.name}: did not answer within "
                    f"{self.settings.stack.start_timeout_s:.0f} s (still running as pid {pid}; "
                    f"`vpp stack down` stops it); last lines of {record.log_file}:\n"
                    + tail(record.log_file)
                )
            await asyncio.sleep(_POLL_S)

    def down(self) -> list[ServerReport]:
        """Stop exactly the processes `up` recorded, in reverse order."""
        reports = []
        for server in reversed(self.servers):
            record = self.record(server)
            pid = record.pid()
            stopped = record.stop()
            state = State.STOPPED if stopped else State.NOT_RUNNING
            reports.append(ServerReport(server.name, state, server.endpoint, pid))
        return reports

    async def status(self) -> list[ServerReport]:
        async def one(server: Server) -> ServerReport:
            pid = self._live_pid(server)
            if pid is None:
                return ServerReport(server.name, State.NOT_RUNNING, server.endpoint)
            state = State.RUNNING if await server.healthy() else State.UNHEALTHY
            return ServerReport(server.name, state, server.endpoint, pid)

        reports = list(await asyncio.gather(*(one(server) for server in self.servers)))
        if self.external_mongo:
            reports.append(self._external_mongo_report())
        return reports

    def _external_mongo_report(self) -> ServerReport:
        return ServerReport("mongo", State.EXTERNAL, "VPP_MONGO__URI (not started here)")
