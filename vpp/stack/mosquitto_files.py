"""Mosquitto's config, password file and ACL, rendered from `infra/mosquitto/` templates."""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
from dataclasses import dataclass
from pathlib import Path
from string import Template

from vpp.bus.credentials import node_ids, node_password
from vpp.config import MqttSettings
from vpp.stack.process import StackError

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "infra" / "mosquitto"
# Mosquitto 2's own `mosquitto_passwd` format: PBKDF2-SHA512, 101 rounds, 12-byte salt.
_PBKDF2_ROUNDS = 101


def password_hash(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ROUNDS)
    return (
        f"$7${_PBKDF2_ROUNDS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    )


@dataclass(frozen=True)
class MosquittoFiles:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def password_file(self) -> Path:
        return self.root / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.root / "acl"

    @property
    def persistence_dir(self) -> Path:
        return self.root / "data"

    @property
    def _fingerprint_file(self) -> Path:
        return self.root / ".passwd.fingerprint"

    def write(self, mqtt: MqttSettings) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.persistence_dir.mkdir(exist_ok=True)
        values = {
            "host": mqtt.host,
            "port": str(mqtt.port),
            "prefix": mqtt.topic_prefix,
            "service_username": mqtt.service_username,
            "password_file": str(self.password_file),
            "acl_file": str(self.acl_file),
            "persistence_dir": str(self.persistence_dir),
            "max_queued_messages": str(mqtt.max_queued_messages),
            "max_inflight_messages": str(mqtt.max_inflight_messages),
        }
        self.config.write_text(_render("mosquitto.conf.template", values))
        self.acl_file.write_text(_render("acl.template", values))
        self._write_passwords(mqtt)

    def hand_to_broker_user(self) -> None:
        """Started as root, mosquitto drops to user `mosquitto` and exits if it cannot read
        its files or write its persistence folder: give them to it, and check it can enter."""
        _hand_to_broker_user(
            [self.root, self.config, self.acl_file, self.password_file, self.persistence_dir]
        )

    def _write_passwords(self, mqtt: MqttSettings) -> None:
        # Hashing 20,000 accounts takes seconds; redo it only when the inputs change.
        fingerprint = hashlib.sha256(
            "\n".join(
                [
                    mqtt.service_username,
                    mqtt.service_password.get_secret_value(),
                    mqtt.node_secret.get_secret_value(),
                    mqtt.node_id_format,
                    str(mqtt.node_accounts),
                ]
            ).encode()
        ).hexdigest()
        if (
            self.password_file.exists()
            and self._fingerprint_file.exists()
            and self._fingerprint_file.read_text() == fingerprint
        ):
            return
        lines = [
            f"{mqtt.service_username}:{password_hash(mqtt.service_password.get_secret_value())}"
        ]
        lines += [
            f"{node_id}:{password_hash(node_password(mqtt, node_id))}" for node_id in node_ids(mqtt)
        ]
        tmp = self.password_file.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.chmod(0o600)
        tmp.replace(self.password_file)
        self._fingerprint_file.write_text(fingerprint)


def _render(template: str, values: dict[str, str]) -> str:
    return Template((TEMPLATE_DIR / template).read_text()).substitute(values)


def _hand_to_broker_user(paths: list[Path]) -> None:
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    for path in paths:
        os.chown(path, user.pw_uid, user.pw_gid)
    for parent in paths[0].resolve().parents:
        if parent.stat().st_uid != user.pw_uid and not parent.stat().st_mode & 0o001:
            raise StackError(
                f"mqtt: the broker runs as user mosquitto and cannot enter {parent} "
                f"(not searchable by others); put VPP_STACK__DATA_DIR somewhere it can reach "
                f"or run `chmod o+x {parent}`"
            )
