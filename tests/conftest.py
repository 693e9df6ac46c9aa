"""Test-wide settings: keep tests off the user's config and the network."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True, scope="session")
def _own_run_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The run registry (swrun/registry.py) is machine-wide: the tests keep their own, set
    before any fixture (module-scoped ones run swrun too)."""
    old = os.environ.get("SWRUN_REGISTRY")
    os.environ["SWRUN_REGISTRY"] = str(tmp_path_factory.getbasetemp() / "swrun-registry")
    yield
    if old is None:
        os.environ.pop("SWRUN_REGISTRY", None)
    else:
        os.environ["SWRUN_REGISTRY"] = old


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SWRUN_LOG", raising=False)
    monkeypatch.setenv("HOME", os.environ.get("HOME", str(tmp_path)))
    # the inventory cache (swrun.inventory) goes to the test's own folder, not ~/.cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))


def swrun_cmd() -> list[str]:
    """The real console script of this venv."""
    script = Path(sys.executable).with_name("swrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "swrun"]
