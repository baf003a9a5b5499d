"""Boundary on several server processes behind one port, for a team on one host.

    python serve.py [--workers N] [--port 8501] [--address ADDR] [streamlit options…]

Why: one Streamlit process runs every session's script under one Python interpreter lock, so it uses
about one core for Python however many the host has (issue #20; docs/PERFORMANCE.md, "Several server
processes, session 7"). This starts N `streamlit run app.py` workers on private loopback ports and one
small front process on the public port that hands every connection of a browser to the same worker.

- Sticky by a cookie: a connection without the cookie `boundary_worker` (a browser's first request, a
  client that keeps no cookies) goes to the worker with the fewest open websockets — round robin among
  equals — and the first response on it sets the cookie. Every later connection of that browser (its
  websocket `/_stcore/stream`, uploads `/_stcore/upload_file/<session>/<file>`, media) then reaches the
  worker that holds its session. A cookie naming a worker that is down counts as none. Streamlit needs
  cookies anyway (its XSRF check on uploads).
- The front reads the head of a connection's first request only, picks the worker, then copies bytes
  both ways, 64 KB at a time, each write waiting until the other side takes it: a 200 MB upload is
  streamed, never held. A keep-alive connection stays with its worker. `/_stcore/health` is answered by
  the front: 200 when every worker is up (with the cookie: when that browser's worker is), else 503.
- Every worker gets the same `server.cookieSecret` (the configured one, else one made per start, passed
  in the environment, not on the command line), so XSRF and session cookies sign alike everywhere; with
  sign-in, `[auth] cookie_secret` in secrets.toml is read by every worker, and st.login's redirect
  (`/auth/login` → provider → `/oauth2callback`) comes back with the cookie to the same worker.
- A worker that exits is started again (logged; waiting 1 s, doubling up to 30 s while it keeps dying
  young); SIGTERM or SIGINT stops every worker, then the front. Workers die with the front on Linux.
- Each worker is opened once as soon as it is up, so its sample warm-up (ui/warmup.py) runs before the
  first visitor arrives (each process keeps its own sample figures).

Per process, hence per worker: the sample figures and chart specs (ui.cache, lib.sample), the upload
manager and media files, Streamlit's sessions. Limits that count per session are unchanged (a session
lives in one worker): BOUNDARY_SESSION_UPLOAD_MB, a session's DuckDB memory, threads and spill. Saved
workspaces are one folder on disk for all workers (lib/store.py: atomic renames, a lock per workspace
while it is saved). A worker that answers no health check for 90 s (BOUNDARY_WORKER_HUNG_S) is hung: it
is killed and started again like one that exits.

`--workers 1` is plain `streamlit run app.py` (this process becomes it). Default: $BOUNDARY_WORKERS, else
the CPUs this process may use (at least 1). Options this does not know (`--server.maxUploadSize 500`) go
to every worker; `--server.port` and `--server.address` are the front's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import secrets
import signal
import socket
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
COOKIE = "boundary_worker"
CHUNK = 64 * 1024  # bytes copied at a time, each way
HEAD_LIMIT = 64 * 1024  # most bytes of a request or response head
HEAD_TIMEOUT_S = 30.0  # a connection that sends no whole request head by then is closed
LINGER_S = 60.0  # once one direction has ended, how long the other may still run
READY_TIMEOUT_S = 180.0  # a worker that does not answer its health check by then is restarted
# A worker that has answered no health check for this long is hung (a deadlock, a stopped process): it is
# killed and started again. Its sessions are lost either way; their saved workspaces reopen from the store.
HUNG_AFTER_S = float(os.environ.get("BOUNDARY_WORKER_HUNG_S", "90"))
STOP_TIMEOUT_S = 20.0  # after SIGTERM, how long a worker may take before it is killed
LOOPBACK = "127.0.0.1"

# Opens a worker once (one run of Home, over its websocket), so that its first session starts the
# sample warm-up; run in a short-lived process to keep Streamlit's protobufs out of the front.
_OPEN_ONCE = """import asyncio, sys
sys.path.insert(0, sys.argv[2])
from ui.stclient import Session
async def main():
    async with Session(sys.argv[1], timeout=120) as session:
        await session.run()
