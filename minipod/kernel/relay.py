"""A TCP relay on an epoll loop, with splice(2): the bytes of a connection go
from one socket into a pipe and from the pipe into the other socket inside
the kernel, never through Python. `minipod port-forward` runs one per
connection; the benchmarks compare it with a hostPort's DNAT.

And socket_in(): a socket made inside another network namespace (a pod's)
by this thread's setns there and back, so that connecting it reaches the
pod's own loopback, as the CRI's port forwarding does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
from collections.abc import Callable

from minipod.kernel import sys as msys
from minipod.loop.eventloop import Loop

CHUNK = 1 << 16  # a pipe's default capacity: one splice moves at most this much
_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK


def socket_in(netns_fd: int, family: int = socket.AF_INET) -> socket.socket:
    """A non-blocking TCP socket of the network namespace ``netns_fd``."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        msys.setns(netns_fd, msys.CLONE_NEWNET, "the pod's network namespace")
        try:
            return socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK
                                 | socket.SOCK_CLOEXEC)
        finally:
            msys.setns(own, msys.CLONE_NEWNET, "our network namespace")
    finally:
        os.close(own)


class _Half:
    """One direction: src -> pipe -> dst."""

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src, self.dst = src, dst
        self.pipe_r, self.pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.queued = 0  # bytes in the pipe
        self.eof = False  # src said EOF
        self.done = False  # EOF passed on to dst

    def pump(self) -> None:
        """Move what can be moved now; never blocks."""
        while not self.done:
            if self.queued:
                try:
                    moved = os.splice(self.pipe_r, self.dst.fileno(), self.queued, flags=_FLAGS)
                except BlockingIOError:
                    return  # dst is full: wait for it to be writable
                self.queued -= moved
                continue
            if self.eof:
                with contextlib.suppress(OSError):
                    self.dst.shutdown(socket.SHUT_WR)
                self.done = True
                return
            try:
                moved = os.splice(self.src.fileno(), self.pipe_w, CHUNK, flags=_FLAGS)
            except BlockingIOError:
                return  # nothing to read now
            if moved == 0:
                self.eof = True
            self.queued += moved

    def wants_read(self) -> bool:
        return not self.eof and not self.queued

    def wants_write(self) -> bool:
        return self.queued > 0

    def close(self) -> None:
        os.close(self.pipe_r)
        os.close(self.pipe_w)


class Relay:
    """Both directions of one connection; ``on_close`` when both have ended
    (or either socket failed)."""

    def __init__(self, loop: Loop, a: socket.socket, b: socket.socket,
                 on_close: Callable[[Relay], None] = lambda _r: None) -> None:
        self.loop = loop
        self.a, self.b = a, b
        self.halves = (_Half(a, b), _Half(b, a))
        self.on_close = on_close
        self.closed = False
        self._update()

    def _update(self) -> None:
        for sock in (self.a, self.b):
            events = select.EPOLLRDHUP
            for half in self.halves:
                if half.src is sock and half.wants_read():
                    events |= select.EPOLLIN
                if half.dst is sock and half.wants_write():
                    events |= select.EPOLLOUT
            self.loop.register(sock.fileno(), self._ready, events)

    def _ready(self, events: int) -> None:
        if events & (select.EPOLLERR | select.EPOLLHUP) and not events & select.EPOLLIN:
            self.close()
            return
        try:
            for half in self.halves:
                half.pump()
        except OSError as e:
            if e.errno not in (errno.ECONNRESET, errno.EPIPE):
                raise
            self.close()
            return
        if all(half.done for half in self.halves):
            self.close()
            return
        self._update()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in (self.a, self.b):
            self.loop.unregister(sock.fileno())
            sock.close()
        for half in self.halves:
            half.close()
        self.on_close(self)
