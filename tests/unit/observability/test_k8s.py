"""infra/k8s renders and validates offline: `kustomize build` of each overlay piped to
`kubeconform -strict` against Kubernetes' JSON schemas (scripts/install-k8s-tools.sh
caches the tools and schemas). Of the servers, MongoDB (the operator's own Kustomize
config, cached from its Go module, and our replica set) renders and validates too, the
MongoDBCommunity resource against the operator's CRD; the other servers' Helm charts
cannot be fetched here, so their pinned chart list and values files are checked, not the
charts' output."""

from __future__ import annotations

import os
import subprocess
import tempfile
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


def kubeconform(manifests: str, *crd_schemas: Path) -> subprocess.CompletedProcess[str]:
    """Validate against Kubernetes' schemas, then each folder of CRD schemas in turn; a kind
    found in none is an error (no -ignore-missing-schemas)."""
    schemas = tools() / "kubernetes-json-schema" / f"v{K8S_VERSION}-standalone-strict"
    locations = [str(schemas) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"]
    for folder in crd_schemas:
        locations.append(
            str(folder) + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
        )
    return subprocess.run(
        [
            str(tools() / "bin" / "kubeconform"),
            "-strict",
            "-summary",
            *(arg for location in locations for arg in ("-schema-location", location)),
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
    for name in ("api", "worker-io", "worker-ml", "worker-ml-train", "ack-relay"):
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
    io, ml, train = (
        container(find(docs, "Deployment", f"worker-{q}")) for q in ("io", "ml", "ml-train")
    )
    assert io["args"] == ["worker", "--queue", "io"]
    # The cycles and the trainings in Deployments of their own: no cycle replica ever takes
    # up a training.
    assert ml["args"] == ["worker", "--queue", "ml-cycles"]
    assert train["args"] == ["worker", "--queue", "ml-train"]
    assert find(docs, "Deployment", "worker-ml-train")["spec"]["replicas"] == 1
    assert io["ports"][0]["containerPort"] == metrics.io_worker_port
    for worker in (ml, train):
        assert worker["ports"][0]["containerPort"] == metrics.ml_worker_port
        assert worker["ports"][1]["containerPort"] == metrics.ml_worker_sdk_port
    assert ml["resources"] != io["resources"]  # the ML queue has its own sizing
    config = find_prefixed(docs, "ConfigMap", "vpp-config")["data"]
    assert config["VPP_METRICS__HOST"] == "0.0.0.0"
    for variable in config:
        assert variable.startswith("VPP_"), variable


def find_prefixed(docs: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]
    return doc


MONGODB_OPERATOR = "https://github.com/mongodb/mongodb-kubernetes-operator//config/default?ref="


def mongodb_remote() -> str:
    """The operator's git URL in servers/mongodb, tag included."""
    kustomization = yaml.safe_load((K8S / "servers" / "mongodb" / "kustomization.yaml").read_text())
    (remote,) = [r for r in kustomization["resources"] if r.startswith(MONGODB_OPERATOR)]
    return str(remote)


@cache
def mongodb_operator() -> Path:
    """The cached copy of the operator's module at the tag servers/mongodb deploys: a tag
    the install script did not fetch fails here, so the two pins cannot drift apart."""
    tag = mongodb_remote().removeprefix(MONGODB_OPERATOR)
    cached = tools() / "k8s-servers" / f"mongodb-kubernetes-operator@{tag}"
    assert (cached / "config" / "default").is_dir(), f"{cached}: pin it in install-k8s-tools.sh"
    return cached


@cache
def rendered_mongodb() -> list[dict[str, Any]]:
    """servers/mongodb built as servers/kustomization.yaml includes it (same namespace),
    with the operator's git URL swapped for the cached module: same tag, same tree."""
    servers = K8S / "servers"
    namespace = yaml.safe_load((servers / "kustomization.yaml").read_text())["namespace"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "mongodb").mkdir()
        for path in (servers / "mongodb").iterdir():
            (root / "mongodb" / path.name).write_text(path.read_text())
        kustomization = root / "mongodb" / "kustomization.yaml"
        # kustomize refuses an absolute path as a resource folder
        local = os.path.relpath(mongodb_operator() / "config" / "default", kustomization.parent)
        kustomization.write_text(kustomization.read_text().replace(mongodb_remote(), local))
        (root / "kustomization.yaml").write_text(
            f"namespace: {namespace}\nresources:\n  - mongodb\n"
        )
        result = subprocess.run(
            [str(tools() / "bin" / "kustomize"), "build", str(root)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    validation = kubeconform(result.stdout, mongodb_operator() / "json-schema")
    assert validation.returncode == 0, validation.stdout + validation.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in validation.stdout, validation.stdout
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_mongodb_operator_and_replica_set_render_and_validate_strictly() -> None:
    docs = rendered_mongodb()
    operator = find(docs, "Deployment", "mongodb-kubernetes-operator")
    assert container(operator)["image"].endswith(":" + mongodb_operator().name.split("@v")[1])
    replica_set = find(docs, "MongoDBCommunity", "vpp-mongo")
    assert replica_set["spec"]["members"] == 3
    for doc in docs:
        if doc["kind"] != "CustomResourceDefinition":  # cluster-scoped
            assert doc["metadata"]["namespace"] == "vpp", doc["metadata"]["name"]


def test_the_crd_schema_refuses_what_the_operator_would() -> None:
    good = (K8S / "servers" / "mongodb" / "replicaset.yaml").read_text()
    schemas = mongodb_operator() / "json-schema"
    assert kubeconform(good, schemas).returncode == 0
    for bad in (
        good.replace("members: 3", "memberz: 3"),
        good.replace("members: 3", "members: three"),
    ):
        assert kubeconform(bad, schemas).returncode != 0


def test_server_charts_are_pinned_and_their_values_parse() -> None:
    servers = K8S / "servers"
    kustomization = yaml.safe_load((servers / "kustomization.yaml").read_text())
    assert "mongodb" in kustomization["resources"]
    charts = {c["name"]: c for c in kustomization["helmCharts"]}
    assert set(charts) == {"temporal", "redis", "emqx", "keycloakx"}
    for chart in charts.values():
        assert chart["version"][0].isdigit(), chart["name"]
        values = yaml.safe_load((servers / chart["valuesFile"]).read_text())
        assert isinstance(values, dict), chart["name"]
    realm = kustomization["configMapGenerator"][0]["files"][0].split("=", 1)[1]
    assert (servers / realm).resolve() == ROOT / "infra" / "keycloak" / "vpp-realm.json"
