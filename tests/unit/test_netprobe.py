"""minipod.probes.net.netprobe on the host loopback: real sockets, a real loop, small servers."""

from __future__ import annotations

import gc
import json
import os
import socket
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterator

import probeservers
import pytest
from probeservers import grpc_server, http_server, open_fds, time_wait_on

from minipod.api.model import Probe, TCPSocketAction
from minipod.kernel.ns import home_netns_fd
from minipod.loop.eventloop import Loop
from minipod.probes.net import engine, netprobe
from minipod.probes.net.netprobe import FAILURE, SUCCESS, WARNING, NetProbe, Outcome
from minipod.probes.worker import ProbeWorker

UA = "kube-probe/1.34"
Start = Callable[[Callable[[Outcome], None]], NetProbe]


@pytest.fixture
def loop() -> Iterator[Loop]:
    loop = Loop()
    yield loop
    loop.close()


@pytest.fixture
def server() -> Iterator[probeservers.ProbeHTTPServer]:
    with http_server() as srv:
        yield srv


@pytest.fixture(scope="session")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return probeservers.self_signed_context(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def silent_listener() -> Iterator[socket.socket]:
    """Completes TCP handshakes (the backlog does) and never answers a byte."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as sock:
        yield sock


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: a SYN to it is answered with RST."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def run(loop: Loop, start: Start) -> Outcome:
    return probeservers.run_probe(loop, start)


def http(loop: Loop, port: int, path: str, headers: tuple[tuple[str, str], ...] = (), *,
         timeout: float = 1.0, scheme: str = "http", host: str = "127.0.0.1") -> Outcome:
    return run(loop, lambda done: netprobe.http_probe(loop, None, scheme, host, port, path,
                                                      headers, timeout, done))


def port_of(srv: probeservers.ProbeHTTPServer) -> int:
    return int(srv.server_address[1])


# -- tcpSocket --------------------------------------------------------------------

def test_tcp_open_port_succeeds(loop: Loop, silent_listener: socket.socket) -> None:
    port = silent_listener.getsockname()[1]
    outcome = run(loop, lambda done: netprobe.tcp_probe(loop, None, "127.0.0.1", port, 1, done))
    assert outcome == Outcome(SUCCESS, "")
    assert outcome.ok


def test_tcp_refused_words_it_like_go(loop: Loop, closed_port: int) -> None:
    outcome = run(loop, lambda done: netprobe.tcp_probe(loop, None, "127.0.0.1", closed_port,
                                                        1, done))
    assert outcome == Outcome(FAILURE, f"dial tcp 127.0.0.1:{closed_port}: connect: "
                                       "connection refused")
    assert not outcome.ok


def test_tcp_ipv6_and_localhost(loop: Loop) -> None:
    if not socket.has_ipv6 or not os.path.exists("/proc/net/tcp6"):
        pytest.skip("no IPv6 on this host")
    with socket.create_server(("::1", 0), family=socket.AF_INET6) as v6, \
            socket.create_server(("127.0.0.1", 0)) as v4:
        port6, port4 = v6.getsockname()[1], v4.getsockname()[1]
        assert run(loop, lambda d: netprobe.tcp_probe(loop, None, "::1", port6, 1, d)).ok
        assert run(loop, lambda d: netprobe.tcp_probe(loop, None, "localhost", port4, 1, d)).ok
    refused = run(loop, lambda d: netprobe.tcp_probe(loop, None, "::1", port6, 1, d))
    assert refused.message == f"dial tcp [::1]:{port6}: connect: connection refused"


def test_tcp_timeout_when_the_accept_queue_is_full(loop: Loop) -> None:
    # A listener with backlog 0 holds one unaccepted connection; the kernel
    # then drops further SYNs, so the probe's connect never completes.
    with socket.create_server(("127.0.0.1", 0), backlog=0) as full, \
            socket.create_connection(full.getsockname()):
        port = full.getsockname()[1]
        started = time.monotonic()
        outcome = run(loop, lambda d: netprobe.tcp_probe(loop, None, "127.0.0.1", port, 0.3, d))
        elapsed = time.monotonic() - started
    assert outcome == Outcome(FAILURE, f"dial tcp 127.0.0.1:{port}: i/o timeout")
    assert 0.25 < elapsed < 1.5


def test_host_names_are_refused_without_dns(loop: Loop) -> None:
    outcome = run(loop, lambda d: netprobe.tcp_probe(loop, None, "example.com", 80, 1, d))
    assert outcome.result == FAILURE
    assert outcome.message.startswith("dial tcp: lookup example.com: not an IP address")


# -- httpGet: statuses, redirects, body -------------------------------------------

def test_http_200_gives_the_body(loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    assert http(loop, port_of(server), "/ok") == Outcome(SUCCESS, "ok")


@pytest.mark.parametrize("code", [404, 500])
def test_http_error_status_fails_without_the_body(
        loop: Loop, server: probeservers.ProbeHTTPServer, code: int) -> None:
    outcome = http(loop, port_of(server), f"/status/{code}")
    assert outcome == Outcome(FAILURE, f"HTTP probe failed with statuscode: {code}")


def test_http_399_still_passes_as_a_warning(loop: Loop,
                                            server: probeservers.ProbeHTTPServer) -> None:
    outcome = http(loop, port_of(server), "/status/399")
    assert outcome == Outcome(WARNING, "Probe terminated redirects, Response body: status 399")
    assert outcome.ok


def test_http_same_host_redirects_are_followed(loop: Loop,
                                               server: probeservers.ProbeHTTPServer) -> None:
    port = port_of(server)
    assert http(loop, port, "/redirect") == Outcome(SUCCESS, "ok")
    assert http(loop, port, "/redirect-abs") == Outcome(SUCCESS, "ok")
    paths = [path for path, _ in server.requests]
    assert paths == ["/redirect", "/ok", "/redirect-abs", "/ok"]
    referer = dict(server.requests[1][1]).get("Referer")
    assert referer == f"http://127.0.0.1:{port}/redirect"  # as Go's client adds it


def test_http_user_host_survives_only_relative_redirects(
        loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    port, host = port_of(server), (("Host", "health.example"),)
    assert http(loop, port, "/redirect", host).ok
    assert http(loop, port, "/redirect-abs", host).ok
    hosts = [dict(headers)["Host"] for _, headers in server.requests]
    assert hosts == ["health.example", "health.example", "health.example", f"127.0.0.1:{port}"]


def test_http_redirect_to_another_host_is_a_warning(
        loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    outcome = http(loop, port_of(server), "/elsewhere")
    assert outcome == Outcome(WARNING, "Probe terminated redirects, Response body: moved away")
    assert [path for path, _ in server.requests] == ["/elsewhere"], "localhost is not followed"


def test_http_3xx_without_location_is_a_warning(loop: Loop,
                                                server: probeservers.ProbeHTTPServer) -> None:
    outcome = http(loop, port_of(server), "/no-location")
    assert outcome == Outcome(WARNING, "Probe terminated redirects, Response body: nowhere")


def test_http_redirect_loop_stops_after_10(loop: Loop,
                                           server: probeservers.ProbeHTTPServer) -> None:
    outcome = http(loop, port_of(server), "/loop")
    assert outcome == Outcome(FAILURE, 'Get "/loop": stopped after 10 redirects')
    assert len(server.requests) == 10


def test_http_body_is_capped_at_10_kib(loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    outcome = http(loop, port_of(server), "/big")
    assert outcome == Outcome(SUCCESS, "x" * 10240)


def test_http_path_keeps_its_query(loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    outcome = http(loop, port_of(server), "/echo?check=deep&x=1")
    assert outcome == Outcome(SUCCESS, "/echo?check=deep&x=1")
    assert http(loop, port_of(server), "echo") == Outcome(SUCCESS, "/echo")  # a leading / added


# -- httpGet: the request ---------------------------------------------------------

def sent_headers(loop: Loop, server: probeservers.ProbeHTTPServer,
                 headers: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    outcome = http(loop, port_of(server), "/headers", headers)
    assert outcome.result == SUCCESS, outcome
    return [(name, value) for name, value in json.loads(outcome.message)]


def test_http_default_headers(loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    assert sent_headers(loop, server, ()) == [
        ("Host", f"127.0.0.1:{port_of(server)}"), ("User-Agent", UA), ("Accept", "*/*"),
        ("Connection", "close")]


def test_http_user_headers_override_and_add(loop: Loop,
                                            server: probeservers.ProbeHTTPServer) -> None:
    got = sent_headers(loop, server, (("x-custom", "one"), ("X-Custom", "two"),
                                      ("user-agent", "mine/1"), ("Accept", "text/plain"),
                                      ("Host", "health.example")))
    assert got == [("Host", "health.example"), ("User-Agent", "mine/1"),
                   ("Accept", "text/plain"), ("X-Custom", "one"), ("X-Custom", "two"),
                   ("Connection", "close")]


def test_http_empty_user_value_removes_the_header(
        loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    got = sent_headers(loop, server, (("User-Agent", ""), ("Accept", "")))
    assert [name for name, _ in got] == ["Host", "Connection"]


def test_http_invalid_header_fails_before_dialling(loop: Loop,
                                                   server: probeservers.ProbeHTTPServer) -> None:
    outcome = http(loop, port_of(server), "/ok", (("X-Bad", "a\nb"),))
    assert outcome.result == FAILURE
    assert outcome.message.endswith('net/http: invalid header field value for "X-Bad"')
    assert server.requests == []


# -- httpGet: failures on the wire ------------------------------------------------

def test_http_refused(loop: Loop, closed_port: int) -> None:
    outcome = http(loop, closed_port, "/healthz")
    assert outcome == Outcome(FAILURE, f'Get "http://127.0.0.1:{closed_port}/healthz": dial tcp '
                                       f"127.0.0.1:{closed_port}: connect: connection refused")


def test_http_timeout_when_the_server_never_answers(loop: Loop,
                                                    silent_listener: socket.socket) -> None:
    port = silent_listener.getsockname()[1]
    started = time.monotonic()
    outcome = http(loop, port, "/healthz", timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert outcome == Outcome(FAILURE, f'Get "http://127.0.0.1:{port}/healthz": context deadline '
                                       "exceeded (Client.Timeout exceeded while awaiting headers)")


def test_http_dial_timeout(loop: Loop) -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=0) as full, \
            socket.create_connection(full.getsockname()):
        port = full.getsockname()[1]
        outcome = http(loop, port, "/healthz", timeout=0.3)
    assert outcome == Outcome(FAILURE, f'Get "http://127.0.0.1:{port}/healthz": dial tcp '
                                       f"127.0.0.1:{port}: i/o timeout "
                                       "(Client.Timeout exceeded while awaiting headers)")


def test_http_timeout_while_reading_the_body(loop: Loop) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"
    with probeservers.scripted_server(head, then_close=False) as port:
        outcome = http(loop, port, "/", timeout=0.3)
    assert outcome == Outcome(FAILURE, "context deadline exceeded "
                                       "(Client.Timeout or context cancellation while reading body)")


def test_http_truncated_body(loop: Loop) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"
    with probeservers.scripted_server(head, then_close=True) as port:
        assert http(loop, port, "/") == Outcome(FAILURE, "unexpected EOF")


def test_http_body_until_close(loop: Loop) -> None:
    reply = b"HTTP/1.0 200 OK\r\n\r\nread until the end"
    with probeservers.scripted_server(reply, then_close=True) as port:
        assert http(loop, port, "/") == Outcome(SUCCESS, "read until the end")


def test_http_answer_that_takes_its_time(loop: Loop) -> None:
    # Not on the loopback's fast path: the answer comes through epoll later.
    with probeservers.scripted_server(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow",
                                      then_close=True, delay=0.1) as port:
        assert http(loop, port, "/") == Outcome(SUCCESS, "slow")


def test_http_eof_before_a_response(loop: Loop) -> None:
    with probeservers.scripted_server(b"", then_close=True) as port:
        outcome = http(loop, port, "/")
    assert outcome == Outcome(FAILURE, f'Get "http://127.0.0.1:{port}/": EOF')


def test_http_malformed_response(loop: Loop) -> None:
    with probeservers.scripted_server(b"SSH-2.0-OpenSSH\r\n\r\n", then_close=True) as port:
        outcome = http(loop, port, "/")
    assert outcome.result == FAILURE
    assert outcome.message.startswith(f'Get "http://127.0.0.1:{port}/": net/http: HTTP/1.x '
                                      "transport connection broken: ")


def test_http_chunked_and_interim_responses(loop: Loop) -> None:
    reply = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
             b"\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    with probeservers.scripted_server(reply, then_close=False) as port:
        assert http(loop, port, "/") == Outcome(SUCCESS, "abcde")


def test_a_prepared_probe_starts_fresh_each_time(
        loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    # What is worked out once (URL, address, request) is shared; what one
    # probe reads and where its redirects led is its own.
    prepared = netprobe.prepare_http(loop, None, 1.0, "http", "127.0.0.1", port_of(server),
                                     "/redirect", (("X-Probe", "1"),), engine=engine.schedule)
    for _ in range(3):
        assert run(loop, prepared) == Outcome(SUCCESS, "ok")
    prepared.close()
    assert [path for path, _ in server.requests] == ["/redirect", "/ok"] * 3
    assert [dict(headers).get("Referer") for _, headers in server.requests] == [
        None, f"http://127.0.0.1:{port_of(server)}/redirect"] * 3


def test_a_prepared_probe_that_cannot_run_fails_every_time(
        loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    prepared = netprobe.prepare_http(loop, None, 1.0, "http", "127.0.0.1", port_of(server),
                                     "/ok", (("X-Bad", "a\nb"),), engine=engine.schedule)
    tcp = netprobe.prepare_tcp(loop, None, 1.0, "example.com", 80, engine=engine.schedule)
    for _ in range(2):
        outcome = run(loop, prepared)
        assert outcome.message.endswith('net/http: invalid header field value for "X-Bad"')
        assert run(loop, tcp).message.startswith(
            "dial tcp: lookup example.com: not an IP address")
    assert server.requests == []


def test_a_prepared_probe_keeps_one_socket_and_each_probe_a_new_connection(
        loop: Loop) -> None:
    # connect(AF_UNSPEC) ends a probe's connection with RST and keeps the
    # socket for the next probe: one fd for all of them, a new connection
    # (a new client port) each time, and no TIME-WAIT on either end.
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener, \
            probeservers.scripted_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                         then_close=True) as port:
        tcp_port = listener.getsockname()[1]
        before = open_fds()
        http_get = netprobe.prepare_http(loop, None, 1.0, "http", "127.0.0.1", port, "/", (), engine=engine.schedule)
        tcp = netprobe.prepare_tcp(loop, None, 1.0, "127.0.0.1", tcp_port, engine=engine.schedule)
        for _ in range(4):
            assert run(loop, http_get) == Outcome(SUCCESS, "ok")
            assert run(loop, tcp) == Outcome(SUCCESS, "")
            assert len(open_fds() - before) == 2, "one kept socket per prepared handler"
        clients = set()
        for _ in range(4):
            conn, address = listener.accept()
            clients.add(address[1])
            with pytest.raises(ConnectionResetError):  # RST: the probe aborted it
                conn.recv(1)
            conn.close()
        assert len(clients) == 4, "a new connection per probe"
        http_get.close()
        tcp.close()
        assert open_fds() == before
        time.sleep(0.2)
        assert time_wait_on(port) == []
        assert time_wait_on(tcp_port) == []


def test_a_worker_that_stops_closes_its_kept_socket(loop: Loop) -> None:
    outcomes: list[Outcome] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        home_netns_fd()  # opened once per process, by the first engine
        gc.collect()  # earlier tests' garbage closes its fds now, not during this one
        before = open_fds()
        prepared = netprobe.prepare_tcp(loop, None, 1.0, "127.0.0.1", port, engine=engine.schedule)
        worker = ProbeWorker(loop, "readiness",
                             Probe(handler=TCPSocketAction(port=port), period_seconds=1),
                             prepared, on_outcome=lambda w, o: outcomes.append(o),
                             on_result=lambda w, r: None)
        worker.start(loop.clock.now())
        loop.run_until(lambda: bool(outcomes))
        assert outcomes == [Outcome(SUCCESS, "")]
        # the socket, kept between probes, and the epoll and timerfd of the
        # engine that runs them (minipod/probes/net/engine.py)
        # the socket is kept between probes (beside the engine's epoll and timerfd)
        assert "socket" in {fd_kind(fd) for fd in open_fds() - before}
        worker.stop()
        assert open_fds() == before


def test_unknown_scheme_fails(loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    outcome = http(loop, port_of(server), "/ok", scheme="ftp")
    assert outcome == Outcome(FAILURE, f'Get "ftp://127.0.0.1:{port_of(server)}/ok": '
                                       'unsupported protocol scheme "ftp"')


# -- HTTPS ------------------------------------------------------------------------

def test_https_with_a_self_signed_certificate(loop: Loop, tls_context: ssl.SSLContext) -> None:
    with http_server(tls=tls_context) as srv:
        assert http(loop, port_of(srv), "/ok", scheme="HTTPS") == Outcome(SUCCESS, "ok")
        assert http(loop, port_of(srv), "/ok", scheme="https", host="localhost").ok  # with SNI
        outcome = http(loop, port_of(srv), "/big", scheme="https")
        assert outcome == Outcome(SUCCESS, "x" * 10240)
        assert http(loop, port_of(srv), "/status/503", scheme="https") == Outcome(
            FAILURE, "HTTP probe failed with statuscode: 503")


def test_http_to_https_redirect_on_the_same_host(loop: Loop, tls_context: ssl.SSLContext,
                                                server: probeservers.ProbeHTTPServer) -> None:
    with http_server(tls=tls_context) as secure:
        target = f"https://127.0.0.1:{port_of(secure)}/ok"
        assert http(loop, port_of(server), f"/to?{target}") == Outcome(SUCCESS, "ok")
        assert [path for path, _ in secure.requests] == ["/ok"]
        assert ("Host", f"127.0.0.1:{port_of(secure)}") in secure.requests[0][1]


def test_https_handshake_timeout(loop: Loop, silent_listener: socket.socket) -> None:
    port = silent_listener.getsockname()[1]
    outcome = http(loop, port, "/", timeout=0.3, scheme="https")
    assert outcome == Outcome(FAILURE, f'Get "https://127.0.0.1:{port}/": context deadline '
                                       "exceeded (Client.Timeout exceeded while awaiting headers)")


def test_https_to_a_plain_http_server(loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    outcome = http(loop, port_of(server), "/ok", scheme="https")
    assert outcome == Outcome(FAILURE, f'Get "https://127.0.0.1:{port_of(server)}/ok": '
                                       "tls: first record does not look like a TLS handshake")


# -- grpc ---------------------------------------------------------------------------

def grpc(loop: Loop, port: int, service: str = "", timeout: float = 1.0) -> Outcome:
    return run(loop, lambda d: netprobe.grpc_probe(loop, None, "127.0.0.1", port, service,
                                                   timeout, d))


def test_grpc_serving(loop: Loop) -> None:
    with grpc_server("serving") as srv:
        assert grpc(loop, srv.port, "db") == Outcome(SUCCESS, "service healthy")
        assert grpc(loop, srv.port) == Outcome(SUCCESS, "service healthy")
    (headers, body), (_, empty_body) = srv.requests
    assert headers[b":method"] == b"POST"
    assert headers[b":path"] == b"/grpc.health.v1.Health/Check"
    assert headers[b":authority"] == f"127.0.0.1:{srv.port}".encode()
    assert headers[b"content-type"] == b"application/grpc"
    assert headers[b"te"] == b"trailers"
    assert headers[b"user-agent"] == UA.encode()
    assert body == b"\x00\x00\x00\x00\x04\x0a\x02db"  # HealthCheckRequest{service: "db"}
    assert empty_body == b"\x00\x00\x00\x00\x00"  # proto3 leaves "" out


def test_grpc_not_serving(loop: Loop) -> None:
    with grpc_server("not_serving") as srv:
        assert grpc(loop, srv.port) == Outcome(
            FAILURE, 'service unhealthy (responded with "NOT_SERVING")')


def test_grpc_unimplemented(loop: Loop) -> None:
    with grpc_server("unimplemented") as srv:
        assert grpc(loop, srv.port) == Outcome(
            FAILURE, "error: this server does not implement the grpc health protocol "
                     "(grpc.health.v1.Health): unknown service grpc.health.v1.Health")


def test_grpc_other_status_carries_the_message(loop: Loop) -> None:
    with grpc_server("not_found") as srv:
        assert grpc(loop, srv.port, "nope") == Outcome(
            FAILURE, "error: health rpc probe failed: rpc error: code = NotFound "
                     "desc = unknown service")


def test_grpc_refused_is_retried_until_the_deadline(loop: Loop, closed_port: int) -> None:
    # grpc-go's blocking dial treats refusal as transient: the kubelet reports a timeout.
    started = time.monotonic()
    outcome = grpc(loop, closed_port, timeout=0.3)
    assert 0.25 < time.monotonic() - started < 1.5
    assert outcome == Outcome(FAILURE, f'timeout: failed to connect service "127.0.0.1:'
                                       f'{closed_port}" within 300ms: context deadline exceeded')


def test_grpc_server_without_settings_never_connects(loop: Loop) -> None:
    with grpc_server("silent") as srv:
        outcome = grpc(loop, srv.port, timeout=0.3)
    assert outcome.message == (f'timeout: failed to connect service "127.0.0.1:{srv.port}" '
                               "within 300ms: context deadline exceeded")


def test_grpc_rpc_that_never_returns(loop: Loop) -> None:
    with grpc_server("hang") as srv:
        outcome = grpc(loop, srv.port, timeout=0.3)
    assert outcome == Outcome(FAILURE, "timeout: health rpc did not complete within 300ms")


# -- the probe object ---------------------------------------------------------------

def fd_kind(fd: str) -> str:
    """socket, anon_inode, pipe, or a path; "" for an fd closed meanwhile."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}").partition(":")[0]
    except FileNotFoundError:
        return ""


