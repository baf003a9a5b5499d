"""One real Boundary server, for the benchmarks (bench/load.py, bench/interaction.py --server,
bench/server_clicks.py) and the browser tests (tests/browser/conftest.py `running_app`):
`streamlit run app.py` on a loopback port, its output in a log file (a pipe nobody reads would
stall a chatty server), stopped and cleaned up after. The benchmarks' servers save workspaces in
a fresh store (Home lists every saved workspace of its owner, so a developer's own store would
weigh on each Home); the tests' use the test session's store."""

from __future__ import annotations

import os
import shutil
import socket
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
    store: Path | None  # where it saves workspaces, when fresh
    log_lines: list[str] = field(default_factory=list)  # the server's output, once it has stopped

    def cpu(self) -> float:
        return process_cpu(self.proc.pid)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(*args: str, app_dir: Path = ROOT, env: dict[str, str] | None = None, port: int | None = None,
               fresh_store: bool = True, start_timeout: float = 60):
    """Yield an AppServer once it answers /_stcore/health; ServerDidNotStart (with its log) when it does not.

    `args`: extra `--option value` pairs for `streamlit run`; `env`: the server's whole environment
    (default this process's); `fresh_store`: save workspaces in a new temporary store."""
    port = port or free_port()
    log = Path(tempfile.mkstemp(prefix="boundary-server-", suffix=".log")[1])
    environ = dict(os.environ if env is None else env)
    store = tempfile.mkdtemp(prefix="boundary-bench-store-") if fresh_store else None
    if store:
        environ["BOUNDARY_DATA_DIR"] = store
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app_dir / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", *args],
        cwd=app_dir, env=environ, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = AppServer(f"http://127.0.0.1:{port}", proc, log, Path(store) if store else None)
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
        if store:
            shutil.rmtree(store, ignore_errors=True)
