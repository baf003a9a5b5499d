"""One real Boundary server, for the benchmarks (bench/load.py, bench/interaction.py --server,
bench/server_clicks.py) and the browser tests (tests/browser/conftest.py `running_app`):
`streamlit run app.py` on a loopback port — or, with `workers=N`, serve.py's front and N worker
processes (tests/test_serve.py, `bench/load.py --workers N`) — its output in a log file (a pipe nobody
reads would stall a chatty server), stopped and cleaned up after. The benchmarks' servers save
workspaces in a fresh store (Home lists every saved workspace of its owner, so a developer's own store
would weigh on each Home); the tests' use the test session's store."""

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

    def pids(self) -> list[int]:
        """The server's processes: the one started and every process under it (serve.py's workers)."""
        return [self.proc.pid, *descendants(self.proc.pid)]

    def tree_cpu(self) -> float:
        """CPU seconds of every server process so far, including ended children (a restarted worker,
        serve.py's one-off opener) counted in their parent's cutime/cstime."""
        return sum(process_cpu(pid, children=True) for pid in self.pids())


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat), with its ended children's
    (cutime, cstime) when `children`; 0 for a process that is gone."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return sum(int(v) for v in fields[11:15 if children else 13]) / os.sysconf("SC_CLK_TCK")


def descendants(root: int, leave_out: int | None = None) -> list[int]:
    """Processes under `root` (not `root`), without `leave_out`'s subtree."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                parent[int(entry)] = int(fields[1])
    out = []
    for pid in parent:
        cur, chain = pid, []
        while cur in parent and cur not in (root, leave_out, 0, 1):
            chain.append(cur)
            cur = parent[cur]
        if cur == root and chain and leave_out not in chain:  # not root itself (its chain is empty)
            out.append(pid)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(*args: str, app_dir: Path = ROOT, env: dict[str, str] | None = None, port: int | None = None,
               fresh_store: bool = True, start_timeout: float = 60, workers: int | None = None,
               script: Path | None = None):
    """Yield an AppServer once it answers /_stcore/health; ServerDidNotStart (with its log) when it does not.

    `args`: extra `--option value` pairs for `streamlit run`; `env`: the server's whole environment
    (default this process's); `fresh_store`: save workspaces in a new temporary store; `workers`: run
    `serve.py --workers N` instead (its /_stcore/health answers once every worker is up); `script`: a
    Streamlit script other than `app_dir`/app.py."""
    port = port or free_port()
    log = Path(tempfile.mkstemp(prefix="boundary-server-", suffix=".log")[1])
    environ = dict(os.environ if env is None else env)
    store = tempfile.mkdtemp(prefix="boundary-bench-store-") if fresh_store else None
    if store:
        environ["BOUNDARY_DATA_DIR"] = store
    script = script or app_dir / "app.py"
    options = ["--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType",
               "none", *args]
    if workers is None:
        command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
                   "--server.address", "127.0.0.1", *options]
    else:
        command = [sys.executable, str(ROOT / "serve.py"), "--workers", str(workers), "--port", str(port),
                   "--address", "127.0.0.1", "--app", str(script), *options]
    proc = subprocess.Popen(command, cwd=app_dir, env=environ, stdout=log.open("wb"), stderr=subprocess.STDOUT)
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
            proc.wait(timeout=30)  # serve.py gives its workers 20 s
        except subprocess.TimeoutExpired:
            proc.kill()
        server.log_lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        log.unlink(missing_ok=True)
        if store:
            shutil.rmtree(store, ignore_errors=True)