def test_cancel_closes_the_socket_and_done_never_comes(
        loop: Loop, silent_listener: socket.socket) -> None:
    port = silent_listener.getsockname()[1]
    before = open_fds()
    outcomes: list[Outcome] = []
    probe = netprobe.http_probe(loop, None, "http", "127.0.0.1", port, "/", (), 0.2,
                                outcomes.append)
    end = time.monotonic() + 0.1
    while time.monotonic() < end:
        loop.run_once(max_wait=0.01)
    established = [row for row in probeservers.tcp_sockets()
                   if row[0] == port and row[2] == probeservers.TCP_ESTABLISHED]
    assert len(established) == 1, "the probe should be connected and waiting"
    probe.cancel()
    assert open_fds() == before
    end = time.monotonic() + 0.4  # past the probe's own deadline
    while time.monotonic() < end:
        loop.run_once(max_wait=0.05)
    assert outcomes == []
    assert len(loop.deadlines) == 0
    assert not [row for row in probeservers.tcp_sockets()
                if row[0] == port and row[2] == probeservers.TCP_ESTABLISHED], "RST not sent"


def test_cancel_before_the_loop_ran(loop: Loop) -> None:
    outcomes: list[Outcome] = []
    probe = netprobe.tcp_probe(loop, None, "example.com", 80, 1, outcomes.append)
    probe.cancel()
    loop.run_once(max_wait=0.05)
    assert outcomes == []


