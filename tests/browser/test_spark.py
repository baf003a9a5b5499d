"""Issue #21 end to end: a user connects the app to a Spark Connect server, points it at the sample
activity log as a Parquet file on the cluster, and the Cohorts page shows the same tiles as the same
file uploaded (DuckDB) — with "Show SQL" giving the Spark SQL the cluster ran.

The server is the one the pyspark wheel ships (sbin/start-connect-server.sh, local[2], two
shuffle partitions), started once for this module on a free port and stopped after. Skipped
with a reason when Java or the Connect client is missing, except under CI=true, where it must run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from lib.sample import SAMPLE_DIR
from bench.appserver import free_port
from tests.browser.conftest import metric_value, open_page, wait_idle

pytestmark = pytest.mark.browser

TILES = ("Users", "Cohorts", "Month 1 retention", "Month 3 retention")


def _missing() -> str | None:
    try:
        import grpc  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -r requirements-dev.txt)"
    if shutil.which("java") is None:
        return "Java is not installed (scripts/test.sh installs Debian's headless JRE as root)"
    return None


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """sc://127.0.0.1:<port> of a local Spark Connect server, for this module."""
    missing = _missing()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Spark Connect test cannot run: {missing}", pytrace=False)
        pytest.skip(f"Spark Connect test skipped: {missing}")
    import pyspark

    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("spark-connect")
    port = free_port()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(work), "SPARK_PID_DIR": str(work),
           "PYSPARK_PYTHON": sys.executable, "SPARK_NO_DAEMONIZE": "1"}
    log = open(work / "server.log", "wb")
    proc = subprocess.Popen(
        ["bash", str(home / "sbin" / "start-connect-server.sh"), "--wait", "--master", "local[2]",
         "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
         "--conf", "spark.sql.shuffle.partitions=2", "--conf", "spark.ui.enabled=false",
         "--conf", "spark.driver.memory=1g"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail("the Spark Connect server stopped: " + (work / "server.log").read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the Spark Connect server did not answer in 180 s: " + (work / "server.log").read_text()[-2000:])
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def activity_parquet(tmp_path_factory) -> Path:
    """The sample activity export as a lake would hold it: every column text, as in the CSV."""
    path = tmp_path_factory.mktemp("lake") / "activity events.parquet"
    pd.read_csv(SAMPLE_DIR / "activity_events.csv", dtype="str", keep_default_na=False).to_parquet(path)
    return path


def _tiles(page) -> dict[str, str]:
    page.get_by_text("Retention matrix").first.wait_for(timeout=120_000)
    return {label: metric_value(page, label) for label in TILES}


def test_cohorts_on_a_spark_cluster_show_the_uploads_tiles(browser, app_url, connect_server, activity_parquet):
    def new_page():
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        return context, pg

    # the DuckDB run: the same file, uploaded as the sample
    context, page = new_page()
    open_page(page, app_url, "cohorts")
    page.get_by_role("button", name="Load sample data").click()
    wait_idle(page, timeout=120_000)
    want = _tiles(page)
    context.close()

    context, page = new_page()
    try:
        open_page(page, app_url, "spark")
        page.get_by_label("Spark Connect URL", exact=True).fill(connect_server)
        page.get_by_label("Spark Connect URL", exact=True).press("Enter")
        page.get_by_role("button", name="Connect", exact=True).click()
        page.get_by_text(f"Connected to {connect_server}").wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_label("Table or Parquet path", exact=True).fill(str(activity_parquet))
        page.get_by_label("Table or Parquet path", exact=True).press("Enter")
        page.get_by_role("button", name="Read it", exact=True).click()
        page.get_by_text("Activity events / order lines, 13,683 rows").wait_for(timeout=120_000)
        wait_idle(page)
        assert page.locator("[data-testid='stException']").count() == 0
        page.get_by_role("link", name="Open Cohorts").click()
        wait_idle(page, timeout=180_000)
        got = _tiles(page)
        assert got == want, (got, want)
        assert want["Users"] not in ("", "0", "—")
        # "Show SQL" gives the Spark SQL that ran: backquoted names, not DuckDB's double quotes
        page.get_by_text("Show SQL").first.click()
        page.get_by_text("Spark SQL as run on the cluster").first.wait_for()
        assert "`activity`" in page.locator("[data-testid='stCode']").first.inner_text()
        assert page.locator("[data-testid='stException']").count() == 0
        saved = parse_qs(urlparse(page.url).query)["w"][0]
    finally:
        context.close()

    # the saved workspace keeps the URL and the path, not the data: reopened, one click reads it again
    context, page = new_page()
    try:
        open_page(page, app_url, f"spark?w={saved}")
        page.get_by_text(f"This workspace was saved connected to {connect_server}").wait_for()
        page.get_by_role("button", name="Connect", exact=True).click()
        page.get_by_text("Activity events / order lines, 13,683 rows").wait_for(timeout=120_000)
        wait_idle(page)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()
