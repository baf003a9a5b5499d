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


def run_async(coroutine):
    """`asyncio.run(coroutine)` in a thread of its own: once a browser test has run on this pytest
    worker, its session-wide Playwright (sync API) keeps an event loop running in the main thread,
    where asyncio.run refuses to start — which tests meet it depends on how xdist shares them out."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


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


@pytest.fixture(scope="module")
def sample_ws():
    """A Workspace holding every bundled sample file, shared by a module's tests (read only)."""
    from lib.datasets import Workspace
    from lib.sample import load_samples

    workspace = Workspace()
    load_samples(workspace)
    yield workspace
    workspace.close()


@pytest.fixture(scope="module")
def email_one_thread(sample_ws):
    """The two email sample tables in a DuckDB connection of one thread, so float sums keep one order
    and a faster path can be compared with its query to the last bit."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=1")
    for kind in ("email_campaigns", "email_events"):
        frame = sample_ws.con.execute(f'SELECT * FROM "{sample_ws.get(kind).table}"').df()
        con.register("_in", frame)
        con.execute(f'CREATE TABLE "{kind}" AS SELECT * FROM _in')
        con.unregister("_in")
    yield con
    con.close()
