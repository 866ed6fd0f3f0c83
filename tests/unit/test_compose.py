"""docker-compose.yml: valid for Compose, every server health-checked, the platform waiting on
them. Docker itself is not needed: `docker-compose config` only parses and validates."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from vpp import search_attributes
from vpp.config import MqttSettings
from vpp.stack.platform import PLATFORM_TYPES, PlatformProcess

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKER_COMPOSE = Path("/usr/bin/docker-compose")

# Every process `vpp platform up` starts, with the same `vpp` subcommand: a deployment on
# Compose runs the whole platform, not a part of it.
PLATFORM = {
    cls.name: list(cls.subcommand) for cls in PLATFORM_TYPES if issubclass(cls, PlatformProcess)
}
# The five servers of the design, and the official image each must run.
SERVER_IMAGES = {
    "mongo": "mongo:8",
    "temporal": "temporalio/server:",
    "redis": "redis:7",
    "mosquitto": "eclipse-mosquitto:2",
    "keycloak": "keycloak/keycloak:26.5.6",
}
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    # safe_load resolves the `<<: *anchor` merges the file uses.
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _jobs(services: dict[str, dict[str, Any]]) -> set[str]:
    """One-shot services: those something waits on to complete, and those that are not
    restarted once they end well."""
    waited = {
        name
        for spec in services.values()
        for name, dep in (spec.get("depends_on") or {}).items()
        if dep.get("condition") == COMPLETED
    }
    ending = {
        name
        for name, spec in services.items()
        if str(spec.get("restart", "")).startswith(("no", "on-failure"))
    }
    return waited | ending


def _servers(services: dict[str, dict[str, Any]]) -> set[str]:
    return set(services) - set(PLATFORM) - _jobs(services)


def _mounts(spec: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to the repository) of its bind mounts."""
    mounts = {}
    for volume in spec.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = source.removeprefix("./")
    return mounts


@pytest.mark.skipif(not DOCKER_COMPOSE.exists(), reason=f"{DOCKER_COMPOSE} is not installed")
def test_docker_compose_accepts_the_file() -> None:
    # The suite's own VPP_ variables must not leak into the ${...} substitutions.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VPP_", "COMPOSE_"))}
    result = subprocess.run(
        [str(DOCKER_COMPOSE), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_five_servers_run_official_images(services: dict[str, dict[str, Any]]) -> None:
    for name, image in SERVER_IMAGES.items():
        assert name in services, f"no {name} service"
        assert services[name]["image"].startswith(image), services[name]["image"]
        assert "build" not in services[name]


def test_every_server_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    servers = _servers(services)
    assert set(SERVER_IMAGES) <= servers
    for name in sorted(servers):
        check = services[name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable", False), f"{name} disables its healthcheck"
        test = check.get("test")
        assert test, f"{name}: healthcheck has no test"
        assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: {test}"


def test_platform_waits_for_healthy_servers(services: dict[str, dict[str, Any]]) -> None:
    servers, jobs = _servers(services), _jobs(services)
    used: set[str] = set()
    assert len(PLATFORM) == len(PLATFORM_TYPES)  # each a `vpp <subcommand>` process
    for name, command in PLATFORM.items():
        assert name in services, f"vpp platform up starts {name}; the file has no such service"
        spec = services[name]
        assert spec["build"] == ".", name
        assert spec["command"] == command, name
        assert spec["restart"] == "unless-stopped", name
        depends = spec.get("depends_on")
        assert isinstance(depends, dict), f"{name}: depends_on must name conditions"
        assert depends, f"{name} waits for nothing"
        for target, dep in depends.items():
            assert target in servers | jobs, f"{name} depends on unknown {target}"
            expected = HEALTHY if target in servers else COMPLETED
            assert dep["condition"] == expected, f"{name} -> {target}"
        used |= set(depends)
    assert set(SERVER_IMAGES) <= used, "some server is used by no platform process"


def test_platform_reaches_servers_by_service_name(services: dict[str, dict[str, Any]]) -> None:
    for name in PLATFORM:
        env = services[name]["environment"]
        assert env["VPP_MONGO__URI"].startswith("mongodb://mongo:"), name
        for variable, service in [
            ("VPP_REDIS__HOST", "redis"),
            ("VPP_MQTT__HOST", "mosquitto"),
            ("VPP_TEMPORAL__HOST", "temporal"),
            ("VPP_KEYCLOAK__HOST", "keycloak"),
        ]:
            assert env[variable] == service, f"{name}: {variable}"
            assert service in services


def test_keycloak_imports_the_realm_file(services: dict[str, dict[str, Any]]) -> None:
    keycloak = services["keycloak"]
    assert "--import-realm" in keycloak["command"]
    mounts = _mounts(keycloak)
    assert mounts["/opt/keycloak/data/import/vpp-realm.json"] == "infra/keycloak/vpp-realm.json"
    assert (ROOT / "infra" / "keycloak" / "vpp-realm.json").is_file()


def test_every_bind_mounted_file_exists(services: dict[str, dict[str, Any]]) -> None:
    for name, spec in services.items():
        for source in _mounts(spec).values():
            assert (ROOT / source).is_file(), f"{name} mounts missing {source}"


def test_mosquitto_config_matches_the_settings(services: dict[str, dict[str, Any]]) -> None:
    mounts = _mounts(services["mosquitto"])
    config = (ROOT / mounts["/mosquitto/config/mosquitto.conf"]).read_text().splitlines()
    mqtt = MqttSettings()
    for line in [
        f"listener {mqtt.port}",
        "allow_anonymous false",
        "password_file /mosquitto/config/passwd",
        "acl_file /mosquitto/config/acl",
        "persistence true",
        f"max_queued_messages {mqtt.max_queued_messages}",
        f"max_inflight_messages {mqtt.max_inflight_messages}",
    ]:
        assert line in config, line
    acl = (ROOT / mounts["/mosquitto/config/acl"]).read_text().splitlines()
    prefix = mqtt.topic_prefix
    for line in [
        f"user {mqtt.service_username}",
        f"topic readwrite {prefix}/#",
        f"pattern write {prefix}/nodes/%u/#",
        f"pattern read {prefix}/nodes/%u/cmd",
    ]:
        assert line in acl, line


def test_temporal_setup_registers_every_search_attribute(
    services: dict[str, dict[str, Any]],
) -> None:
    script = " ".join(services["temporal-setup"]["command"])
    for spec in search_attributes.cli_spec():
        assert spec in script, f"{spec} is not registered"


def test_dockerfile_installs_the_locked_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "pip install -c requirements.lock ." in dockerfile
    assert 'ENTRYPOINT ["vpp"]' in dockerfile


def test_the_schedules_job_applies_them_once_temporal_is_set_up(
    services: dict[str, dict[str, Any]],
) -> None:
    job = services["schedules"]
    assert job["command"] == ["schedules", "apply"]
    assert job["build"] == "."
    # Ends once applied; retried while a server is not there yet.
    assert job["restart"].startswith("on-failure"), job["restart"]
    assert "schedules" in _jobs(services)
    depends = job["depends_on"]
    assert depends["temporal-setup"]["condition"] == COMPLETED  # the vpp namespace exists
    assert depends["temporal"]["condition"] == HEALTHY
    assert depends["mongo"]["condition"] == HEALTHY  # it reads the model registry
    assert job["environment"]["VPP_TEMPORAL__HOST"] == "temporal"
