from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from vpp.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _variables(model: type[BaseModel], prefix: str) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _variables(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_env_example_documents_every_variable() -> None:
    documented = set(
        re.findall(r"^#?\s*(VPP_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    expected = set(_variables(Settings, "VPP_"))
    assert expected - documented == set(), "missing from .env.example"
    assert documented - expected == set(), "stale in .env.example"


def test_nested_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPP_MQTT__PORT", "2883")
    monkeypatch.setenv("VPP_MQTT__SERVICE_PASSWORD", "s3cret")
    settings = Settings(_env_file=None)
    assert settings.mqtt.port == 2883
    assert settings.mqtt.service_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_mongo_uri_unset_means_the_stack_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VPP_MONGO__URI", raising=False)
    monkeypatch.setenv("VPP_MONGO__PORT", "27999")
    settings = Settings(_env_file=None)
    assert not settings.mongo.external
    assert settings.mongo.effective_uri.startswith("mongodb://127.0.0.1:27999/")


def test_mongo_uri_set_means_external(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPP_MONGO__URI", "mongodb://db.internal:27017/?replicaSet=rs0")
    settings = Settings(_env_file=None)
    assert settings.mongo.external
    assert settings.mongo.effective_uri == "mongodb://db.internal:27017/?replicaSet=rs0"


def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPP_REDIS__PORT", "not-a-port")
    with pytest.raises(ValidationError, match=r"redis\.port"):
        Settings(_env_file=None)


def test_telemetry_qos_is_zero_or_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPP_MQTT__TELEMETRY_QOS", "2")
    with pytest.raises(ValidationError, match="telemetry_qos"):
        Settings(_env_file=None)


def test_the_issuer_follows_the_public_url_and_the_backchannel_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VPP_KEYCLOAK__HOST", "keycloak")
    monkeypatch.setenv("VPP_KEYCLOAK__PUBLIC_URL", "https://login.example.org/")
    keycloak = Settings(_env_file=None).keycloak
    assert keycloak.issuer == "https://login.example.org/realms/vpp"
    backchannel = f"http://keycloak:{keycloak.port}/realms/vpp"
    assert keycloak.realm_url == backchannel
    monkeypatch.delenv("VPP_KEYCLOAK__PUBLIC_URL")
    assert Settings(_env_file=None).keycloak.issuer == backchannel


def test_the_rl_idle_band_must_be_the_guards_smallest_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VPP_OPTIMIZE__KW_STEP", "2")
    with pytest.raises(ValidationError, match=r"VPP_RL__IDLE_BELOW_KW \(1\) must equal .* 2 kW"):
        Settings(_env_file=None)
    monkeypatch.setenv("VPP_RL__IDLE_BELOW_KW", "2")
    assert Settings(_env_file=None).rl.idle_below_kw == 2.0
    # min_kw above the step: the smallest command is the first step at or above it.
    monkeypatch.setenv("VPP_OPTIMIZE__KW_STEP", "0.3")
    monkeypatch.setenv("VPP_OPTIMIZE__MIN_KW", "0.5")
    monkeypatch.setenv("VPP_RL__IDLE_BELOW_KW", "0.6")
    settings = Settings(_env_file=None)
    assert settings.optimize.smallest_command_kw() == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("variables", "line"),
    [
        (
            {"VPP_REDIS__PORT": "not-a-port"},
            "error: invalid settings: VPP_REDIS__PORT: Input should be a valid integer, "
            "unable to parse string as an integer",
        ),
        (
            {"VPP_OPTIMIZE__KW_STEP": "2"},
            "error: invalid settings: VPP_RL__IDLE_BELOW_KW (1) must equal the guard's "
            "smallest command, 2 kW (VPP_OPTIMIZE__KW_STEP, VPP_OPTIMIZE__MIN_KW); set it, "
            "then retrain the policies (`vpp rl train`)",
        ),
    ],
)
def test_the_cli_names_a_bad_setting_in_one_line(variables: dict[str, str], line: str) -> None:
    vpp = Path(sys.executable).with_name("vpp")
    done = subprocess.run(
        [str(vpp), "stack", "status"],
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [line]
