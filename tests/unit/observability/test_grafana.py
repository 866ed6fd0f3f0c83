"""infra/grafana: the provisioned dashboards follow Grafana's dashboard model (the fields
Grafana needs to load and lay out a dashboard), every PromQL expression parses (promtool
checks it as a recording rule), and every `vpp_*` metric a panel uses is one our code
exports. The provisioning files point at the dashboards and the datasource they use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.observability.support import ROOT, promtool, unknown_metrics

GRAFANA = ROOT / "infra" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE_UID = "vpp-prometheus"
GRID_COLUMNS = 24
# Grafana's interval variables, given a value so promtool can parse the expression.
_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def _load(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def test_the_four_dashboards_are_there() -> None:
    assert {p.stem for p in DASHBOARDS} == {"fleet", "ingest", "dispatch", "automation"}
    assert len({_load(p)["uid"] for p in DASHBOARDS}) == len(DASHBOARDS)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_follows_grafanas_model(path: Path) -> None:
    d = _load(path)
    assert isinstance(d["schemaVersion"], int)
    assert d["schemaVersion"] >= 36
    assert d["title"]
    assert re.fullmatch(r"[a-z0-9-]{1,40}", d["uid"])
    assert {"from", "to"} <= set(d["time"])
    assert isinstance(d["templating"]["list"], list)
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in d["panels"]:
        assert panel["type"] in {"timeseries", "stat", "gauge", "table", "bargauge"}
        assert panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid)
        assert grid["w"] > 0
        assert grid["h"] > 0
        assert grid["x"] + grid["w"] <= GRID_COLUMNS
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["expr"].strip()
            assert target["datasource"]["uid"] == DATASOURCE_UID


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panels_do_not_overlap(path: Path) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in _load(path)["panels"]:
        g = panel["gridPos"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, panel["title"]
        cells |= mine


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_expressions_parse_and_use_exported_metrics(path: Path, tmp_path: Path) -> None:
    expressions = _expressions(_load(path))
    for expr in expressions:
        assert unknown_metrics(expr) == set(), expr
    rules = []
    for n, expr in enumerate(expressions):
        concrete = expr
        for variable, value in _VARIABLES.items():
            concrete = concrete.replace(variable, value)
        rules.append({"record": f"panel:{path.stem}:{n}", "expr": concrete})
    rule_file = tmp_path / "panels.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}))
    result = promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_points_at_the_datasource_and_dashboards() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, "prometheus")
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/vpp.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
