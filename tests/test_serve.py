"""serve.py: several server processes behind one sticky front (issue #20).

The front alone, in this process, against fake workers (plain asyncio servers that say who they are
and count the bytes they were sent): routing by cookie, round robin, health, a 200 MB upload streamed
without being held, connections closed on both sides. Then the real launcher with two `streamlit run`
workers of a one-line app: websocket sessions without a cookie land on different workers, a cookie keeps
a browser on its worker, a killed worker is started again and so is a hung one, SIGTERM stops everything."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import urllib.error
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

import serve
from bench.appserver import app_server
from tests.conftest import run_async

# ------------------------------------------------------------------ the front against fake workers


class FakeWorker:
    """An HTTP/1.1 server answering "worker <n> <path> <body bytes>"; a request with `Upgrade:
    websocket` gets a 101 and the connection is held open. `gate` cleared: the body is not read."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.gate = asyncio.Event()
        self.gate.set()
        self.received = 0  # body bytes read so far, all requests
        self.open = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def handle(self, reader, writer) -> None:
        self.open += 1
        try:
            while True:
                request = serve.parse_head(await reader.readuntil(b"\r\n\r\n"))
                if request.header("upgrade").lower() == "websocket":
                    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
                    await reader.read()  # until the client goes
                    return
                length, got = int(request.header("content-length") or 0), 0
                while got < length:
                    await self.gate.wait()
                    chunk = await reader.read(min(serve.CHUNK, length - got))
                    if not chunk:
                        return
                    got += len(chunk)
                    self.received += len(chunk)
                body = f"worker {self.index} {request.path} {got}".encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


@asynccontextmanager
async def front_with(n: int = 2):
    fakes = [FakeWorker(i + 1) for i in range(n)]
    workers = [serve.Worker(f.index, await f.start(), ready=True) for f in fakes]
    front = serve.Front(workers)
    server = await asyncio.start_server(front.handle, "127.0.0.1", 0, limit=serve.HEAD_LIMIT)
    try:
        yield front, fakes, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for f in fakes:
            f.server.close()


