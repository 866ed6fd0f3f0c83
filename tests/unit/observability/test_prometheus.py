"""infra/prometheus: promtool accepts the scrape config and the alert rules, the rules'
own unit tests pass, the config `vpp observability up` writes is valid and points at the
settings' ports, and every metric the rules use is one our code exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.unit.observability.support import PROMETHEUS_DIR, promtool, unknown_metrics
from vpp.config import Settings
from vpp.stack.observability import render_config, scrape_targets

RULES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))


def test_promtool_accepts_the_scrape_config() -> None:
    result = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_fire_and_stay_quiet_as_their_unit_tests_say() -> None:
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    result = promtool("test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_named_in_the_issue_exists() -> None:
    alerts = {
        rule["alert"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert {
        "VppIngestStalled",
        "VppDeadLetterSpike",
        "VppDispatchFailureRatio",
        "VppForecastScheduleMissed",
        "VppOptimizeScheduleMissed",
        "VppFleetOffline",
    } <= alerts


def test_rules_use_only_metrics_our_code_exports() -> None:
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert unknown_metrics(rule["expr"]) == set(), rule.get("alert")


def test_rendered_config_is_valid_and_scrapes_the_settings_ports(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "prometheus.yml").write_text(render_config(settings))
    shutil.copytree(PROMETHEUS_DIR / "rules", tmp_path / "rules")
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = yaml.safe_load((tmp_path / "prometheus.yml").read_text())["scrape_configs"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in jobs}
    assert targets == scrape_targets(settings)
    assert targets["ingest"].endswith(f":{settings.ingest.metrics_port}")
    assert targets["worker-io"].endswith(f":{settings.metrics.io_worker_port}")
