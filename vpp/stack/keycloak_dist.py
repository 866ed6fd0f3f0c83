"""Keycloak's distribution, fetched once from Maven into a cache outside the checkout."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from vpp.stack.process import StackError

ARTIFACT = "org.keycloak:keycloak-quarkus-dist"


def ensure_distribution(cache_dir: Path, version: str) -> Path:
    """The unpacked `keycloak-<version>` folder, fetching and unpacking it if needed."""
    root = cache_dir / "keycloak"
    home = root / f"keycloak-{version}"
    launcher = home / "bin" / "kc.sh"
    if launcher.exists():
        return home
    archive = root / f"keycloak-quarkus-dist-{version}.zip"
    if not archive.exists():
        _fetch(cache_dir, root, version)
    _unpack(archive, root)
    if not launcher.exists():
        raise StackError(f"keycloak: {archive} unpacked but has no bin/kc.sh; delete it and retry")
    # Unpacked, the archive and Maven's own copy of it are 330 MB of nothing.
    archive.unlink()
    shutil.rmtree(cache_dir / "m2" / "org" / "keycloak", ignore_errors=True)
    return home


def _fetch(cache_dir: Path, root: Path, version: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "keycloak: Maven (`mvn`) is needed once to fetch the distribution; "
            "install it with `apt-get install maven` (make deps does)"
        )
    root.mkdir(parents=True, exist_ok=True)
    argv = [
        mvn,
        "-q",
        "-B",
        f"-Dmaven.repo.local={cache_dir / 'm2'}",
        "dependency:copy",
        f"-Dartifact={ARTIFACT}:{version}:zip",
        f"-DoutputDirectory={root}",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["(no output)"]
        raise StackError(f"keycloak: fetching {ARTIFACT}:{version} with Maven failed: {last[0]}")


def _unpack(archive: Path, root: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(root)
        # zipfile drops the executable bits the launch scripts need.
        for info in zf.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (root / info.filename).chmod(mode)
