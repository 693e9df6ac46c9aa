"""Real servers on loopback for the data/cloud step tests: secantusd-py (MongoDB wire protocol),
moto in server mode (AWS APIs) and a tiny HTTP server. Import the fixtures into a test module.

Each slow server starts once per session (shared by every module that imports the fixture,
stopped when the last one is done); state is reset between tests.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Shared:
    """A process-wide server with a reference count (fixture imported by several modules)."""

    def __init__(self, start: Callable[[], Any], stop: Callable[[Any], None]) -> None:
        self._start, self._stop = start, stop
        self.value: Any = None
        self.users = 0

    def acquire(self) -> Any:
        if self.users == 0:
            self.value = self._start()
        self.users += 1
        return self.value

    def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            self._stop(self.value)
            self.value = None


# -- secantusd-py ------------------------------------------------------------------------------
@dataclass
class Mongod:
    proc: subprocess.Popen[bytes]
    port: int
    auth: bool = False

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def client(self, **kw: Any) -> Any:
        import pymongo

        return pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000, **kw)

    def wait_writable(self, timeout: float = 30.0) -> None:
        """Until the node is a writable primary again (after a failover drill)."""
        import pymongo

        c = pymongo.MongoClient(self.uri, directConnection=True, serverSelectionTimeoutMS=1000)
        try:
            deadline = time.monotonic() + timeout
            while not c.admin.command("hello").get("isWritablePrimary"):
                assert time.monotonic() < deadline, "secantusd did not become primary again"
                time.sleep(0.05)
        finally:
            c.close()


def start_secantus(auth: bool = False) -> Mongod:
    port = free_port()
    cmd = [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
           "--storage-path", ":memory:", "--log-level", "ERROR"]
    if auth:
        cmd.append("--auth")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    server = Mongod(proc, port, auth)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"secantusd-py exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline:
                stop_process(proc)
                raise RuntimeError("secantusd-py did not open its port") from None
            time.sleep(0.05)
    if not auth:
        c = server.client()
        try:
            c.admin.command("ping")
        finally:
            c.close()
    return server


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


_secantus = _Shared(start_secantus, lambda s: stop_process(s.proc))
_secantus_auth = _Shared(lambda: start_secantus(auth=True), lambda s: stop_process(s.proc))


@pytest.fixture(scope="session")
def secantus() -> Iterator[Mongod]:
    yield _secantus.acquire()
    _secantus.release()


@pytest.fixture(scope="session")
def secantus_auth() -> Iterator[Mongod]:
    """A second server started with --auth and no users: every login fails."""
    yield _secantus_auth.acquire()
    _secantus_auth.release()


@pytest.fixture
def mongo(secantus: Mongod) -> Iterator[Mongod]:
    """The shared server, with every user database dropped before and after the test."""
    secantus.wait_writable()
    _drop_all(secantus)
    yield secantus
    secantus.wait_writable()
    _drop_all(secantus)


def _drop_all(server: Mongod) -> None:
    c = server.client()
    try:
        for name in c.list_database_names():
            if name not in ("admin", "config", "local"):
                c.drop_database(name)
    finally:
        c.close()


# -- moto ----------------------------------------------------------------------------------------
@dataclass
class Moto:
    server: Any
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()


def _start_moto() -> Moto:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    moto = Moto(server, port)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"{moto.url}/moto-api/data.json", timeout=1) as r:
                r.read()
            return moto
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.05)


_moto = _Shared(_start_moto, lambda m: m.server.stop())


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Moto]:
    yield _moto.acquire()
    _moto.release()


@pytest.fixture
def aws(moto_server: Moto, monkeypatch: pytest.MonkeyPatch) -> Iterator[Moto]:
    """moto with fresh state and fake credentials in the environment."""
    moto_server.reset()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    yield moto_server
    moto_server.reset()


# -- a tiny HTTP server --------------------------------------------------------------------------
@dataclass
class Reply:
    status: int = 200
    body: Any = b""
    """bytes, str, or anything JSON-serialisable."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Web:
    """Routes are `path → Reply` or `path → callable(hit_number) -> Reply`."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply | Callable[[int], Reply]] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reply(self, path: str) -> Reply:
        with self.lock:
            n = self.hits.get(path, 0) + 1
            self.hits[path] = n
            route = self.routes.get(path)
        if route is None:
            return Reply(404, b"not found")
        return route(n) if callable(route) else route


def _handler(web: Web) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, head: bool) -> None:
            reply = web.reply(self.path)
            if reply.delay:
                time.sleep(reply.delay)
            body = reply.body
            headers = dict(reply.headers)
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
                headers.setdefault("Content-Type", "application/json")
            data = body.encode() if isinstance(body, str) else body
            self.send_response(reply.status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not head:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _start_web() -> Web:
    web = Web()
    web.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(web))
    web.server.daemon_threads = True
    web.thread = threading.Thread(target=web.server.serve_forever, kwargs={"poll_interval": 0.1},
                                  daemon=True)
    web.thread.start()
    return web


def _stop_web(web: Web) -> None:
    assert web.server is not None and web.thread is not None
    web.server.shutdown()
    web.server.server_close()
    web.thread.join(5)


_web = _Shared(_start_web, _stop_web)


@pytest.fixture(scope="session")
def web_server() -> Iterator[Web]:
    yield _web.acquire()
    _web.release()


@pytest.fixture
def web(web_server: Web) -> Iterator[Web]:
    web_server.routes.clear()
    web_server.hits.clear()
    yield web_server
    web_server.routes.clear()
    web_server.hits.clear()
