"""minipod.probes.net.netprobe across network namespaces: the probe's socket is made in
the pod's netns, so it sees that namespace's loopback and not the host's."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import probeservers
import pytest
from podtest import wait_for
from probeservers import Netns, netns_running

from minipod.loop.eventloop import Loop
from minipod.probes.net import netprobe
from minipod.probes.net.netprobe import FAILURE, SUCCESS, Outcome

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"
SUPPORT = Path(__file__).resolve().parent.parent / "support"


@pytest.fixture
def loop() -> Iterator[Loop]:
    own_netns = os.readlink("/proc/thread-self/ns/net")
    loop = Loop()
    yield loop
    loop.close()
    assert os.readlink("/proc/thread-self/ns/net") == own_netns, "the test thread moved netns"


@pytest.fixture
def host_reserved_port() -> Iterator[int]:
    """A port bound on the host's loopback but not listening: nothing answers there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def httpd_netns(tmp_path: Path, host_reserved_port: int) -> Iterator[Netns]:
    (tmp_path / "index.html").write_text("inside the pod netns\n")
    port = host_reserved_port
    with netns_running([BUSYBOX, "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(tmp_path)],
                       port) as ns:
        yield ns


def run(loop: Loop, start: Callable[..., netprobe.NetProbe]) -> Outcome:
    return probeservers.run_probe(loop, start)


def test_http_and_tcp_reach_the_server_inside_the_netns(
        loop: Loop, httpd_netns: Netns, host_reserved_port: int) -> None:
    port, fd = host_reserved_port, httpd_netns.fd
    inside = run(loop, lambda d: netprobe.http_probe(loop, fd, "http", "127.0.0.1", port,
                                                     "/index.html", (), 1, d))
    assert inside == Outcome(SUCCESS, "inside the pod netns\n")
    assert run(loop, lambda d: netprobe.tcp_probe(loop, fd, "127.0.0.1", port, 1, d)).ok
    # The same address on the host's own loopback has nothing behind it.
    host = run(loop, lambda d: netprobe.http_probe(loop, None, "http", "127.0.0.1", port,
                                                   "/index.html", (), 1, d))
    assert host == Outcome(FAILURE, f'Get "http://127.0.0.1:{port}/index.html": dial tcp '
                                    f"127.0.0.1:{port}: connect: connection refused")
    tcp_host = run(loop, lambda d: netprobe.tcp_probe(loop, None, "127.0.0.1", port, 1, d))
    assert tcp_host.result == FAILURE


def test_a_host_server_is_not_seen_from_the_netns(loop: Loop, httpd_netns: Netns) -> None:
    with socket.create_server(("127.0.0.1", 0)) as host_listener:
        port = host_listener.getsockname()[1]
        assert run(loop, lambda d: netprobe.tcp_probe(loop, None, "127.0.0.1", port, 1, d)).ok
        inside = run(loop, lambda d: netprobe.tcp_probe(loop, httpd_netns.fd, "127.0.0.1",
                                                        port, 1, d))
    assert inside == Outcome(FAILURE, f"dial tcp 127.0.0.1:{port}: connect: connection refused")


def test_no_time_wait_inside_the_netns(loop: Loop, httpd_netns: Netns,
                                       host_reserved_port: int) -> None:
    port, fd = host_reserved_port, httpd_netns.fd
    for _ in range(5):
        assert run(loop, lambda d: netprobe.http_probe(loop, fd, "http", "127.0.0.1", port,
                                                       "/index.html", (), 1, d)).ok
        assert run(loop, lambda d: netprobe.tcp_probe(loop, fd, "127.0.0.1", port, 1, d)).ok
    wait_for(lambda: not [row for row in httpd_netns.tcp() if row[2] != probeservers.TCP_LISTEN],
             timeout=5, what="the pod netns to drop its probe connections")
    assert [row for row in httpd_netns.tcp() if row[2] == probeservers.TCP_TIME_WAIT] == []


def test_grpc_inside_the_netns(loop: Loop, host_reserved_port: int) -> None:
    port = host_reserved_port
    server = [sys.executable, "-P", "-c",
              f"import probeservers; probeservers.serve_grpc_forever('serving', {port})"]
    with netns_running(server, port) as ns:
        inside = run(loop, lambda d: netprobe.grpc_probe(loop, ns.fd, "127.0.0.1", port, "",
                                                         1, d))
        assert inside == Outcome(SUCCESS, "service healthy")
        host = run(loop, lambda d: netprobe.grpc_probe(loop, None, "127.0.0.1", port, "",
                                                       0.3, d))
    assert host == Outcome(FAILURE, f'timeout: failed to connect service "127.0.0.1:{port}" '
                                    "within 300ms: context deadline exceeded")


def test_an_fd_that_is_no_netns_fails_the_probe(loop: Loop, host_reserved_port: int) -> None:
    port = host_reserved_port
    uts = os.open("/proc/self/ns/uts", os.O_RDONLY | os.O_CLOEXEC)
    try:
        outcome = run(loop, lambda d: netprobe.tcp_probe(loop, uts, "127.0.0.1", port, 1, d))
    finally:
        os.close(uts)
    assert outcome == Outcome(FAILURE, f"dial tcp 127.0.0.1:{port}: setns: invalid argument")
