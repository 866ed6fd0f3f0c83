"""Where the public datasets are found: beside the checkout, else beside the local
checkout it was cloned from (real clones with git, in temporary folders)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from vpp.shared_data import shared_data_dir


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _checkout(path: Path) -> Path:
    path.mkdir(parents=True)
    _git("init", "-q", cwd=path)
    _git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
        cwd=path,
    )
    return path


def test_the_data_beside_the_checkout_comes_first(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path / "work" / "main")
    (tmp_path / "work" / "shared" / "data").mkdir(parents=True)
    assert shared_data_dir(checkout) == tmp_path / "work" / "shared" / "data"


def test_a_clone_elsewhere_finds_the_data_beside_its_origin(tmp_path: Path) -> None:
    origin = _checkout(tmp_path / "work" / "main")
    data = tmp_path / "work" / "shared" / "data"
    data.mkdir(parents=True)
    _git("clone", "-q", str(origin), str(tmp_path / "scratch" / "copy"), cwd=tmp_path)
    assert shared_data_dir(tmp_path / "scratch" / "copy") == data


def test_without_data_anywhere_it_names_the_place_beside_the_checkout(tmp_path: Path) -> None:
    """What the error then shows: where the README says the data goes."""
    origin = _checkout(tmp_path / "work" / "main")
    _git("clone", "-q", str(origin), str(tmp_path / "scratch" / "copy"), cwd=tmp_path)
    expected = tmp_path / "scratch" / "shared" / "data"
    assert shared_data_dir(tmp_path / "scratch" / "copy") == expected
    assert shared_data_dir(tmp_path / "not-a-checkout") == tmp_path / "shared" / "data"
