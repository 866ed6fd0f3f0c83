"""The workflow module stays deterministic and I/O-free: it imports no I/O library (the
activity class it names depends on interfaces only)."""

from __future__ import annotations

import subprocess
import sys

IO_LIBRARIES = ("gmqtt", "pymongo", "redis", "beanie", "httpx")


def test_the_workflow_module_imports_no_io_library() -> None:
    probe = (
        "import sys, vpp.workflows.dispatch; "
        f"print(','.join(m for m in {IO_LIBRARIES!r} if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == ""
