"""Probe and lifecycle-hook handlers of the spec, made runnable.

A handler (exec, httpGet, tcpSocket, grpc, sleep) becomes a call that starts
it in the supervisor's loop and calls back once with an Outcome. exec runs
inside the container (execprobe); the network handlers are made by the
supervisor itself from inside the pod's network namespace (netprobe). The
pod has no IP of its own, so the default host is the pod's loopback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from minipod.api.expand import expand
from minipod.api.model import ExecAction, GRPCAction, HTTPGetAction, TCPSocketAction
from minipod.loop.eventloop import Loop
from minipod.probes import execprobe
from minipod.probes.execprobe import ExecResult, ExecTarget, Watch
from minipod.probes.net import engine, netprobe
from minipod.probes.worker import ERROR, FAILURE, SUCCESS, InFlight, Outcome

POD_LOOPBACK = "127.0.0.1"  # where the kubelet would use the pod IP

Handler = ExecAction | HTTPGetAction | TCPSocketAction | GRPCAction


@dataclass
class HandlerContext:
    """What a handler of one container run needs to reach it."""

    loop: Loop
    watch: Watch
    target: ExecTarget | None  # None until the container runs (exec needs it)
    netns_fd: int
    ports: dict[str, int]  # named container ports
    static_env: dict[str, str]  # the container's own env, for $(VAR) in commands


class _Done:
    """An InFlight for a handler that finished (or failed) before it began."""

    def __init__(self, loop: Loop, outcome: Outcome, done: Callable[[Outcome], None]) -> None:
        self._deadline = loop.call_later(0, lambda: done(outcome))

    def cancel(self) -> None:
        self._deadline.cancel()


class _Sleep:
    def __init__(self, loop: Loop, seconds: float, done: Callable[[Outcome], None]) -> None:
        self._deadline = loop.call_later(seconds, lambda: done(Outcome(SUCCESS)))

    def cancel(self) -> None:
        self._deadline.cancel()


def start_handler(ctx: HandlerContext, handler: Handler, timeout: float | None,
                  done: Callable[[Outcome], None], *, hook: bool = False) -> InFlight:
    """Start ``handler``; ``done`` gets its Outcome once, from the loop.
    Probe commands get $(VAR) expansion; hook commands run as written, as the
    kubelet's handler runner does."""
    if isinstance(handler, ExecAction):
        argv = handler.command if hook else exec_argv(ctx, handler)
        return _start_exec(ctx, argv, timeout, done)
    limit = 3600.0 if timeout is None else timeout  # hooks have no timeout of their own
    if isinstance(handler, HTTPGetAction):
        host = handler.host or POD_LOOPBACK
        headers = tuple((h.name, h.value) for h in handler.http_headers)
        return netprobe.http_probe(ctx.loop, ctx.netns_fd, handler.scheme.lower(), host,
                                   _port(ctx, handler.port), handler.path, headers, limit, done)
    if isinstance(handler, TCPSocketAction):
        return netprobe.tcp_probe(ctx.loop, ctx.netns_fd, handler.host or POD_LOOPBACK,
                                  _port(ctx, handler.port), limit, done)
    return netprobe.grpc_probe(ctx.loop, ctx.netns_fd, POD_LOOPBACK, handler.port,
                               handler.service, limit, done)


def network_prober(ctx: HandlerContext, handler: Handler, timeout: float
                   ) -> netprobe.Prepared | None:
    """A probe's httpGet or tcpSocket handler made ready once, for every probe
    of one container run: the URL, the address, the request's bytes, and a
    socket kept from one probe to the next (the worker closes it when it
    stops). None for the others (exec needs the container's current target
    each time)."""
    if isinstance(handler, HTTPGetAction):
        host = handler.host or POD_LOOPBACK
        headers = tuple((h.name, h.value) for h in handler.http_headers)
        return netprobe.prepare_http(ctx.loop, ctx.netns_fd, timeout, handler.scheme.lower(),
                                     host, _port(ctx, handler.port), handler.path, headers,
                                     engine=engine.schedule)
    if isinstance(handler, TCPSocketAction):
        return netprobe.prepare_tcp(ctx.loop, ctx.netns_fd, timeout,
                                    handler.host or POD_LOOPBACK, _port(ctx, handler.port),
                                    engine=engine.schedule)
    return None


def start_sleep(loop: Loop, seconds: float, done: Callable[[Outcome], None]) -> InFlight:
    return _Sleep(loop, seconds, done)


def _port(ctx: HandlerContext, port: int | str) -> int:
    # Names were checked against the container's ports when the manifest was read.
    return port if isinstance(port, int) else ctx.ports[port]


def exec_argv(ctx: HandlerContext, action: ExecAction) -> tuple[str, ...]:
    # ExpandContainerCommandOnlyStatic: only the container's own env entries.
    return tuple(expand(arg, ctx.static_env) for arg in action.command)


def _start_exec(ctx: HandlerContext, argv: tuple[str, ...], timeout: float | None,
                done: Callable[[Outcome], None]) -> InFlight:
    if ctx.target is None:
        return _Done(ctx.loop, Outcome(ERROR, "container is not running"), done)
    # exec_in reports a command that could not start through done (error=...).
    return execprobe.exec_in(ctx.loop, ctx.watch, ctx.target, argv, timeout,
                             lambda result: done(exec_outcome(argv, result)))


def exec_outcome(argv: tuple[str, ...], result: ExecResult) -> Outcome:
    """exec.go: exit 0 passes, anything else fails; a timeout fails (ExecProbeTimeout)."""
    if result.timed_out:
        return Outcome(FAILURE, f"command {_quoted(argv)} timed out")
    if result.error is not None:
        return Outcome(ERROR, result.error)
    if result.exit_code == 0:
        return Outcome(SUCCESS, result.output)
    return Outcome(FAILURE, result.output or f"command {_quoted(argv)} exited with "
                   f"{result.exit_code}")


def _quoted(argv: tuple[str, ...]) -> str:
    # Go's %q of strings.Join(cmd, " "), as the kubelet prints a command
    return json.dumps(" ".join(argv))


__all__ = ["HandlerContext", "exec_outcome", "network_prober", "start_handler", "start_sleep"]