async def exchange(reader, writer, path: str = "/", cookie: str | None = None, method: str = "GET",
                   body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request on an open connection: (status, headers by lower-case name, body)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: front\r\nContent-Length: {len(body)}\r\n"
    if cookie:
        head += f"Cookie: theme=dark; {cookie}\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()
    return await read_response(reader, method)


async def read_response(reader, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = response.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    length = int(headers.get("content-length", 0))
    return int(lines[0].split()[1]), headers, (await reader.readexactly(length) if method != "HEAD" else b"")


async def get(port: int, path: str = "/", cookie: str | None = None, method: str = "GET"):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await exchange(reader, writer, path, cookie, method)
    finally:
        writer.close()


def test_routing_by_cookie_and_round_robin_without():
    async def go():
        async with front_with(2) as (front, fakes, port):
            firsts = [await get(port) for _ in range(4)]  # four browsers' first requests
            said = [body.split()[1] for _, _, body in firsts]
            assert said == [b"1", b"2", b"1", b"2"]  # round robin while no worker holds a session
            for (_, headers, body) in firsts:  # each told where it went
                assert headers["set-cookie"] == f"boundary_worker={body.split()[1].decode()}; Path=/; HttpOnly; SameSite=Lax"

            for n in (1, 2):  # a browser with the cookie always reaches its worker, and is not told again
                for path in ("/", "/_stcore/upload_file/abc/def", "/media/x.png", "/_stcore/stream"):
                    status, headers, body = await get(port, path, cookie=f"boundary_worker={n}")
                    assert (status, body) == (200, f"worker {n} {path} 0".encode()) and "set-cookie" not in headers

            # a keep-alive connection stays on its worker; only its first response sets the cookie
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            one = await exchange(reader, writer)
            two = await exchange(reader, writer, "/again")
            writer.close()
            assert one[2].split()[1] == two[2].split()[1] and "set-cookie" in one[1] and "set-cookie" not in two[1]

            # a worker that is down: its browsers go to one that is up, and are told
            front.workers[0].ready = False
            status, headers, body = await get(port, cookie="boundary_worker=1")
            assert body.startswith(b"worker 2") and headers["set-cookie"].startswith("boundary_worker=2;")
            for cookie in ("boundary_worker=7", "boundary_worker=x"):  # unknown: as if none
                assert (await get(port, cookie=cookie))[2].startswith(b"worker 2")
            front.workers[1].ready = False
            status, _, body = await get(port)
            assert status == 503 and b"starting" in body
            front.workers[0].ready = front.workers[1].ready = True

            # a worker that died a moment ago (its port refuses, not yet seen as down): the other one
            port1, front.workers[0].port = front.workers[0].port, serve.free_port()
            status, headers, body = await get(port, cookie="boundary_worker=1")
            assert body.startswith(b"worker 2") and headers["set-cookie"].startswith("boundary_worker=2;")
            front.workers[0].port = port1

            # a worker holding a session (an open websocket) is passed over for a new browser
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /_stcore/stream HTTP/1.1\r\nHost: front\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            status, headers, _ = await read_response(reader)
            held = int(headers["set-cookie"].split("=")[1].split(";")[0])
            assert status == 101 and front.workers[held - 1].streams == 1
            others = {(await get(port))[2].split()[1] for _ in range(3)}
            assert others == {str(3 - held).encode()}
            writer.close()
            await asyncio.sleep(0.2)
            assert front.workers[held - 1].streams == 0

    run_async(go())


def test_health_is_answered_by_the_front():
    async def go():
        async with front_with(2) as (front, fakes, port):
            assert (await get(port, "/_stcore/health"))[0::2] == (200, b"ok")
            assert (await get(port, "/base/_stcore/health?x=1"))[0] == 200  # behind server.baseUrlPath too
            front.workers[1].ready = False
            status, headers, body = await get(port, "/_stcore/health")
            assert status == 503 and b"1 of 2" in body and headers["connection"] == "close"
            assert (await get(port, "/_stcore/health", cookie="boundary_worker=1"))[0] == 200  # its own worker is up
            assert (await get(port, "/_stcore/health", cookie="boundary_worker=2"))[0] == 503
            assert (await get(port, "/_stcore/health", method="HEAD"))[0::2] == (503, b"")
            assert all(f.received == 0 and f.open == 0 for f in fakes)  # no worker was asked

    run_async(go())


def test_a_200_mb_upload_streams_through_without_being_held():
    size, step = 200 * 2**20, 2**20

    async def go():
        async with front_with(1) as (front, (fake,), port):
            fake.gate.clear()  # the worker stops reading the body
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"PUT /_stcore/upload_file/s/f HTTP/1.1\r\nHost: front\r\nCookie: boundary_worker=1\r\n"
                         f"Content-Length: {size}\r\n\r\n".encode())
            sent = 0
            chunk = b"x" * step

            async def send():
                nonlocal sent
                while sent < size:
                    writer.write(chunk)
                    await writer.drain()
                    sent += step

            sending = asyncio.create_task(send())
            last = -1
            while last != sent:  # until the sender is stuck: everything between holds what it can
                last = sent
                await asyncio.sleep(0.5)
            assert not sending.done() and sent < 48 * 2**20, sent  # socket buffers' worth, not the file
            fake.gate.set()
            await asyncio.wait_for(sending, 60)
            status, _, body = await read_response(reader)
            assert (status, body) == (200, f"worker 1 /_stcore/upload_file/s/f {size}".encode())
            writer.close()
            await asyncio.sleep(0.2)
            assert front.open == 0 and fake.open == 0 and front.workers[0].connections == 0

    run_async(go())


def test_connections_are_closed_on_both_sides(monkeypatch):
    monkeypatch.setattr(serve, "HEAD_TIMEOUT_S", 0.5)

    async def go():
        async with front_with(1) as (front, (fake,), port):
            fds = len(os.listdir("/proc/self/fd"))
            # a client that sends no request is dropped after HEAD_TIMEOUT_S
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            # a client that goes away mid-upload: the worker's side is closed too
            fake.gate.clear()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"PUT /u HTTP/1.1\r\nHost: f\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
            await writer.drain()
            await asyncio.sleep(0.2)
            assert fake.open == 1
            writer.transport.abort()
            fake.gate.set()
            # the worker closes after its response: the client sees the end
            for _ in range(20):
                await get(port, "/x")
            await asyncio.sleep(0.3)
            assert front.open == 0 and fake.open == 0 and front.workers[0].connections == 0
            assert len(os.listdir("/proc/self/fd")) <= fds + 1  # no socket left behind

    run_async(go())


def test_options_are_read_like_streamlit_and_the_public_ones_kept_from_workers(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text('[server]\nbaseUrlPath = "team"\nport = 8600\n')
    monkeypatch.delenv("STREAMLIT_SERVER_COOKIE_SECRET", raising=False)
    args, extra = serve.parse(["--workers", "2", "--server.address=0.0.0.0", "--server.maxUploadSize", "500"])
    assert (args.workers, args.port, args.address) == (2, 8600, "0.0.0.0")
    assert extra == ["--server.maxUploadSize", "500"]  # port and address are the front's
    assert serve.option("server.baseUrlPath", extra) == "team"
    assert serve.option("server.cookieSecret", extra) is None
    monkeypatch.setenv("STREAMLIT_SERVER_COOKIE_SECRET", "s")
    assert serve.option("server.cookieSecret", extra) == "s"
    assert serve.option("server.port", ["--server.port", "9"]) == "9"
    with pytest.raises(SystemExit):
        serve.parse(["--workers", "0"])
    assert serve.cpu_count() >= 1


# ------------------------------------------------------------------ the real launcher, real workers

TINY_APP = 'import os\nimport streamlit as st\nst.header(f"pid {os.getpid()}")\n'


@pytest.fixture(scope="module")
def tiny_app(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("serve") / "tiny.py"
    path.write_text(TINY_APP)
    return path


@pytest.fixture(scope="module")
def two_workers(tiny_app):
    env = dict(os.environ, BOUNDARY_WARMUP="0")
    with app_server(workers=2, script=tiny_app, env=env, start_timeout=90) as server:
        yield server


def worker_pids(server) -> dict[int, int]:
    """Worker number → pid, from the launcher's log (the latest start of each)."""
    found = {}
    for n, pid in re.findall(r"worker (\d+) \(pid (\d+)\) is up", server.log.read_text(errors="replace")):
        found[int(n)] = int(pid)
    return found


async def session_pid(url: str, cookie: str | None = None, hold: asyncio.Event | None = None) -> tuple[int, str]:
    """Open a session (with this cookie), run the app once: (the worker's pid, the Set-Cookie sent)."""
    from ui.stclient import Session

    async with Session(url, timeout=60, headers={"Cookie": cookie} if cookie else None) as session:
        result = await session.run()
        if hold is not None:
            await hold.wait()
        told = session._ws.response.headers.get("Set-Cookie", "")
    return int(result.headings[0].split()[1]), told


def test_websocket_sessions_without_a_cookie_land_on_different_workers(two_workers):
    async def go():
        hold = asyncio.Event()
        first = asyncio.create_task(session_pid(two_workers.url, hold=hold))
        await asyncio.sleep(1.0)  # the first is open and holds its worker
        second = asyncio.create_task(session_pid(two_workers.url, hold=hold))
        await asyncio.sleep(1.0)
        hold.set()
        return await first, await second

    (pid1, told1), (pid2, told2) = run_async(go())
    assert {pid1, pid2} == set(worker_pids(two_workers).values())
    assert told1.startswith("boundary_worker=") and told2.startswith("boundary_worker=") and told1 != told2


def test_a_cookie_keeps_a_browser_on_its_worker(two_workers):
    pids = worker_pids(two_workers)

    async def go(n):
        return [await session_pid(two_workers.url, cookie=f"_streamlit_xsrf=a; boundary_worker={n}")
                for _ in range(3)]

    for n, pid in pids.items():
        assert run_async(go(n)) == [(pid, "")] * 3
    # and a page request with it is not told again
    request = urllib.request.Request(two_workers.url + "/", headers={"Cookie": "boundary_worker=2"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and response.headers.get("Set-Cookie") is None
    with urllib.request.urlopen(two_workers.url + "/", timeout=10) as response:
        assert re.fullmatch(r"boundary_worker=[12]; Path=/; HttpOnly; SameSite=Lax", response.headers["Set-Cookie"])


def health(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_killed_worker_is_started_again(two_workers):
    before = worker_pids(two_workers)
    os.kill(before[2], signal.SIGKILL)
    seen, deadline = [], time.monotonic() + 90
    while time.monotonic() < deadline:
        seen.append(health(two_workers.url))
        if 503 in seen and seen[-1] == 200:
            break
        time.sleep(0.1)
    assert 503 in seen and seen[-1] == 200, seen[-5:]
    after = worker_pids(two_workers)
    assert after[1] == before[1] and after[2] != before[2]
    assert f"worker 2 (pid {before[2]}) exited with code -9" in two_workers.log.read_text(errors="replace")
    assert run_async(session_pid(two_workers.url, cookie="boundary_worker=2"))[0] == after[2]


def test_a_hung_worker_is_killed_and_started_again(tiny_app):
    env = dict(os.environ, BOUNDARY_WARMUP="0", BOUNDARY_WORKER_HUNG_S="6")
    with app_server(workers=2, script=tiny_app, env=env, start_timeout=90) as server:
        before = worker_pids(server)
        os.kill(before[2], signal.SIGSTOP)  # alive, but answers nothing: a hang
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and worker_pids(server).get(2) == before[2]:
                time.sleep(0.2)
        finally:
            try:
                os.kill(before[2], signal.SIGCONT)  # if it was not killed, let the server stop it
            except ProcessLookupError:
                pass
        after = worker_pids(server)
        assert after[1] == before[1] and after[2] != before[2]
        log = server.log.read_text(errors="replace")
        assert f"worker 2 (pid {before[2]}) has answered no health check for" in log
        assert f"worker 2 (pid {before[2]}) exited with code -9" in log
        assert run_async(session_pid(server.url, cookie="boundary_worker=2"))[0] == after[2]


def test_the_benchmarks_count_each_server_process_once():
    """bench/load.py sums CPU and memory over AppServer.pids(): the root once, then its children."""
    import subprocess
    import sys

    from bench.appserver import descendants

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        found = descendants(os.getpid())
        assert child.pid in found and os.getpid() not in found
        assert descendants(os.getpid(), leave_out=child.pid).count(child.pid) == 0
    finally:
        child.kill()
        child.wait()


def test_sigterm_stops_every_process(tiny_app):
    env = dict(os.environ, BOUNDARY_WARMUP="0")
    with app_server(workers=2, script=tiny_app, env=env, start_timeout=90) as server:
        pids = server.pids()
        assert len(worker_pids(server)) == 2 and set(worker_pids(server).values()) <= set(pids)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=40) == 0
    for pid in pids:  # gone (or a zombie until this process reaps the launcher)
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert "Boundary serve: stopped" in "\n".join(server.log_lines)