asyncio.run(main())
"""


def log(message: str) -> None:
    print(f"Boundary serve: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the front: routing and splicing


@dataclass
class Worker:
    index: int  # 1…N, the cookie's value
    port: int
    ready: bool = False  # the process runs and has answered its health check
    streams: int = 0  # open websockets (sessions) through the front
    connections: int = 0  # open connections through the front
    pid: int | None = None


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, list[str]]

    def header(self, name: str) -> str:
        return ",".join(self.headers.get(name, []))


def parse_head(head: bytes) -> Request:
    """The request line and headers of an HTTP/1.1 head (only what routing needs)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    target = parts[1] if len(parts) > 1 else ""
    return Request(parts[0], target.split("?", 1)[0], headers)


def cookie_of(request: Request) -> str | None:
    for header in request.headers.get("cookie", []):
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                return value.strip()
    return None


async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy until the end, waiting for `dst` to take each chunk; then pass the end on (half-close)."""
    while data := await src.read(CHUNK):
        dst.write(data)
        await dst.drain()
    if dst.can_write_eof() and not dst.is_closing():
        try:
            dst.write_eof()
        except OSError:
            pass


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 — already gone
            pass


class Front:
    """Routes each connection to a worker (see the module docstring) and copies its bytes."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self.open = 0  # connections open now (the tests check none is left behind)
        self._turn = itertools.count()

    def _named(self, cookie: str | None) -> Worker | None:
        if cookie and cookie.isdigit():
            for worker in self.workers:
                if worker.index == int(cookie):
                    return worker
        return None

    def pick(self, cookie: str | None) -> tuple[Worker | None, bool]:
        """The worker for a connection, and whether the browser must be told (a Set-Cookie)."""
        named = self._named(cookie)
        if named is not None and named.ready:
            return named, False
        up = [w for w in self.workers if w.ready]
        if not up:
            return None, False
        k = next(self._turn) % len(up)
        return min(up[k:] + up[:k], key=lambda w: w.streams), True

    def healthy(self, cookie: str | None) -> bool:
        named = self._named(cookie)
        return named.ready if named is not None else all(w.ready for w in self.workers)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        upstream = None
        try:
            _keepalive(writer)
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
                return
            request = parse_head(head)
            cookie = cookie_of(request)
            if request.path.endswith("/_stcore/health"):
                up = sum(w.ready for w in self.workers)
                await _respond(writer, request, 200 if self.healthy(cookie) else 503,
                               "ok" if self.healthy(cookie) else
                               f"not every server process is up ({up} of {len(self.workers)})")
                return
            worker, tell = self.pick(cookie)
            if worker is None:
                await _respond(writer, request, 503, "Boundary is starting: try again in a few seconds.")
                return
            try:
                up_reader, upstream = await asyncio.open_connection(LOOPBACK, worker.port, limit=HEAD_LIMIT)
            except OSError:  # it died a moment ago (not yet seen as down): another one, if any is up
                others = [w for w in self.workers if w.ready and w is not worker]
                try:
                    if not others:
                        raise
                    worker, tell = others[0], True
                    up_reader, upstream = await asyncio.open_connection(LOOPBACK, worker.port, limit=HEAD_LIMIT)
                except OSError:
                    await _respond(writer, request, 502, "Boundary's server process did not answer: try again.")
                    return
            websocket = request.header("upgrade").lower() == "websocket"
            worker.connections += 1
            worker.streams += websocket
            try:
                upstream.write(head)
                await self._splice(reader, writer, up_reader, upstream, worker if tell else None)
            finally:
                worker.connections -= 1
                worker.streams -= websocket
        finally:
            self.open -= 1
            _close(upstream)
            _close(writer)

    async def _splice(self, reader, writer, up_reader, upstream, tell: Worker | None) -> None:
        async def down():
            if tell is not None:
                await _first_response(up_reader, writer, tell)
            await pump(up_reader, writer)

        tasks = {asyncio.create_task(pump(reader, upstream)), asyncio.create_task(down())}
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if pending and not any(t.cancelled() or t.exception() for t in done):
                await asyncio.wait(pending, timeout=LINGER_S)  # the other direction may finish its part
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _first_response(up_reader, writer, worker: Worker) -> None:
    """Pass the worker's first response head on with the cookie added (after any 100 Continue)."""
    while True:
        try:
            head = await up_reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:  # closed before a whole head: pass on what came
            writer.write(exc.partial)
            return
        if head[9:10] == b"1" and head[9:12] != b"101":
            writer.write(head)
            continue
        cookie = f"Set-Cookie: {COOKIE}={worker.index}; Path=/; HttpOnly; SameSite=Lax\r\n\r\n"
        writer.write(head[:-2] + cookie.encode())
        return


async def _respond(writer, request: Request, status: int, text: str) -> None:
    reason = {200: "OK", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
    body = text.encode()
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 f"Content-Length: {len(body)}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n".encode()
                 + (b"" if request.method == "HEAD" else body))
    try:
        await writer.drain()
    except OSError:
        pass


