"""Where the public datasets are: `shared/data/` beside the checkout (the README's layout).

A checkout cloned from another local checkout (`git clone /work/main /tmp/x`, as a CI
runner or a scratch copy does) has no `shared/` beside it; it finds the one beside the
checkout it was cloned from, named by its `origin` remote. Settings variables
(`VPP_*__DATA_DIR`) override both. Imports nothing of the platform, so every settings
module can use it.
"""

from __future__ import annotations

import configparser
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
CITYLEARN = "citylearn_2022"


def shared_data_dir(checkout: Path = CHECKOUT) -> Path:
    """`shared/data` beside `checkout`, else beside its local origin, else the first
    (missing: whoever reads it says where it looked)."""
    beside = checkout.parent / "shared" / "data"
    if beside.is_dir():
        return beside
    origin = _local_origin(checkout)
    if origin is not None and (origin.parent / "shared" / "data").is_dir():
        return origin.parent / "shared" / "data"
    return beside


def _local_origin(checkout: Path) -> Path | None:
    """The `origin` remote of `checkout` when it is a directory on this machine."""
    config = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        config.read(checkout / ".git" / "config", encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    url = config.get('remote "origin"', "url", fallback="").strip()
    if url.startswith("file://"):
        url = url.removeprefix("file://")
    path = Path(url).expanduser()
    return path.resolve() if url and path.is_absolute() and path.is_dir() else None
