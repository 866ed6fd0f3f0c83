"""Prometheus from Debian's package, scraping the local platform (`vpp observability up`,
`make run-observability`): the metrics graphed without Docker, on loopback.

Its config is `infra/prometheus/prometheus.yml` with each job's target moved to the port
the current settings give that process, and the alert rules beside it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from vpp.config import Settings
from vpp.stack.servers import Launch, Server, answers_ok, require_binary

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "infra" / "prometheus"
RETENTION = "7d"


def scrape_targets(settings: Settings) -> dict[str, str]:
    """Each job of the scrape config and where this machine's process serves /metrics."""
    m, local = settings.metrics, "127.0.0.1"
    return {
        "api": f"{settings.api.host}:{settings.api.port}",
        "ingest": f"{local}:{settings.ingest.metrics_port}",
        "worker-io": f"{m.host}:{m.io_worker_port}",
        "worker-ml": f"{m.host}:{m.ml_worker_port}",
        "temporal-sdk-io": f"{m.host}:{m.io_worker_sdk_port}",
        "temporal-sdk-ml": f"{m.host}:{m.ml_worker_sdk_port}",
        "ack-relay": f"{m.host}:{m.ack_relay_port}",
        "edge-sim": f"{local}:{settings.edge_sim.status_port}",
        "temporal-server": f"{settings.temporal.host}:{settings.temporal.metrics_port}",
        "prometheus": f"{local}:{m.prometheus_port}",
    }


def render_config(settings: Settings, source: Path = PROMETHEUS_DIR / "prometheus.yml") -> str:
    """The committed config with every job's target at the settings' port."""
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    targets = scrape_targets(settings)
    for job in config["scrape_configs"]:
        target = targets.get(job["job_name"])
        if target is None:
            raise ValueError(f"no target known for scrape job {job['job_name']!r}")
        job["static_configs"] = [{"targets": [target]}]
    return yaml.safe_dump(config, sort_keys=False)


class PrometheusServer(Server):
    name = "prometheus"
    process_marker = "prometheus"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def ports(self) -> dict[str, int]:
        return {"prometheus_port": self.settings.metrics.prometheus_port}

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/graph"

    def port_variable(self, key: str) -> str:
        return f"VPP_METRICS__{key.upper()}"

    def prepare(self) -> Launch:
        binary = require_binary("prometheus", "install it with `apt-get install prometheus`")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        rules = self.data_dir / "rules"
        shutil.rmtree(rules, ignore_errors=True)
        shutil.copytree(PROMETHEUS_DIR / "rules", rules)
        config = self.data_dir / "prometheus.yml"
        config.write_text(render_config(self.settings))
        return Launch(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir / 'data'}",
                f"--storage.tsdb.retention.time={RETENTION}",
                f"--web.listen-address={self.host}:{self.port}",
            ]
        )

    async def healthy(self) -> bool:
        return await answers_ok(f"http://{self.host}:{self.port}/-/ready")


OBSERVABILITY_TYPES: tuple[type[Server], ...] = (PrometheusServer,)