def _keepalive(writer) -> None:
    """TCP keep-alive on a browser's connection, so one that vanished without a word is noticed."""
    sock = writer.get_extra_info("socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 15)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)
    except (AttributeError, OSError):
        pass


# ------------------------------------------------------------------ the workers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In a worker before exec (Linux): SIGTERM when the front dies, even by SIGKILL."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


try:
    import ctypes

    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _PRCTL = None


class Workers:
    """Starts, watches and stops the worker processes."""

    def __init__(self, count: int, app: Path, streamlit_args: list[str], env: dict[str, str], base: str) -> None:
        self.workers = [Worker(i + 1, free_port()) for i in range(count)]
        self.app = app
        self.args = streamlit_args
        self.env = env
        self.base = base  # server.baseUrlPath, "" or "/path"
        self.stopping = asyncio.Event()
        self.procs: dict[int, asyncio.subprocess.Process] = {}

    def command(self, worker: Worker) -> list[str]:
        return [sys.executable, "-m", "streamlit", "run", str(self.app), *without(self.args, ("server.headless",)),
                "--server.port", str(worker.port), "--server.address", LOOPBACK, "--server.headless", "true"]

    async def supervise(self, worker: Worker) -> None:
        """Run the worker until stopped, starting it again whenever it exits."""
        delay = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                *self.command(worker), env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, limit=1 << 20,
                start_new_session=True, preexec_fn=_die_with_parent)
            self.procs[worker.index] = proc
            worker.pid = proc.pid
            if self.stopping.is_set():  # stopped while it was being started
                proc.terminate()
            relay = asyncio.create_task(self._relay(worker, proc.stdout))
            ready = asyncio.create_task(self._until_ready(worker, proc))
            code = await proc.wait()
            worker.ready = False
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
            try:
                await asyncio.wait_for(relay, 5)
            except TimeoutError:
                pass
            if self.stopping.is_set():
                return
            ran = time.monotonic() - started
            delay = 1.0 if ran > 60 else min(delay * 2, 30.0)
            log(f"worker {worker.index} (pid {proc.pid}) exited with code {code} after {ran:.0f} s; "
                f"starting it again in {delay:.0f} s")
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
                return
            except TimeoutError:
                pass
            worker.port = free_port()  # its old port may linger in TIME_WAIT

    async def _relay(self, worker: Worker, stream: asyncio.StreamReader) -> None:
        """The worker's output, each line marked with its number, on this process's stdout."""
        prefix = f"[worker {worker.index}] ".encode()
        out = sys.stdout.buffer
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the limit: pass it on in pieces
                line = await stream.read(CHUNK)
            if not line:
                return
            out.write(prefix + line)
            out.flush()

    async def _until_ready(self, worker: Worker, proc) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not await self._answers_health(worker.port):
            if time.monotonic() > deadline:
                log(f"worker {worker.index} (pid {proc.pid}) did not come up in {READY_TIMEOUT_S:.0f} s; "
                    "stopping it")
                proc.terminate()
                return
            await asyncio.sleep(0.25)
        worker.ready = True
        log(f"worker {worker.index} (pid {proc.pid}) is up on {LOOPBACK}:{worker.port}")
        if os.environ.get("BOUNDARY_WARMUP", "1") != "0":
            await self._open_once(worker)
        await self._watch(worker, proc)

    async def _watch(self, worker: Worker, proc) -> None:
        """Kill the worker (supervise starts it again) once it has answered no health check for
        HUNG_AFTER_S. Its event loop answers them even while scripts run, so silence that long is a hang."""
        answered = time.monotonic()
        while True:
            await asyncio.sleep(min(10.0, HUNG_AFTER_S / 6))
            if await self._answers_health(worker.port):
                answered = time.monotonic()
            elif time.monotonic() - answered > HUNG_AFTER_S:
                log(f"worker {worker.index} (pid {proc.pid}) has answered no health check for "
                    f"{time.monotonic() - answered:.0f} s; killing it")
                proc.kill()  # a hung process may never act on SIGTERM
                return

    async def _answers_health(self, port: int) -> bool:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, port), 2)
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(f"GET {self.base}/_stcore/health HTTP/1.0\r\nHost: {LOOPBACK}:{port}\r\n\r\n".encode())
            status = await asyncio.wait_for(reader.readline(), 5)
            return status.split(b" ")[1:2] == [b"200"]
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return False
        finally:
            _close(writer)

    async def _open_once(self, worker: Worker) -> None:
        url = f"http://{LOOPBACK}:{worker.port}{self.base}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _OPEN_ONCE, url, str(ROOT), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0:
            last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            log(f"could not open worker {worker.index} once ({last[:200]}); its sample warm-up starts with "
                "its first visitor")

    async def stop(self) -> None:
        """SIGTERM to every worker, SIGKILL to any still running after STOP_TIMEOUT_S."""
        self.stopping.set()
        running = [p for p in self.procs.values() if p.returncode is None]
        for proc in running:
            try:
                proc.terminate()
            except ProcessLookupError:
                pass
        if running:
            await asyncio.wait([asyncio.create_task(p.wait()) for p in running], timeout=STOP_TIMEOUT_S)
            for proc in running:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()


