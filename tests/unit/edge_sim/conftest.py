"""Shared pieces of the edge simulator's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from vpp.config import Settings
from vpp.edge_sim.clock import ManualClock
from vpp.edge_sim.profiles import Building, load_building

# A summer noon: homes have PV, so both directions of the battery are exercised.
NOON = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def data_dir(settings: Settings) -> Path:
    path = settings.edge_sim.data_dir.expanduser().resolve()
    assert (path / "schema.json").is_file(), (
        f"CityLearn data not found at {path}; set VPP_EDGE_SIM__DATA_DIR"
    )
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOON)


@pytest.fixture(scope="session")
def building_1(data_dir: Path) -> Building:
    return load_building(data_dir, 1)
