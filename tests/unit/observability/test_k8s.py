"""infra/k8s renders and validates offline: `kustomize build` of each overlay piped to
`kubeconform -strict` against Kubernetes' JSON schemas (scripts/install-k8s-tools.sh
caches the tools and schemas). The servers' Helm charts cannot be fetched here, so their
pinned chart list and values files are checked, not the charts' output."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.observability.support import ROOT
from vpp.config import IngestSettings, MetricsSettings

K8S = ROOT / "infra" / "k8s"
K8S_VERSION = "1.34.0"


@cache
def tools() -> Path:
    """The cache folder holding bin/kustomize, bin/kubeconform and the schemas."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "install-k8s-tools.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return Path(result.stdout.strip().splitlines()[-1])


def kubeconform(manifests: str) -> subprocess.CompletedProcess[str]:
    schemas = tools() / "kubernetes-json-schema" / f"v{K8S_VERSION}-standalone-strict"
    return subprocess.run(
        [
            str(tools() / "bin" / "kubeconform"),
            "-strict",
            "-summary",
            "-schema-location",
            str(schemas) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-",
        ],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@cache
def rendered(overlay: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(tools() / "bin" / "kustomize"), "build", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    validation = kubeconform(result.stdout)
    assert validation.returncode == 0, validation.stdout + validation.stderr
    assert "Invalid: 0, Errors: 0" in validation.stdout, validation.stdout
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def container(doc: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    return containers[0]


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_overlay_renders_and_validates_strictly(overlay: str) -> None:
    docs = rendered(overlay)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for name in ("api", "worker-io", "worker-ml", "ack-relay"):
        assert ("Deployment", name) in kinds
    assert {("Service", "api"), ("Ingress", "api"), ("StatefulSet", "ingest")} <= kinds
    assert {("HorizontalPodAutoscaler", "ingest"), ("Job", "schedules")} <= kinds
    assert (("Deployment", "edge-sim") in kinds) == (overlay == "dev")


def test_strict_validation_refuses_an_unknown_field() -> None:
    bad = "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: []}\n"
    assert kubeconform(bad).returncode != 0


def test_processes_are_wired_as_the_settings_say() -> None:
    docs = rendered("production")
    ingest_port = IngestSettings().metrics_port  # the defaults; the tests' env shifts ports
    metrics = MetricsSettings()
    api = container(find(docs, "Deployment", "api"))
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ingest = find(docs, "StatefulSet", "ingest")
    assert container(ingest)["ports"][0]["containerPort"] == ingest_port
    hpa = find(docs, "HorizontalPodAutoscaler", "ingest")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "ingest",
    }
    io, ml = (container(find(docs, "Deployment", f"worker-{q}")) for q in ("io", "ml"))
    assert io["args"] == ["worker", "--queue", "io"]
    assert ml["args"] == ["worker", "--queue", "ml"]
    assert io["ports"][0]["containerPort"] == metrics.io_worker_port
    assert ml["ports"][1]["containerPort"] == metrics.ml_worker_sdk_port
    assert ml["resources"] != io["resources"]  # the ML queue has its own sizing
    config = find_prefixed(docs, "ConfigMap", "vpp-config")["data"]
    assert config["VPP_METRICS__HOST"] == "0.0.0.0"
    for variable in config:
        assert variable.startswith("VPP_"), variable


def find_prefixed(docs: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]
    return doc


def test_server_charts_are_pinned_and_their_values_parse() -> None:
    servers = K8S / "servers"
    kustomization = yaml.safe_load((servers / "kustomization.yaml").read_text())
    charts = {c["name"]: c for c in kustomization["helmCharts"]}
    assert set(charts) == {"temporal", "community-operator", "redis", "emqx", "keycloakx"}
    for chart in charts.values():
        assert chart["version"][0].isdigit(), chart["name"]
        values = yaml.safe_load((servers / chart["valuesFile"]).read_text())
        assert isinstance(values, dict), chart["name"]
    realm = kustomization["configMapGenerator"][0]["files"][0].split("=", 1)[1]
    assert (servers / realm).resolve() == ROOT / "infra" / "keycloak" / "vpp-realm.json"
