"""The server the httpGet probes of the capacity figure reach, inside each pod.

The pods' containers only sleep; this process opens a listening socket inside
each pod's network namespace (setns to the pod's netns, socket(), setns back:
a socket stays in the namespace it was made in) on the probe's port, and
answers every request with 200 from one epoll loop. What it is for is the
arrival time: SO_TIMESTAMPNS makes the kernel stamp each request when it is
received, so how late a probe came against its schedule is read off the
kernel, not off a busy server (a busybox httpd per pod would fork per probe
and write no time at all).
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import struct
import time

CLONE_NEWNET = 0x40000000
SO_TIMESTAMPNS = 35
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n"
            b"Connection: close\r\n\r\nok")

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def realtime_offset() -> float:
    """CLOCK_REALTIME minus CLOCK_MONOTONIC, read as tightly as we can."""
    best = None
    for _ in range(20):
        before = time.monotonic()
        real = time.time()
        after = time.monotonic()
        if best is None or after - before < best[0]:
            best = (after - before, real - (before + after) / 2)
    assert best is not None
    return best[1]


class ProbeServer:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._listeners: dict[int, tuple[socket.socket, str]] = {}
        self._conns: dict[int, tuple[socket.socket, str]] = {}
        self.arrivals: dict[str, list[float]] = {}  # key -> monotonic seconds
        self.offset = realtime_offset()
        self.served = 0

    def listen_in(self, key: str, netns_pid: int, port: int) -> None:
        """Listen on 127.0.0.1:port in the network namespace of ``netns_pid``."""
        target = os.open(f"/proc/{netns_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                _setns(self._home)  # must not fail: we would stay in the pod
        finally:
            os.close(target)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # accepted sockets inherit it
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        sock.setblocking(False)
        self._listeners[sock.fileno()] = (sock, key)
        self.arrivals.setdefault(key, [])
        self._epoll.register(sock.fileno(), select.EPOLLIN)

    def serve_until(self, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0:
            for fd, _events in self._epoll.poll(left):
                if fd in self._listeners:
                    self._accept(*self._listeners[fd])
                elif fd in self._conns:
                    self._read(fd)

    def _accept(self, listener: socket.socket, key: str) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self._conns[conn.fileno()] = (conn, key)
            self._epoll.register(conn.fileno(), select.EPOLLIN)
            self._read(conn.fileno())

    def _read(self, fd: int) -> None:
        conn, key = self._conns[fd]
        try:
            data, ancillary, _flags, _addr = conn.recvmsg(4096, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return
        except OSError:
            data, ancillary = b"", []
        if data:
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    self.arrivals[key].append(sec + nsec / 1e9 - self.offset)
                    break
            try:
                conn.send(RESPONSE)
            except OSError:
                pass  # the probe gave up (its timeout): nothing to answer
            self.served += 1
        self._epoll.unregister(fd)
        del self._conns[fd]
        conn.close()

    def close(self) -> None:
        for sock, _ in [*self._conns.values(), *self._listeners.values()]:
            sock.close()
        self._conns.clear()
        self._listeners.clear()
        self._epoll.close()
        os.close(self._home)
