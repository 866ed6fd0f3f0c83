"""What the observability tests share: promtool, and the metric names our code exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = ROOT / "infra" / "prometheus"
# Suffixes a client library or the Temporal runtime adds to a defined name.
_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")
_DEFINED = re.compile(r"""["'](vpp_[a-z0-9_]+)["']""")
_USED = re.compile(r"\b(vpp_[a-z0-9_]+)\b")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: scripts/install-system.sh installs Debian's prometheus"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


@cache
def exported_names() -> frozenset[str]:
    """Every series name the platform's code can export: each `vpp_*` name it defines,
    with the suffixes of its type (the Temporal runtime adds `_seconds` to a duration)."""
    names: set[str] = set()
    for path in (ROOT / "vpp").rglob("*.py"):
        for base in _DEFINED.findall(path.read_text()):
            for unit in ("", "_seconds"):
                names.update(base + unit + suffix for suffix in _SUFFIXES)
    return frozenset(names)


def unknown_metrics(expression: str) -> set[str]:
    """The `vpp_*` names an expression uses that no code exports."""
    return set(_USED.findall(expression)) - exported_names()
