"""Network probes (tcpSocket, httpGet, grpc), made by the supervisor itself.

The kubelet dials probes from the node to the pod IP. A minipod pod has no
address the host can reach, so the supervisor dials from inside the pod's
network namespace instead: the socket is created there (setns, socket(),
setns back) and stays bound to that namespace for its whole life, while the
connect, the reads and the writes run on the supervisor's own epoll loop.

One supervisor probes every pod (issue 5: 1000 pods with a 1 s httpGet
probe each), so the common path is kept short:

- csrc/mp_probe.c makes the socket in the pod's netns and connects it in one
  call, and says whether the loopback handshake is already done; then the
  request goes out at once and epoll only waits for the answer;
- what does not change between two probes of one container (the URL, the
  address, the request's bytes) is worked out once: prepare_http() and
  prepare_tcp() give a Prepared, which the probe worker calls every period;
  it also keeps the socket of one probe for the next: connect() to AF_UNSPEC
  ends a connection with RST and leaves the socket in the pod's netns, ready
  to connect again, so a probe makes no socket and no setns;
- the response is read by minipod/probes/net/http1.py (status line, fields, a body up
  to 10 KiB), not by a general HTTP library; h2 still speaks HTTP/2 for
  gRPC, and an ssl MemoryBIO pair does TLS without touching the socket.

One loop deadline per probe (timeoutSeconds) bounds connect, handshake,
request and response together. Nothing blocks and nothing polls: a host that
is not an IP literal or "localhost" is refused, because a DNS lookup would
stall the loop for every pod. `done` is never called from inside the call
that starts a probe (a failure found at once is reported from the loop).

A probe's connection ends with RST (connect() to AF_UNSPEC for a kept socket,
close() with SO_LINGER {1, 0} for the others), so neither end keeps a
TIME-WAIT entry per probe (a busy host makes thousands a minute).

The messages copy the kubelet's (Go's net and net/http errors, grpc-go's
status text, pkg/probe/{tcp,http,grpc}), because they end up in events that
people compare with what a cluster prints.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import random
import re
import select
import socket
import ssl
import struct
import urllib.parse
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from minipod.api.frozen import frozen
from minipod.kernel import sys as mpsys
from minipod.kernel.ns import home_netns_fd
from minipod.loop.eventloop import Deadline, Loop
from minipod.probes.net import http1
from minipod.probes.worker import FAILURE, SUCCESS, WARNING, Outcome

# Outcome and the result names are the probe workers' (probe.py): one type for
# every handler. WARNING is the kubelet's probe.Warning: it counts as success and
# makes a ProbeWarning event.

USER_AGENT = "kube-probe/1.34"
MAX_BODY = 10 * 1024  # the kubelet's maxRespBodyLength
MAX_REDIRECTS = 10  # Go's default, kept by the kubelet's RedirectChecker

_TCP_CLOSE = 7  # tcpi_state of a socket with no connection (linux/tcp_states.h)
_LINGER_RST = struct.pack("ii", 1, 0)  # struct linger {l_onoff 1, l_linger 0}
_RECV_SIZE = 65536
_EPOLLIN, _EPOLLOUT = select.EPOLLIN, select.EPOLLOUT
_EPOLL_READ = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR


Done = Callable[[Outcome], None]
# engine.schedule's signature: (prepared, peer, request, *, first, period, tick, done)
Scheduler = Callable[..., Any]


# -- the pod's network namespace ---------------------------------------------

class NetnsStuckError(RuntimeError):
    """The supervisor could not return to its own network namespace."""


def _stuck(err: int) -> NetnsStuckError:
    # Staying would make every later socket and netlink call of the
    # supervisor act on one pod's namespace, silently: stop instead.
    return NetnsStuckError("cannot return to the supervisor's network namespace: "
                           f"{os.strerror(err)}")


def _dial(netns_fd: int | None, peer: _Peer, data: bytes, reuse: int
          ) -> tuple[int, bool, int]:
    """A socket made in the pod's netns (or ``reuse``, a kept one) and connecting
    to ``peer``: (fd, connected, how much of ``data`` went out with it, or -errno
    of that send).

    A connect the kernel refused at once raises the _NetError Go would give;
    setns or socket() failing raises a permanent one.
    """
    netns, home = (-1, -1) if netns_fd is None else (netns_fd, home_netns_fd())
    fd, how, sent = mpsys.probe_dial(netns, home, peer.family, peer.packed, peer.port,
                                     peer.scope_id, data, reuse)
    if fd < 0:
        raise _dial_failure(-fd, how, peer)
    return fd, how == mpsys.PROBE_CONNECTED, sent


def _dial_failure(err: int, step: int, peer: _Peer) -> Exception:
    """What a dial that failed at ``step`` (csrc/mp_probe.h) raises."""
    if step == mpsys.PROBE_STEP_CONNECT:
        return _NetError(f"dial tcp {peer.text}: connect: {_errno_text(err)}")
    if step == mpsys.PROBE_STEP_HOME:
        return _stuck(err)
    name = "setns" if step == mpsys.PROBE_STEP_SETNS else "socket"
    return _NetError(f"dial tcp {peer.text}: {name}: {_errno_text(err)}", permanent=True)


@frozen
class Resume:
    """Where the engine (minipod/probes/net/engine.py) handed a probe over: one of
    csrc/mp_prober.h's reports, ``deadline`` in the loop clock's seconds."""

    what: int
    fd: int
    err: int
    step: int
    sent: int
    deadline: float


# -- addresses and Go's words -------------------------------------------------

class _NetError(Exception):
    """A failure, worded as Go words it (without the probe kind's prefix).

    ``permanent`` marks what trying again cannot fix (a host name, a closed
    netns fd), so gRPC does not redial it.
    """

    def __init__(self, text: str, *, permanent: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.permanent = permanent


class _BodyError(_NetError):
    """A failure while reading an HTTP body: Go reports it without the URL."""


@frozen
class _Peer:
    family: int
    sockaddr: tuple[Any, ...]
    text: str  # Go's host:port, e.g. 127.0.0.1:8080 or [::1]:8080
    packed: bytes  # the address, as mp_probe_dial takes it
    port: int
    scope_id: int = 0


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _resolve(host: str, port: int) -> _Peer:
    """The address of an IP literal or of localhost; never a DNS query."""
    if not 0 < port < 65536:
        raise _NetError(f"dial tcp: address {port}: invalid port", permanent=True)
    literal = "127.0.0.1" if host == "localhost" else host
    try:
        infos = socket.getaddrinfo(literal, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
    except socket.gaierror:
        raise _NetError(f"dial tcp: lookup {host}: not an IP address "
                        "(minipod probes resolve no host names but localhost)",
                        permanent=True) from None
    family, _, _, _, sockaddr = infos[0]
    address = str(sockaddr[0]).partition("%")[0]
    scope_id = int(sockaddr[3]) if len(sockaddr) == 4 else 0  # IPv6: (host, port, flow, scope)
    return _Peer(family, tuple(sockaddr), _join_host_port(str(sockaddr[0]), port),
                 socket.inet_pton(family, address), port, scope_id)


def _errno_text(err: int) -> str:
    # Go's syscall.Errno strings are glibc's strerror with a lower-case start.
    text = os.strerror(err)
    return text[:1].lower() + text[1:]


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints it: 1s, 1.5s, 500ms, 1m30s."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return _trim(ns / size) + unit
    hours, ns = divmod(ns, 3600 * 10**9)
    minutes, ns = divmod(ns, 60 * 10**9)
    text = _trim(ns / 1e9) + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


# -- the probe in flight: one socket at a time ---------------------------------

_IDLE, _DIALING, _HANDSHAKE, _OPEN = "idle", "dialing", "handshake", "open"


class NetProbe:
    """A probe in flight: at most one socket at a time, one deadline, one `done`.

    The kinds of probe fill in the _start/_on_open/_on_data/_on_eof hooks and
    word their own failures; this class owns the socket, TLS and the timers.

    The probe starts inside the constructor (the socket, and on the loopback
    the whole handshake, happen there); an outcome known before the
    constructor returns is handed to `done` from the loop, in the next turn.
    The socket is a bare fd (os.read, os.write): a socket object costs a
    getsockname() and an object per probe, for nothing the probe needs.
    """

    __slots__ = ("_conn", "_deadline", "_done", "_early", "_fd", "_finished", "_later", "_loop",
                 "_mask", "_netns_fd", "_out", "_owner", "_peer", "_starting", "_state",
                 "_timeout", "_tls", "_tls_in", "_tls_out")

    def __init__(self, loop: Loop, netns_fd: int | None, timeout: float, done: Done,
                 owner: Prepared | None = None, *, resume: Resume | None = None) -> None:
        self._loop = loop
        self._owner = owner  # keeps our socket for its next probe
        self._netns_fd = netns_fd
        self._timeout = timeout
        self._done = done
        self._finished = False
        self._fd = -1
        self._conn = 0  # counts connections: tells a redial from the socket that was
        self._peer: _Peer | None = None
        self._state = _IDLE
        self._mask = 0
        self._out = bytearray()
        self._early = b""  # what goes out as soon as the connection is up
        self._tls: ssl.SSLObject | None = None
        self._tls_in: ssl.MemoryBIO | None = None
        self._tls_out: ssl.MemoryBIO | None = None
        self._later: Deadline | None = None
        lane = ("probe timeout", timeout)
        if resume is not None:  # the engine dialled; done may be called at once
            self._deadline = loop.call_at(resume.deadline, self._expire, lane=lane)
            self._starting = False
            self._run(functools.partial(self._resume, resume))
            return
        self._deadline = loop.call_later(timeout, self._expire, lane=lane)
        self._starting = True
        try:
            self._start()
        except _NetError as exc:
            if not self._finished:
                self._on_error(exc)
        finally:
            self._starting = False

    def cancel(self) -> None:
        """Stop the probe and close its socket; `done` is then never called."""
        self._stop()

    # -- hooks of the probe kinds ------------------------------------------
    def _start(self) -> None:
        raise NotImplementedError

    def _first_dial(self) -> tuple[_Peer, bytes]:
        """Where _start() connects, and the bytes it sends first (for _resume)."""
        raise NotImplementedError

    def _on_open(self) -> None:
        """The connection (and TLS, if any) is up, and the first bytes are on their way."""

    def _on_data(self, data: bytes) -> None:
        """Bytes from the peer (plaintext after TLS)."""

    def _on_eof(self) -> None:
        raise _NetError("EOF")

    def _on_error(self, exc: _NetError) -> None:
        self._finish(FAILURE, exc.text)

    def _timeout_message(self) -> str:
        raise NotImplementedError

    # -- ending ----------------------------------------------------------------
    def _finish(self, result: str, message: str) -> None:
        if self._finished:
            return
        self._stop()
        outcome = Outcome(result, message)
        if self._starting:
            self._later = self._loop.call_later(0, functools.partial(self._done, outcome))
        else:
            self._done(outcome)

    def _stop(self) -> None:
        self._finished = True
        self._deadline.cancel()
        if self._later is not None:
            self._later.cancel()
        self._close()

    def _expire(self) -> None:
        self._finish(FAILURE, self._timeout_message())

    def _run(self, step: Callable[[], None]) -> None:
        """Run one step from the loop; a network error ends the way the probe words it."""
        if self._finished:
            return
        try:
            step()
        except _NetError as exc:
            if not self._finished:
                self._on_error(exc)

    # -- the connection ------------------------------------------------------
    def _connect(self, peer: _Peer, tls_server_name: str | None = None,
                 tls: bool = False, early: bytes = b"") -> None:
        """Start a non-blocking connect; _on_open() follows once it (and TLS) is up,
        at once if the kernel finished the handshake inside connect(). ``early``
        (a request) is sent as soon as the connection is up; without TLS, by
        the call that connects when it can."""
        if self._fd >= 0:
            self._close()
        self._peer = peer
        self._state = _DIALING
        self._conn += 1
        owner = self._owner
        reuse = owner.take(peer) if owner is not None else -1
        fd, connected, sent = _dial(self._netns_fd, peer, b"" if tls else early, reuse)
        self._fd = fd
        if tls:
            self._early = early
            self._tls_in, self._tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self._tls = _tls_client(self._tls_in, self._tls_out, tls_server_name)
        if not connected:
            self._early = early
            self._watch(_EPOLLOUT)  # writable = the handshake finished, one way or the other
            return
        if tls:
            self._connection_up()
            return
        self._sent_with_connect(early, sent)

    def _sent_with_connect(self, early: bytes, sent: int) -> None:
        # The common case: plaintext, connected, and the request (if any) sent
        # with the connect; what the socket did not take waits in _out.
        if sent < 0:
            raise self._io_error("write", -sent)
        if sent < len(early):
            self._out += early[sent:]
        self._early = b""
        self._opened()

    def _resume(self, resume: Resume) -> None:
        """Go on from where the engine handed the probe over, as if _start()
        had got there: the first connection, plaintext (csrc/mp_prober.h)."""
        peer, early = self._first_dial()
        self._peer = peer
        self._state = _DIALING
        self._conn += 1
        what = resume.what
        if what == mpsys.PROBER_DIAL_FAILED:
            raise _dial_failure(resume.err, resume.step, peer)
        self._fd = resume.fd
        if what == mpsys.PROBER_CONNECTING:
            self._early = early
            self._watch(_EPOLLOUT)
        elif what == mpsys.PROBER_SENT:
            self._sent_with_connect(early, resume.sent)
        else:  # ANSWERED or EXPIRED: the request went out; the answer is unread
            self._opened()
            if not self._finished and self._fd >= 0:
                # Read what came now: the deadline may be past already, and the
                # loop runs its timers before it would tell us of this fd.
                self._receive()

    @property
    def finished(self) -> bool:
        return self._finished

    def _await_reply(self) -> None:
        self._watch(_EPOLLIN | (_EPOLLOUT if self._out else 0))

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        self._state = _IDLE
        if self._out:
            self._out.clear()
        self._tls = None
        if fd >= 0:
            if self._mask:
                self._loop.unregister(fd)  # always before close (loop.py)
                self._mask = 0
            owner = self._owner
            if owner is None or not owner.keep(fd, self._peer):
                os.close(fd)  # SO_LINGER {1, 0}: RST, no TIME-WAIT

    def _watch(self, mask: int) -> None:
        if mask != self._mask:
            self._loop.register(self._fd, self._on_events, mask)
            self._mask = mask

    def _on_events(self, events: int) -> None:
        if self._finished or self._fd < 0:
            return  # between connections (a gRPC redial): nothing of ours is watched
        try:
            if self._state == _DIALING:
                self._connected()
                return
            if events & _EPOLLOUT:
                self._flush()
            if events & _EPOLL_READ:
                self._receive()
        except _NetError as exc:
            if not self._finished:
                self._on_error(exc)

    def _connected(self) -> None:
        with _socket_of(self._fd) as sock:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise self._dial_error(err)
            try:
                sock.getpeername()
            except OSError:
                if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == _TCP_CLOSE:
                    # closed, its error read already: the level-triggered HUP
                    # would come back every turn until the timeout
                    raise self._dial_error(errno.ECONNRESET) from None
                # Not connected yet: a stale event for an earlier socket that had
                # this fd number, delivered in the same epoll batch. Keep waiting.
                return
        self._connection_up()

    def _connection_up(self) -> None:
        if self._tls is None:
            self._opened()
        else:
            self._state = _HANDSHAKE
            self._handshake()

    def _opened(self) -> None:
        self._state = _OPEN
        if self._early:
            early, self._early = self._early, b""
            self._send(early)
            if self._finished:
                return
        self._on_open()
        if self._fd >= 0 and not self._finished:
            self._await_reply()

    def _send(self, data: bytes) -> None:
        if self._tls is not None:
            assert self._tls_out is not None
            self._tls.write(data)
            data = self._tls_out.read()
        self._out += data
        self._flush()

    def _flush(self) -> None:
        fd = self._fd
        out = self._out
        while out:
            try:
                sent = os.write(fd, out)
            except BlockingIOError:
                break
            except OSError as exc:
                raise self._io_error("write", exc.errno) from exc
            del out[:sent]
        self._watch(_EPOLLIN | (_EPOLLOUT if out else 0))

    def _receive(self) -> None:
        conn = self._conn
        try:
            data = os.read(self._fd, _RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            raise self._io_error("read", exc.errno) from exc
        self._got(data, conn)

    def _got(self, data: bytes, conn: int) -> None:
        """Bytes read from connection ``conn``; b"" is its EOF."""
        eof = not data
        if self._tls is not None:
            assert self._tls_in is not None
            if eof:
                self._tls_in.write_eof()
            else:
                self._tls_in.write(data)
            if self._state == _HANDSHAKE:
                self._handshake()
                return
            data, eof = self._tls_read()
        if data:
            self._on_data(data)
        # The hook may have finished the probe, or redialled (a redirect):
        # then this EOF belonged to a connection that is gone.
        if eof and self._conn == conn and self._fd >= 0 and not self._finished:
            self._on_eof()

    # -- TLS in memory ---------------------------------------------------------
    def _handshake(self) -> None:
        assert self._tls is not None and self._tls_in is not None and self._tls_out is not None
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self._out += self._tls_out.read()
            self._flush()
            if self._tls_in.eof:
                raise _NetError("EOF") from None
            return
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            raise _NetError("EOF") from exc
        except ssl.SSLError as exc:
            raise _NetError(_tls_error_text(exc)) from exc
        self._out += self._tls_out.read()
        self._flush()
        self._opened()
        if self._fd >= 0 and self._tls_in.pending and not self._finished:
            data, _ = self._tls_read()  # application data that came with the last flight
            if data:
                self._on_data(data)

    def _tls_read(self) -> tuple[bytes, bool]:
        assert self._tls is not None and self._tls_out is not None
        chunks: list[bytes] = []
        eof = False
        while True:
            try:
                chunk = self._tls.read(_RECV_SIZE)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                eof = True
                break
            except ssl.SSLError as exc:
                raise _NetError(_tls_error_text(exc)) from exc
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
        self._out += self._tls_out.read()  # post-handshake messages, if any
        if self._out:
            self._flush()
        return b"".join(chunks), eof

    # -- Go's wording ----------------------------------------------------------
    def _dial_error(self, err: int) -> _NetError:
        assert self._peer is not None
        return _NetError(f"dial tcp {self._peer.text}: connect: {_errno_text(err)}")

    def _io_error(self, op: str, err: int | None) -> _NetError:
        assert self._peer is not None
        local = ""
        if self._fd >= 0:
            try:
                with _socket_of(self._fd) as sock:
                    name = sock.getsockname()
                local = _join_host_port(str(name[0]), int(name[1])) + "->"
            except OSError:
                pass  # the socket is already gone: Go would then omit it too
        reason = _errno_text(err) if err else "unknown error"
        return _NetError(f"{op} tcp {local}{self._peer.text}: {op}: {reason}")

    def _dial_text(self, host: str, port: int) -> str:
        return self._peer.text if self._peer is not None else _join_host_port(host, port)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # One context for every probe: building one costs far more than a handshake.
    # The kubelet's prober sets InsecureSkipVerify: a probe checks health, not
    # identity, and pods mostly serve self-signed certificates.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # Go's client default
    return context


def _tls_client(incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO,
                server_name: str | None) -> ssl.SSLObject:
    return _tls_context().wrap_bio(incoming, outgoing, server_side=False,
                                   server_hostname=server_name)


def _tls_error_text(exc: ssl.SSLError) -> str:
    if exc.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
        return "tls: first record does not look like a TLS handshake"  # Go's words
    return f"tls: {(exc.reason or str(exc)).lower().replace('_', ' ')}"


@contextlib.contextmanager
def _socket_of(fd: int) -> Iterator[socket.socket]:
    """A socket object lent for ``fd`` (for getsockopt and friends), which stays ours."""
    sock = socket.socket(fileno=fd)
    try:
        yield sock
    finally:
        sock.detach()


class Prepared:
    """A network handler made ready once, for every probe of one container run:
    call it with `done` to start a probe (a ProbeWorker's prober); close() it
    when those probes stop.

    With ``keep_socket``, it keeps the socket of the probe that ended last,
    disconnected (mp_probe_disconnect), for the next one: a probe then makes
    no socket, and no setns. A kept socket pins the pod's netns: close().
    """

    def __init__(self, loop: Loop, netns_fd: int | None, timeout: float,
                 keep_socket: bool) -> None:
        self.loop = loop
        self.netns_fd = netns_fd
        self.timeout = timeout
        self._keep_socket = keep_socket
        self._spare = -1
        self._spare_family = 0
        # engine.schedule where the C engine may run our probes (handlers.py
        # says so); None: every probe is made here, in Python
        self.engine: Scheduler | None = None

    def __call__(self, done: Done) -> NetProbe:
        raise NotImplementedError

    def resume(self, done: Done, resume: Resume) -> NetProbe:
        """A probe of this handler that goes on where the engine handed it over."""
        raise NotImplementedError

    def engine_plan(self) -> tuple[_Peer, bytes] | None:
        """Where the engine connects and what it sends; None: Python probes."""
        raise NotImplementedError

    def schedule(self, first: float, period: float, tick: int, done: Done) -> Any:
        """Hand a ProbeWorker's schedule, from tick ``tick`` on, to the engine
        of our loop (self.engine, minipod/probes/net/engine.py): a Schedule,
        or None where Python probes (TLS; without a socket to keep)."""
        # The engine keeps CLOCK_MONOTONIC time: a FakeClock's loop probes in Python.
        if self.engine is None or not self._keep_socket or self.loop.fake_time:
            return None
        plan = self.engine_plan()
        if plan is None:
            return None
        try:
            return self.engine(self, plan[0], plan[1], first=first, period=period,
                               tick=tick, done=done)
        except OSError:  # no engine (EMFILE, ENOMEM): this worker probes in Python
            return None

    def take_spare(self, family: int) -> int:
        """The kept socket, now the caller's, if it is of ``family``; else -1."""
        fd, self._spare = self._spare, -1
        if fd >= 0 and self._spare_family != family:
            os.close(fd)
            return -1
        return fd

    def take(self, peer: _Peer) -> int:
        """The kept socket, if it suits ``peer``; -1 if a new one must be made."""
        fd = self._spare
        if fd >= 0 and self._spare_family == peer.family:
            self._spare = -1
            return fd
        return -1

    def keep(self, fd: int, peer: _Peer | None) -> bool:
        """End fd's connection (RST) and keep the socket; False: close it."""
        if not self._keep_socket or self._spare >= 0 or peer is None:
            return False
        if mpsys.probe_disconnect(fd) < 0:
            return False
        self._spare, self._spare_family = fd, peer.family
        return True

    def close(self) -> None:
        fd, self._spare = self._spare, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        if self._spare >= 0:  # only a Prepared nobody closed
            self.close()


class _Resolved:
    """An address worked out once for every probe of a container, or why there is none."""

    def __init__(self, host: str, port: int) -> None:
        self.peer: _Peer | None = None
        self.error: _NetError | None = None
        try:
            self.peer = _resolve(host, port)
        except _NetError as exc:
            self.error = exc

    def get(self) -> _Peer:
        if self.error is not None:
            raise _NetError(self.error.text, permanent=self.error.permanent)
        assert self.peer is not None
        return self.peer


# -- tcpSocket ------------------------------------------------------------------

class _TCPProbe(NetProbe):
    """Success when the TCP handshake completes (pkg/probe/tcp)."""

    __slots__ = ("_address", "_host", "_port")

    def __init__(self, get: TCPConnect, done: Done, resume: Resume | None = None) -> None:
        self._host, self._port, self._address = get.host, get.port, get.address
        super().__init__(get.loop, get.netns_fd, get.timeout, done, get, resume=resume)

    def _start(self) -> None:
        self._connect(self._address.get())

    def _first_dial(self) -> tuple[_Peer, bytes]:
        return self._address.get(), b""

    def _on_open(self) -> None:
        self._finish(SUCCESS, "")

    def _timeout_message(self) -> str:
        return f"dial tcp {self._dial_text(self._host, self._port)}: i/o timeout"


class TCPConnect(Prepared):
    """A tcpSocket handler made ready: its address, worked out once."""

    def __init__(self, loop: Loop, netns_fd: int | None, timeout: float,  # noqa: PLR0917
                 host: str, port: int, keep_socket: bool) -> None:
        super().__init__(loop, netns_fd, timeout, keep_socket)
        self.host, self.port = host, port
        self.address = _Resolved(host, port)

    def __call__(self, done: Done) -> NetProbe:
        return _TCPProbe(self, done)

    def resume(self, done: Done, resume: Resume) -> NetProbe:
        return _TCPProbe(self, done, resume)

    def engine_plan(self) -> tuple[_Peer, bytes] | None:
        peer = self.address.peer
        return None if peer is None else (peer, b"")


def prepare_tcp(loop: Loop, netns_fd: int | None, timeout: float,
                host: str, port: int, *, engine: Scheduler | None = None) -> TCPConnect:
    """tcpSocket probes of host:port from the pod's netns, for a ProbeWorker
    (``engine``: see Prepared.engine)."""
    prepared = TCPConnect(loop, netns_fd, timeout, host, port, keep_socket=True)
    prepared.engine = engine
    return prepared


# The three constructors keep the positional order the supervisor calls them with.
def tcp_probe(loop: Loop, netns_fd: int | None, host: str, port: int,  # noqa: PLR0917
              timeout: float, done: Done) -> NetProbe:
    """Connect to host:port from the pod's netns; `done` gets the outcome."""
    return TCPConnect(loop, netns_fd, timeout, host, port, keep_socket=False)(done)


# -- httpGet --------------------------------------------------------------------

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Request fields Go writes itself, never from the header map (reqWriteExcludeHeader),
# plus Connection, which the kubelet's DisableKeepAlives pins to "close".
_OWN_HEADERS = frozenset({"Host", "User-Agent", "Content-Length", "Transfer-Encoding",
                          "Trailer", "Connection"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")
_URL_SAFE = "/!$&'()*+,;=:@-._~%"


@frozen
class _URL:
    scheme: str
    netloc: str  # host[:port] as written: what Go sends as Host
    host: str  # without brackets: what the redirect check compares
    port: int
    target: str  # path?query, escaped for the request line

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.target}"

    @classmethod
    def for_probe(cls, scheme: str, host: str, port: int, path: str) -> _URL:
        # The kubelet's formatURL: the path is parsed as a URL, then its
        # scheme and host are replaced by the probe's own.
        parts = urllib.parse.urlsplit(path)
        netloc = _join_host_port(host, port)
        return cls(scheme, netloc, host, port, _target(parts.path, parts.query))

    @classmethod
    def parse(cls, text: str) -> _URL:
        parts = urllib.parse.urlsplit(text)
        netloc = parts.netloc.rpartition("@")[2]
        host, port_text = _split_netloc(netloc)
        if port_text and not port_text.isdigit():
            raise ValueError(f'invalid port ":{port_text}" after host')
        port = int(port_text) if port_text else _DEFAULT_PORTS.get(parts.scheme, 0)
        return cls(parts.scheme, netloc, host, port, _target(parts.path, parts.query))


def _split_netloc(netloc: str) -> tuple[str, str]:
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = netloc.partition(":")
    return host, port


def _target(path: str, query: str) -> str:
    path = urllib.parse.quote(path, safe=_URL_SAFE)
    if not path.startswith("/"):
        path = "/" + path  # Go's URL.String adds it when there is a host
    return path + ("?" + urllib.parse.quote(query, safe=_URL_SAFE + "?") if query else "")


def _canonical(name: str) -> str:
    """Go's CanonicalMIMEHeaderKey: x-custom-header -> X-Custom-Header."""
    if not _TOKEN.fullmatch(name):
        return name  # Go leaves invalid keys alone (and later refuses them)
    return "-".join(word[:1].upper() + word[1:].lower() for word in name.split("-"))


def _check_headers(headers: list[tuple[str, str]]) -> None:
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise _NetError(f'net/http: invalid header field name "{name}"', permanent=True)
        if _BAD_VALUE.search(value):
            raise _NetError(f'net/http: invalid header field value for "{name}"',
                            permanent=True)


def _request_headers(url: _URL, user: tuple[tuple[str, str], ...], host: str | None,
                     referer: str | None) -> list[tuple[str, str]]:
    """The header block Go writes for the kubelet's probe request (request.go)."""
    # Go trims the blanks around what it writes (Header.writeSubset); a control
    # character inside a value survives this and fails _check_headers.
    fields = [(_canonical(name), value.strip(" \t")) for name, value in user]
    first: dict[str, str] = {}
    for name, value in fields:
        first.setdefault(name, value)
    extra = [(name, value) for name, value in fields if name not in _OWN_HEADERS]
    if "Accept" not in first:
        extra.append(("Accept", "*/*"))
    elif first["Accept"] == "":
        extra = [(name, value) for name, value in extra if name != "Accept"]  # empty removes
    if referer is not None:
        extra = [(name, value) for name, value in extra if name != "Referer"]
        extra.append(("Referer", referer))
    extra.sort(key=lambda field: field[0])  # Go writes the map sorted; stable keeps order
    block = [("Host", host or url.netloc)]
    user_agent = first.get("User-Agent", USER_AGENT)
    if user_agent:  # a user-given empty User-Agent means none at all
        block.append(("User-Agent", user_agent))
    return [*block, *extra, ("Connection", "close")]


def _request_bytes(url: _URL, user: tuple[tuple[str, str], ...], host: str | None,
                   referer: str | None) -> bytes:
    """GET url's target, with the header block Go writes (_request_headers), as bytes."""
    headers = _request_headers(url, user, host, referer)
    _check_headers(headers)
    if _BAD_TARGET.search(url.target):  # _target escapes them: a last guard
        raise _NetError(f'net/http: invalid request target "{url.target}"', permanent=True)
    lines = [f"GET {url.target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    # Go writes a string's bytes as they are: UTF-8.
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class HTTPGet(Prepared):
    """An httpGet handler made ready: its URL, its address and the bytes of its
    first request (or the failure each probe will report), worked out once."""

    def __init__(self, loop: Loop, netns_fd: int | None, timeout: float,  # noqa: PLR0917
                 scheme: str, host: str, port: int, path: str,
                 headers: tuple[tuple[str, str], ...], keep_socket: bool) -> None:
        super().__init__(loop, netns_fd, timeout, keep_socket)
        self.url = _URL.for_probe(scheme.lower() or "http", host, port, path)
        self.headers = headers  # the probe's httpHeaders, in order (a name may repeat)
        # The kubelet sets req.Host from the first user Host value, if not
        # empty; Go keeps it across a redirect only when the Location is relative.
        user_host = next((value.strip(" \t") for name, value in headers
                          if _canonical(name) == "Host"), "")
        self.user_host: str | None = user_host or None
        self.tls = self.url.scheme == "https"
        self.server_name = self.url.host if self.tls and _is_name(self.url.host) else None
        self.request = b""
        self.peer: _Peer | None = None
        self.error: _NetError | None = None
        try:
            self.request, self.peer = self.dial_plan(self.url, self.user_host, None)
        except _NetError as exc:
            self.error = exc

    def dial_plan(self, url: _URL, host: str | None, referer: str | None
                  ) -> tuple[bytes, _Peer]:
        """What a request to ``url`` sends, and where."""
        if url.scheme not in _DEFAULT_PORTS:
            raise _NetError(f'unsupported protocol scheme "{url.scheme}"', permanent=True)
        return _request_bytes(url, self.headers, host, referer), _resolve(url.host, url.port)

    def __call__(self, done: Done) -> NetProbe:
        return _HTTPProbe(self, done)

    def resume(self, done: Done, resume: Resume) -> NetProbe:
        return _HTTPProbe(self, done, resume)

    def engine_plan(self) -> tuple[_Peer, bytes] | None:
        # https goes through Python's TLS; a request that cannot be made
        # fails the same way every time, in Python
        if self.tls or self.peer is None:
            return None
        return self.peer, self.request


def prepare_http(loop: Loop, netns_fd: int | None, timeout: float,  # noqa: PLR0917
                 scheme: str, host: str, port: int, path: str,
                 headers: tuple[tuple[str, str], ...], *,
                 engine: Scheduler | None = None) -> HTTPGet:
    """httpGet probes of scheme://host:port/path from the pod's netns, for a
    ProbeWorker (``engine``: see Prepared.engine)."""
    prepared = HTTPGet(loop, netns_fd, timeout, scheme, host, port, path, headers,
                       keep_socket=True)
    prepared.engine = engine
    return prepared


class _HTTPProbe(NetProbe):
    """GET with Go's client rules: same-host redirects, 10 KiB of body (pkg/probe/http)."""

    __slots__ = ("_first", "_get", "_head", "_host", "_reader", "_referer", "_sent", "_url")

    def __init__(self, get: HTTPGet, done: Done, resume: Resume | None = None) -> None:
        self._get = get
        self._first = get.url
        self._url = get.url
        self._host = get.user_host
        self._referer: str | None = None
        self._sent = 0
        self._reader = http1.ResponseReader(MAX_BODY)
        self._head = False  # the current response's head was looked at
        NetProbe.__init__(self, get.loop, get.netns_fd, get.timeout, done, get, resume=resume)

    def _start(self) -> None:
        get = self._get
        if get.error is not None:
            raise _NetError(get.error.text, permanent=True)
        assert get.peer is not None
        self._sent = 1
        self._connect(get.peer, tls=get.tls, tls_server_name=get.server_name, early=get.request)

    def _first_dial(self) -> tuple[_Peer, bytes]:
        get = self._get
        assert get.peer is not None and not get.tls
        self._sent = 1
        return get.peer, get.request

    def _dial(self, url: _URL, request: bytes, peer: _Peer) -> None:
        """The request of a redirect, on a new connection."""
        self._url = url
        self._sent += 1
        self._reader = http1.ResponseReader(MAX_BODY)
        self._head = False
        tls = url.scheme == "https"
        self._connect(peer, tls=tls, tls_server_name=url.host if tls and _is_name(url.host)
                      else None, early=request)

    def _on_data(self, data: bytes) -> None:
        reader = self._reader
        try:
            complete = reader.feed(data)
        except http1.HeadError as exc:
            raise _NetError(f"net/http: HTTP/1.x transport connection broken: {exc}") from exc
        except http1.BodyError as exc:
            raise _BodyError(str(exc)) from exc
        if reader.status and not self._head:
            self._head = True
            if self._on_response() or self._finished:
                return
        if complete:
            self._judge()

    def _on_eof(self) -> None:
        reader = self._reader
        try:
            reader.feed_eof()
        except http1.NoResponse:
            raise _NetError("EOF") from None  # closed before a status line: Go's words
        except http1.HeadError as exc:
            raise _NetError(f"net/http: HTTP/1.x transport connection broken: {exc}") from exc
        except http1.BodyError as exc:
            raise _BodyError(str(exc)) from exc
        self._judge()

    def _on_response(self) -> bool:
        """The head is in: True if that decided the probe (or started a redirect)."""
        reader = self._reader
        status = reader.status
        if status in _REDIRECT_CODES:
            location = reader.header(b"location")
            if location:
                return self._redirect(location.decode("latin-1"))
        elif not 200 <= status < 400:
            self._judge()  # the body is left out of a failure message: no need to read it
            return True
        return False

    def _redirect(self, location: str) -> bool:
        try:
            target = _URL.parse(urllib.parse.urljoin(str(self._url), location))
        except ValueError as exc:
            raise _NetError(f'failed to parse Location header "{location}": {exc}') from exc
        if target.host != self._first.host:
            return False  # http.ErrUseLastResponse: this 3xx is the answer (a Warning)
        if self._sent >= MAX_REDIRECTS:
            # Go's url.Error names the Location here, not the request.
            self._finish(FAILURE, f'Get "{location}": stopped after {MAX_REDIRECTS} redirects')
            return True
        relative = not urllib.parse.urlsplit(location).scheme
        if not (relative and self._host is not None and self._host != self._url.netloc):
            self._host = None
        if not (self._url.scheme == "https" and target.scheme == "http"):
            self._referer = str(self._url)
        self._url = target  # the URL Go names in a failure from here on
        request, peer = self._get.dial_plan(target, self._host, self._referer)
        self._dial(target, request, peer)
        return True

    def _judge(self) -> None:
        reader = self._reader
        status = reader.status
        body = reader.body.decode("utf-8", "replace")
        if 200 <= status < 300:
            self._finish(SUCCESS, body)
        elif 300 <= status < 400:
            self._finish(WARNING, f"Probe terminated redirects, Response body: {body}")
        else:
            self._finish(FAILURE, f"HTTP probe failed with statuscode: {status}")

    def _on_error(self, exc: _NetError) -> None:
        if isinstance(exc, _BodyError):
            self._finish(FAILURE, exc.text)
        else:
            self._finish(FAILURE, f'Get "{self._url}": {exc.text}')

    def _timeout_message(self) -> str:
        if self._state in (_IDLE, _DIALING):
            dial = self._dial_text(self._url.host, self._url.port)
            return (f'Get "{self._url}": dial tcp {dial}: i/o timeout '
                    "(Client.Timeout exceeded while awaiting headers)")
        if not self._reader.status:
            return (f'Get "{self._url}": context deadline exceeded '
                    "(Client.Timeout exceeded while awaiting headers)")
        return ("context deadline exceeded "
                "(Client.Timeout or context cancellation while reading body)")


def _is_name(host: str) -> bool:
    try:
        socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        return True
    return False


def http_probe(loop: Loop, netns_fd: int | None, scheme: str,  # noqa: PLR0917
               host: str, port: int, path: str, headers: tuple[tuple[str, str], ...],
               timeout: float, done: Done) -> NetProbe:
    """GET scheme://host:port/path from the pod's netns; `done` gets the outcome.

    ``headers`` are the probe's httpHeaders, in order (a name may repeat).
    """
    return HTTPGet(loop, netns_fd, timeout, scheme, host, port, path, headers,
                   keep_socket=False)(done)


# -- grpc -----------------------------------------------------------------------

_CHECK_PATH = b"/grpc.health.v1.Health/Check"
_SERVING_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
_SERVING = 1
_CODE_NAMES = ("OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
               "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
               "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
               "Unauthenticated")
_UNKNOWN, _DEADLINE_EXCEEDED, _UNIMPLEMENTED, _INTERNAL, _UNAVAILABLE = 2, 4, 12, 13, 14
# grpc-go's mapping of a non-200 HTTP status (HTTP status codes, gRPC doc).
_HTTP_TO_GRPC = {400: _INTERNAL, 401: 16, 403: 7, 404: _UNIMPLEMENTED, 429: _UNAVAILABLE,
                 502: _UNAVAILABLE, 503: _UNAVAILABLE, 504: _UNAVAILABLE}
# grpc-go's mapping of RST_STREAM error codes.
_RST_TO_GRPC = {8: 1, 7: _UNAVAILABLE, 11: 8, 12: 7}
# grpc-go's reconnect backoff (connection-backoff.md): 1 s, x1.6, +-20 %, at most 120 s.
_BACKOFF_BASE, _BACKOFF_FACTOR, _BACKOFF_JITTER, _BACKOFF_MAX = 1.0, 1.6, 0.2, 120.0


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _health_request(service: str) -> bytes:
    """A length-prefixed HealthCheckRequest{service}, protobuf by hand (field 1, bytes)."""
    raw = service.encode()
    message = b"\x0a" + _varint(len(raw)) + raw if raw else b""  # proto3 omits ""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _health_status(payload: bytes) -> int:
    """HealthCheckResponse.status (field 1, varint) from one gRPC message."""
    if len(payload) < 5 or payload[0] != 0:
        raise ValueError("not one uncompressed gRPC message")
    message = payload[5:5 + int.from_bytes(payload[1:5], "big")]
    status, pos = 0, 0
    while pos < len(message):
        key, pos = _read_varint(message, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(message, pos)
            if field == 1:
                status = value
        elif wire == 2:
            size, pos = _read_varint(message, pos)
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"wire type {wire}")
    return status


class _GRPCProbe(NetProbe):
    """grpc.health.v1.Health/Check over plaintext HTTP/2 (pkg/probe/grpc).

    Like grpc-go's blocking dial, a connection that fails before the server's
    SETTINGS arrive is retried with backoff until the deadline; the RPC is sent
    only once the connection is ready.
    """

    __slots__ = ("_addr", "_backoff", "_h2", "_headers", "_host", "_payload", "_port", "_ready",
                 "_service", "_stream_id")

    def __init__(self, loop: Loop, netns_fd: int | None, *, host: str, port: int,
                 service: str, timeout: float, done: Done) -> None:
        self._host, self._port, self._service = host, port, service
        self._addr = _join_host_port(host, port)
        self._ready = False
        self._backoff = _BACKOFF_BASE
        self._h2 = self._new_h2()
        self._stream_id = 0
        self._headers: dict[bytes, bytes] = {}
        self._payload = bytearray()
        super().__init__(loop, netns_fd, timeout, done)

    @staticmethod
    def _new_h2() -> h2.connection.H2Connection:
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        return h2.connection.H2Connection(config=config)

    def _start(self) -> None:
        self._h2 = self._new_h2()
        self._connect(_resolve(self._host, self._port))

    def _on_open(self) -> None:
        self._h2.initiate_connection()  # the client preface and our SETTINGS
        self._send(self._h2.data_to_send())

    def _on_data(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            raise _NetError(f"http2: {exc}") from exc
        for event in events:
            self._on_h2_event(event)
            if self._finished or self._fd < 0:
                return
        self._send(self._h2.data_to_send())

    def _on_h2_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged) and not self._ready:
            self._ready = True  # grpc-go's READY: the server preface arrived
            self._send_check()
        elif isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
            self._headers.update((bytes(k), bytes(v)) for k, v in event.headers or ())
        elif isinstance(event, h2.events.DataReceived) and event.data:
            self._payload += event.data
            self._h2.acknowledge_received_data(event.flow_controlled_length, self._stream_id)
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id == self._stream_id:
            self._judge()
        elif isinstance(event, h2.events.StreamReset) and event.stream_id == self._stream_id:
            code = int(event.error_code or 0)
            self._rpc_failed(_RST_TO_GRPC.get(code, _INTERNAL),
                             f"stream terminated by RST_STREAM with error code: {_h2_error(code)}")
        elif isinstance(event, h2.events.ConnectionTerminated):
            raise _NetError("the connection is draining (GOAWAY)")

    def _send_check(self) -> None:
        self._stream_id = self._h2.get_next_available_stream_id()
        remaining = max(0.001, self._deadline.when - self._loop.clock.now())
        headers = [
            (b":method", b"POST"), (b":scheme", b"http"), (b":path", _CHECK_PATH),
            (b":authority", self._addr.encode()), (b"content-type", b"application/grpc"),
            (b"user-agent", USER_AGENT.encode()), (b"te", b"trailers"),
            (b"grpc-timeout", f"{max(1, int(remaining * 1000))}m".encode()),
        ]
        self._h2.send_headers(self._stream_id, headers)
        self._h2.send_data(self._stream_id, _health_request(self._service), end_stream=True)

    def _judge(self) -> None:
        http_status = self._headers.get(b":status", b"")
        if http_status != b"200":
            code = int(http_status) if http_status.isdigit() else 0
            phrase = _http_phrase(code)
            self._rpc_failed(_HTTP_TO_GRPC.get(code, _UNKNOWN), "unexpected HTTP status code "
                             f"received from server: {code} ({phrase})")
            return
        grpc_status = self._headers.get(b"grpc-status")
        if grpc_status is None or not grpc_status.isdigit():
            self._rpc_failed(_INTERNAL, "server closed the stream without sending trailers")
            return
        if int(grpc_status) != 0:
            message = urllib.parse.unquote(self._headers.get(b"grpc-message", b"").decode())
            self._rpc_failed(int(grpc_status), message)
            return
        self._judge_health()

    def _judge_health(self) -> None:
        try:
            status = _health_status(bytes(self._payload))
        except ValueError as exc:
            self._rpc_failed(_INTERNAL, f"grpc: failed to unmarshal the received message: {exc}")
            return
        if status == _SERVING:
            self._finish(SUCCESS, "service healthy")
        else:
            name = _SERVING_NAMES.get(status, str(status))
            self._finish(FAILURE, f'service unhealthy (responded with "{name}")')

    def _rpc_failed(self, code: int, message: str) -> None:
        if code == _UNIMPLEMENTED:
            self._finish(FAILURE, "error: this server does not implement the grpc health "
                         f"protocol (grpc.health.v1.Health): {message}")
        elif code == _DEADLINE_EXCEEDED:
            self._finish(FAILURE, "timeout: health rpc did not complete within "
                         f"{go_duration(self._timeout)}")
        else:
            name = _CODE_NAMES[code] if 0 <= code < len(_CODE_NAMES) else f"Code({code})"
            self._finish(FAILURE, "error: health rpc probe failed: rpc error: "
                         f"code = {name} desc = {message}")

    def _on_error(self, exc: _NetError) -> None:
        if self._ready:
            self._rpc_failed(_UNAVAILABLE, f"error reading from server: {exc.text}")
        elif exc.permanent:
            self._finish(FAILURE, f'error: failed to connect service at "{self._addr}": {exc.text}')
        else:
            self._redial_later()

    def _redial_later(self) -> None:
        self._close()
        jitter = random.uniform(1 - _BACKOFF_JITTER, 1 + _BACKOFF_JITTER)
        delay, self._backoff = (self._backoff * jitter,
                                min(self._backoff * _BACKOFF_FACTOR, _BACKOFF_MAX))
        self._later = self._loop.call_later(delay, lambda: self._run(self._start))

    def _timeout_message(self) -> str:
        if not self._ready:
            return (f'timeout: failed to connect service "{self._addr}" within '
                    f"{go_duration(self._timeout)}: context deadline exceeded")
        return f"timeout: health rpc did not complete within {go_duration(self._timeout)}"


def _http_phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _h2_error(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"unknown error code {code:#x}"


def grpc_probe(loop: Loop, netns_fd: int | None, host: str, port: int,  # noqa: PLR0917
               service: str, timeout: float, done: Done) -> NetProbe:
    """grpc.health.v1.Health/Check(service) on host:port from the pod's netns."""
    return _GRPCProbe(loop, netns_fd, host=host, port=port, service=service,
                      timeout=timeout, done=done)


__all__ = ["FAILURE", "SUCCESS", "WARNING", "HTTPGet", "NetProbe", "NetnsStuckError", "Outcome",
           "Prepared", "TCPConnect", "go_duration", "grpc_probe", "http_probe", "prepare_http",
           "prepare_tcp", "tcp_probe"]
