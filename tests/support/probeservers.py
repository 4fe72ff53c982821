"""Small servers for the network probe tests: HTTP(S), gRPC health over h2,
and readers of the kernel's TCP tables.

Each server runs in a daemon thread (or, for the kernel tests, as its own
process inside a network namespace: `python -c "import probeservers; ..."`),
records what it was sent, and stops when its context manager exits.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events

from minipod.loop.eventloop import Loop
from minipod.probes.net.netprobe import NetProbe, Outcome

TCP_TIME_WAIT = "06"
TCP_LISTEN = "0A"
TCP_ESTABLISHED = "01"


# -- HTTP -----------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    server: ProbeHTTPServer

    def do_GET(self) -> None:
        self.server.requests.append((self.path, list(self.headers.items())))
        route, _, rest = self.path.partition("?")
        port = self.server.server_address[1]
        if route == "/ok":
            self._reply(200, b"ok")
        elif route.startswith("/status/"):
            code = int(route.rsplit("/", 1)[1])
            self._reply(code, f"status {code}".encode())
        elif route == "/redirect":
            self._reply(301, b"see /ok", location="/ok")
        elif route == "/redirect-abs":
            self._reply(302, b"see /ok", location=f"http://127.0.0.1:{port}/ok")
        elif route == "/elsewhere":
            self._reply(302, b"moved away", location=f"http://localhost:{port}/ok")
        elif route == "/loop":
            self._reply(302, b"again", location="/loop")
        elif route == "/no-location":
            self._reply(302, b"nowhere")
        elif route == "/headers":
            self._reply(200, json.dumps(self.server.requests[-1][1]).encode())
        elif route == "/big":
            self._reply(200, b"x" * 20000)
        elif route == "/to":
            self._reply(302, b"", location=rest)
        elif route == "/echo":
            self._reply(200, self.path.encode())
        else:
            self._reply(404, b"no such page")

    def _reply(self, code: int, body: bytes, location: str | None = None) -> None:
        self.send_response(code)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ProbeHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: many probes connect at once

    def __init__(self, address: tuple[str, int]) -> None:
        self.requests: list[tuple[str, list[tuple[str, str]]]] = []
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The probe resets connections on purpose (SO_LINGER 0) and stops
        # reading after 10 KiB: broken pipes here are expected, not errors.
        pass


@contextmanager
def http_server(tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
                ) -> Iterator[ProbeHTTPServer]:
    server = ProbeHTTPServer((host, 0))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def scripted_server(reply: bytes, then_close: bool, delay: float = 0.0, *,
                    backlog: int | None = None,
                    sent: Callable[[], None] | None = None) -> Iterator[int]:
    """A server that reads each request, sends `reply` as it is (``delay``
    seconds later; then calls ``sent``), then closes the connection (FIN: the
    request was read) or holds it open. Yields its port. Every connection it
    accepted is closed when the context ends, whatever its thread was doing
    then."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=backlog)
    listener.settimeout(0.05)
    stopping = threading.Event()
    conns: list[socket.socket] = []

    def answer(conn: socket.socket) -> None:
        conn.settimeout(2)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                break
            request += chunk
        if delay:
            time.sleep(delay)
        conn.sendall(reply)
        if sent is not None:
            sent()

    def serve() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener is closed: the context has ended
            conns.append(conn)
            try:
                answer(conn)
            except OSError:
                pass  # reset by the probe: it is done with us
            if then_close:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stopping.set()
        thread.join(10)
        listener.close()
        for conn in conns:
            conn.close()


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate (openssl req)."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


# -- gRPC health over h2 --------------------------------------------------------

SERVING, NOT_SERVING = 1, 2


@dataclass
class GRPCHealthServer:
    """A grpc.health.v1 server that answers one way: its `mode`.

    Modes: "serving", "not_serving", "unimplemented", "not_found" (an unknown
    service), "silent" (never sends its SETTINGS), "hang" (never answers).
    """

    mode: str
    listener: socket.socket
    requests: list[tuple[dict[bytes, bytes], bytes]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.port = int(self.listener.getsockname()[1])

    def serve(self) -> None:
        self.listener.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed under us
            with conn:
                try:
                    self._serve_one(conn)
                except OSError:
                    pass  # the probe resets the connection when it is done

    def _serve_one(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        h2conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None))
        if self.mode != "silent":
            h2conn.initiate_connection()
            conn.sendall(h2conn.data_to_send())
        headers: dict[bytes, bytes] = {}
        body = bytearray()
        while not self.stopping.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            for event in h2conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    headers = {bytes(k): bytes(v) for k, v in event.headers or ()}
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data or b""
                elif isinstance(event, h2.events.StreamEnded) and self.mode != "hang":
                    self.requests.append((headers, bytes(body)))
                    self._answer(h2conn, event.stream_id or 1)
            conn.sendall(h2conn.data_to_send())

    def _answer(self, h2conn: h2.connection.H2Connection, stream: int) -> None:
        grpc_headers = [(b":status", b"200"), (b"content-type", b"application/grpc")]
        if self.mode in ("unimplemented", "not_found"):
            code, message = ((b"12", b"unknown service grpc.health.v1.Health")
                             if self.mode == "unimplemented" else (b"5", b"unknown%20service"))
            h2conn.send_headers(stream, [*grpc_headers, (b"grpc-status", code),
                                         (b"grpc-message", message)], end_stream=True)
            return
        status = SERVING if self.mode == "serving" else NOT_SERVING
        message = bytes([0x08, status])  # HealthCheckResponse{status}
        h2conn.send_headers(stream, grpc_headers)
        h2conn.send_data(stream, b"\x00" + len(message).to_bytes(4, "big") + message)
        h2conn.send_headers(stream, [(b"grpc-status", b"0")], end_stream=True)