# ------------------------------------------------------------------ configuration and main


def _env_name(option: str) -> str:
    section, key = option.split(".", 1)
    return "STREAMLIT_" + section.upper() + "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper()


def option(name: str, args: list[str]) -> str | None:
    """A Streamlit option as `streamlit run` would see it: the command line, then the environment,
    then ./.streamlit/config.toml, then ~/.streamlit/config.toml."""
    for i, arg in enumerate(args):
        if arg == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    if _env_name(name) in os.environ:
        return os.environ[_env_name(name)]
    section, key = name.split(".", 1)
    for path in (Path.cwd() / ".streamlit" / "config.toml", Path.home() / ".streamlit" / "config.toml"):
        try:
            value = tomllib.loads(path.read_text(encoding="utf-8")).get(section, {}).get(key)
        except (OSError, tomllib.TOMLDecodeError, AttributeError):
            continue
        if value is not None:
            return str(value)
    return None


def without(args: list[str], names: tuple[str, ...]) -> list[str]:
    """`args` without these options (`--name value` or `--name=value`)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in tuple(f"--{n}" for n in names):
            skip = True
        elif not arg.startswith(tuple(f"--{n}=" for n in names)):
            out.append(arg)
    return out


def cpu_count() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 quota (a container's --cpus)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:
        count = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def parse(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    default_workers = os.environ.get("BOUNDARY_WORKERS")
    parser.add_argument("--workers", type=int, default=int(default_workers) if default_workers else cpu_count(),
                        help="server processes (default: $BOUNDARY_WORKERS, else the CPU count); 1 = plain "
                             "`streamlit run`")
    parser.add_argument("--port", type=int, default=None, help="public port (default server.port, else 8501)")
    parser.add_argument("--address", default=None,
                        help="public address (default server.address, else every interface)")
    parser.add_argument("--app", default=str(ROOT / "app.py"), help="the Streamlit script (default app.py)")
    args, extra = parser.parse_known_args(argv)
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    if args.port is None:
        args.port = int(option("server.port", extra) or 8501)
    if args.address is None:
        args.address = option("server.address", extra) or None
    if args.workers > 1 and option("server.sslCertFile", extra):
        parser.error("with several workers, serve HTTPS from a reverse proxy in front (README \"Behind a "
                     "reverse proxy\"), not server.sslCertFile")
    return args, without(extra, ("server.port", "server.address"))


async def serve(args: argparse.Namespace, streamlit_args: list[str]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if option("server.cookieSecret", streamlit_args) is None:
        env["STREAMLIT_SERVER_COOKIE_SECRET"] = secrets.token_hex(32)  # one for all workers
    base = (option("server.baseUrlPath", streamlit_args) or "").strip("/")
    workers = Workers(args.workers, Path(args.app), streamlit_args, env, f"/{base}" if base else "")
    front = Front(workers.workers)
    server = await asyncio.start_server(front.handle, host=args.address, port=args.port, limit=HEAD_LIMIT,
                                        reuse_address=True, backlog=512)
    shown = args.address or "every interface"
    log(f"{args.workers} server processes behind http://{shown}:{args.port} (pid {os.getpid()})")
    supervisors = [asyncio.create_task(workers.supervise(w)) for w in workers.workers]
    await stop.wait()
    log("stopping")
    server.close()
    await workers.stop()
    await asyncio.gather(*supervisors, return_exceptions=True)
    log("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args, streamlit_args = parse(argv)
    if args.workers == 1:
        command = [sys.executable, "-m", "streamlit", "run", args.app, *streamlit_args,
                   "--server.port", str(args.port)] + (["--server.address", args.address] if args.address else [])
        os.execv(sys.executable, command)
    return asyncio.run(serve(args, streamlit_args))


if __name__ == "__main__":
    sys.exit(main())
