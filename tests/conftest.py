"""Shared test helpers: paths to the real exports and a fresh Workspace per test."""

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The real public exports live beside the repository (../shared/data/real), never in it.
# BOUNDARY_REAL_DATA points elsewhere (or at a missing folder, to see what a newcomer sees).
REAL = Path(os.environ.get("BOUNDARY_REAL_DATA") or ROOT.parent / "shared" / "data" / "real")
# Workspaces the app saves as tests run (lib.store) go to a throwaway folder, not ~/.boundary;
# the browser tests' servers inherit it.
os.environ["BOUNDARY_DATA_DIR"] = tempfile.mkdtemp(prefix="boundary-test-workspaces-")


def real_file(name: str) -> Path:
    """The path of a real export. Absent: the test is skipped on a newcomer's machine (a clone
    without ../shared) and fails under CI (CI=true), where the exports must be there.

    Usable at module level too (a missing file then skips or fails the whole module)."""
    path = REAL / name
    if not path.exists():
        message = f"real export {path} is missing: tests expect ../shared/data/real beside the repo"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message + " (skipped outside CI)", allow_module_level=True)
    return path


@pytest.fixture
def ws():
    from lib.datasets import Workspace

    workspace = Workspace()
    yield workspace
    workspace.close()