@contextmanager
def grpc_server(mode: str, host: str = "127.0.0.1", port: int = 0
                ) -> Iterator[GRPCHealthServer]:
    listener = socket.create_server((host, port))
    server = GRPCHealthServer(mode, listener)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        thread.join(5)
        listener.close()


def serve_grpc_forever(mode: str, port: int) -> None:
    """Entry point for a server process inside a network namespace."""
    listener = socket.create_server(("127.0.0.1", port))
    GRPCHealthServer(mode, listener).serve()


# -- a server alone in a network namespace (kernel tests) ----------------------

BUSYBOX = "/bin/busybox"
SUPPORT = Path(__file__).resolve().parent


@dataclass
class Netns:
    """A process alone in a new network namespace (lo up), and an fd of that netns."""

    proc: subprocess.Popen[bytes]
    fd: int

    def tcp(self) -> list[tuple[int, int, str]]:
        return tcp_sockets(self.proc.pid)


@contextmanager
def netns_running(argv: list[str], port: int) -> Iterator[Netns]:
    """Run argv in a fresh network namespace and wait until it listens on port there."""
    from podtest import wait_for

    script = f'{BUSYBOX} ip link set lo up && exec "$@"'
    proc = subprocess.Popen(["unshare", "--net", BUSYBOX, "sh", "-c", script, "sh", *argv],
                            env={**os.environ, "PYTHONPATH": str(SUPPORT)})
    fd = -1
    try:
        # /proc/PID/net/tcp is the table of PID's netns; the host never
        # listens on `port` (the tests reserve it), so this sees the new one.
        wait_for(lambda: proc.poll() is not None or listening_on(port, proc.pid),
                 what=f"{argv[0]} listening on {port} in its netns")
        assert proc.poll() is None, f"{argv} exited with {proc.returncode}"
        fd = os.open(f"/proc/{proc.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        assert os.fstat(fd).st_ino != os.stat("/proc/self/ns/net").st_ino
        yield Netns(proc, fd)
    finally:
        if fd >= 0:
            os.close(fd)
        proc.send_signal(signal.SIGKILL)  # by its Popen handle only
        proc.wait(10)


# -- running one probe ----------------------------------------------------------

def run_probe(loop: Loop, start: Callable[[Callable[[Outcome], None]], NetProbe],
              limit: float = 5.0) -> Outcome:
    """Start one probe, run the loop until `done`, and check `done` came once, later."""
    outcomes: list[Outcome] = []
    start(outcomes.append)
    assert outcomes == [], "done was called inside the call that started the probe"
    give_up = loop.call_later(limit, lambda: outcomes.append(Outcome("test", "gave up")))
    loop.run_until(lambda: bool(outcomes))
    give_up.cancel()
    loop.run_once(max_wait=0.02)
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


# -- the kernel's TCP tables ---------------------------------------------------

def tcp_sockets(pid: str | int = "self") -> list[tuple[int, int, str]]:
    """(local port, remote port, state) of every TCP socket in pid's network namespace."""
    rows = []
    for table in ("tcp", "tcp6"):
        try:
            text = Path(f"/proc/{pid}/net/{table}").read_text()
        except FileNotFoundError:
            continue  # no IPv6 in this kernel
        for line in text.splitlines()[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            rows.append((int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16),
                         state))
    return rows


def open_fds() -> set[str]:
    """This process's fds, without the one that lists them."""
    listing = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return set(os.listdir(listing)) - {str(listing)}
    finally:
        os.close(listing)


def time_wait_on(port: int) -> list[tuple[int, int, str]]:
    return [row for row in tcp_sockets() if row[2] == TCP_TIME_WAIT and port in row[:2]]


def listening_on(port: int, pid: str | int = "self") -> bool:
    return any(row[0] == port and row[2] == TCP_LISTEN for row in tcp_sockets(pid))