def test_no_time_wait_is_left_behind(loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    port = port_of(server)
    for path in ("/ok", "/redirect", "/big", "/status/500"):
        assert http(loop, port, path).result in (SUCCESS, FAILURE)
    assert run(loop, lambda d: netprobe.tcp_probe(loop, None, "127.0.0.1", port, 1, d)).ok
    with grpc_server("serving") as srv:
        assert grpc(loop, srv.port).ok
        assert grpc(loop, srv.port).ok
    time.sleep(0.2)  # let the server threads finish their side of the close
    assert time_wait_on(port) == []
    assert time_wait_on(srv.port) == []
    # The check is not blind: an ordinary client does leave one.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ok", timeout=5) as response:
        assert response.read() == b"ok"
    deadline = time.monotonic() + 2
    while not time_wait_on(port) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert time_wait_on(port) != []


def test_many_probes_share_one_loop(loop: Loop, server: probeservers.ProbeHTTPServer) -> None:
    outcomes: list[Outcome] = []
    with socket.create_server(("127.0.0.1", 0), backlog=1024) as listener:
        tcp_port = listener.getsockname()[1]
        for _ in range(500):
            netprobe.tcp_probe(loop, None, "127.0.0.1", tcp_port, 5, outcomes.append)
        for _ in range(50):
            netprobe.http_probe(loop, None, "http", "127.0.0.1", port_of(server), "/ok", (), 5,
                                outcomes.append)
        assert outcomes == [], "550 probes in flight at once: starting one never waits"
        loop.run_until(lambda: len(outcomes) == 550)
    # none ran into its 5 s timeout waiting behind the others
    assert outcomes.count(Outcome(SUCCESS, "")) == 500
    assert outcomes.count(Outcome(SUCCESS, "ok")) == 50


@pytest.mark.parametrize(("seconds", "text"), [
    (1, "1s"), (0.3, "300ms"), (1.5, "1.5s"), (90, "1m30s"), (3600, "1h0m0s"), (0, "0s")])
def test_go_duration(seconds: float, text: str) -> None:
    assert netprobe.go_duration(seconds) == text

