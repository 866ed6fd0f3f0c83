from __future__ import annotations

import os
import zipfile
from pathlib import Path

from vpp.stack.keycloak_dist import ensure_distribution


def _archive(root: Path, version: str) -> Path:
    root.mkdir(parents=True)
    archive = root / f"keycloak-quarkus-dist-{version}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        launcher = zipfile.ZipInfo(f"keycloak-{version}/bin/kc.sh")
        launcher.external_attr = 0o755 << 16
        zf.writestr(launcher, "#!/bin/sh\n")
        zf.writestr(f"keycloak-{version}/conf/keycloak.conf", "")
    return archive


def test_cached_archive_is_unpacked_with_its_launcher_executable(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "keycloak", "9.9.9")
    home = ensure_distribution(tmp_path, "9.9.9")
    assert home == tmp_path / "keycloak" / "keycloak-9.9.9"
    assert os.access(home / "bin" / "kc.sh", os.X_OK)
    assert not archive.exists()  # unpacked, the archive is not kept


def test_unpacked_distribution_is_reused_without_fetching(tmp_path: Path) -> None:
    _archive(tmp_path / "keycloak", "9.9.9")
    first = ensure_distribution(tmp_path, "9.9.9")
    # No archive and no Maven needed the second time.
    assert ensure_distribution(tmp_path, "9.9.9") == first
