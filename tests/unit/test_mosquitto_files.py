from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from vpp.config import MqttSettings
from vpp.stack.mosquitto_files import MosquittoFiles, password_hash


def test_password_hash_is_mosquitto_pbkdf2_format() -> None:
    salt = b"0123456789ab"
    encoded = password_hash("secret", salt)
    marker, rounds, salt_b64, digest_b64 = encoded.split("$")[1:]
    assert (marker, rounds) == ("7", "101")
    assert base64.b64decode(salt_b64) == salt
    assert base64.b64decode(digest_b64) == hashlib.pbkdf2_hmac("sha512", b"secret", salt, 101)


def test_files_render_with_accounts_and_acl(tmp_path: Path) -> None:
    files = MosquittoFiles(tmp_path / "mqtt")
    files.write(MqttSettings(port=1999, node_accounts=3))
    config = files.config.read_text()
    assert "allow_anonymous false" in config
    assert "listener 1999 127.0.0.1" in config
    assert "max_queued_messages 1000000" in config
    users = [line.split(":")[0] for line in files.password_file.read_text().splitlines()]
    assert users == ["vpp-service", "node-00001", "node-00002", "node-00003"]
    acl = files.acl_file.read_text()
    assert "pattern write vpp/v1/nodes/%u/#" in acl
    assert "pattern read vpp/v1/nodes/%u/cmd" in acl


def test_password_file_is_rewritten_only_when_accounts_change(tmp_path: Path) -> None:
    files = MosquittoFiles(tmp_path / "mqtt")
    files.write(MqttSettings(node_accounts=2))
    first = files.password_file.read_text()
    files.write(MqttSettings(node_accounts=2))
    assert files.password_file.read_text() == first  # same salts: not re-hashed
    files.write(MqttSettings(node_accounts=3))
    assert len(files.password_file.read_text().splitlines()) == 4
