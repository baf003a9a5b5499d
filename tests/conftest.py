"""Shared test helpers: paths to the real exports and a fresh Workspace per test."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"


def real_file(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.fail(f"real export {path} is missing: tests expect ../shared/data/real beside the repo")
    return path


@pytest.fixture
def ws():
    from lib.datasets import Workspace

    workspace = Workspace()
    yield workspace
    workspace.close()
