"""One real Boundary server for the benchmarks that need one (bench/load.py, bench/interaction.py
--server, bench/server_clicks.py): `streamlit run app.py` on a free loopback port, its saved
workspaces in a fresh store (Home lists every saved workspace of its owner, so a developer's own
store would weigh on each Home), stopped and cleaned up after."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class ServerDidNotStart(RuntimeError):
    pass


@dataclass
class AppServer:
    url: str
    proc: subprocess.Popen
    log: Path
    log_lines: list[str] = field(default_factory=list)  # the server's output, once it has stopped

    def cpu(self) -> float:
        return process_cpu(self.proc.pid)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def app_server(app_dir: Path = ROOT, env: dict[str, str] | None = None, start_timeout: float = 60):
    """Yield an AppServer once it answers /_stcore/health; ServerDidNotStart (with its log) when it does not."""
    from tests.browser.conftest import _free_port

    port = _free_port()
    log = Path(tempfile.mkstemp(prefix="boundary-bench-", suffix=".log")[1])
    store = tempfile.mkdtemp(prefix="boundary-bench-store-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app_dir / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=app_dir, env={**os.environ, "BOUNDARY_DATA_DIR": store, **(env or {})},
        stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = AppServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                urllib.request.urlopen(server.url + "/_stcore/health", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise ServerDidNotStart("the server did not answer /_stcore/health:\n"
                                       + log.read_text(errors="replace")[-2000:]) from None
                time.sleep(0.3)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        server.log_lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        log.unlink(missing_ok=True)
        shutil.rmtree(store, ignore_errors=True)
