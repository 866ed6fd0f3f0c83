"""The platform's own processes (`vpp platform up`), run and tracked like the stack's servers."""

from __future__ import annotations

import sys

from vpp.stack.servers import Launch, Server, answers_ok


class PlatformProcess(Server):
    """A `vpp <subcommand>` process, healthy when its HTTP health URL answers 200."""

    process_marker = "vpp"
    subcommand: tuple[str, ...] = ()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def endpoint(self) -> str:
        return self.health_url

    def port_variable(self, key: str) -> str:
        return f"VPP_{self.name.upper().replace('-', '_')}__{key.upper()}"

    def prepare(self) -> Launch:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return Launch([sys.executable, "-m", "vpp", *self.subcommand])

    async def healthy(self) -> bool:
        return await answers_ok(self.health_url)


class EdgeSimProcess(PlatformProcess):
    """A simulator with the fleet of `VPP_EDGE_SIM__NODES` nodes (20 by default)."""

    name = "edge-sim"
    subcommand = ("edge-sim",)

    @property
    def ports(self) -> dict[str, int]:
        return {"status_port": self.settings.edge_sim.status_port}

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.port}/health"

    @property
    def endpoint(self) -> str:
        return f"{self.settings.edge_sim.nodes} nodes, status http://{self.host}:{self.port}/nodes"


class LogReadyProcess(PlatformProcess):
    """A process with no HTTP port: ready once its log, since its latest start, says so."""

    ready_line = ""

    @property
    def ports(self) -> dict[str, int]:
        return {}

    @property
    def endpoint(self) -> str:
        return f"log {self.data_dir.parent / 'logs' / (self.name + '.log')}"

    async def healthy(self) -> bool:
        log = self.data_dir.parent / "logs" / f"{self.name}.log"
        try:
            text = log.read_text(errors="replace")
        except OSError:
            return False
        return self.ready_line in text.rsplit("\n=== ", 1)[-1]


class IngestProcess(PlatformProcess):
    name = "ingest"
    subcommand = ("ingest",)

    @property
    def ports(self) -> dict[str, int]:
        return {"metrics_port": self.settings.ingest.metrics_port}

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"


class IoWorkerProcess(LogReadyProcess):
    name = "worker"
    subcommand = ("worker", "--queue", "io")
    ready_line = "io worker polling"


class MlWorkerProcess(LogReadyProcess):
    name = "ml-worker"
    subcommand = ("worker", "--queue", "ml")
    ready_line = "ml worker polling"


class AckRelayProcess(LogReadyProcess):
    name = "ack-relay"
    subcommand = ("ack-relay",)
    ready_line = "relaying acks from"


class ApiProcess(PlatformProcess):
    name = "api"
    subcommand = ("api",)

    @property
    def ports(self) -> dict[str, int]:
        return {"port": self.settings.api.port}

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.port}/healthz"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/graphql"


# Started in this order; the simulator last, once something listens to it.
PLATFORM_TYPES: tuple[type[Server], ...] = (
    IngestProcess,
    IoWorkerProcess,
    AckRelayProcess,
    MlWorkerProcess,
    ApiProcess,
    EdgeSimProcess,
)
PLATFORM_NAMES = tuple(cls.name for cls in PLATFORM_TYPES)
