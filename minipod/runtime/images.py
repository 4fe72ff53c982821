"""Images for pods: every container's image found (or marked to be pulled)
before anything of a pod is created, all bad references reported together
(the service `up`, the daemon's apply, the workload controllers and
adoption share it); and the supervisor's puller.

A pull never runs in the supervisor's loop: each reference is pulled by a
child process (`minipod image pull --result-json REF`, kernel/pull.py)
watched through its pidfd like any container, its one line of JSON read
from a pipe registered with the loop. A child rather than a thread: the
loop stays single-threaded (setns, the vfork-style container starts and
pyroute2's fork mode want no other thread), an unpack is Python work that
would hold the GIL against probes and restarts for seconds, and a child is
killed and reaped like everything else at shutdown, its memory returned.
Waiters for the same reference share one pull.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from minipod.api import imageref, pullsecrets
from minipod.api.downward import Lookup
from minipod.api.errors import FieldError, ImageError
from minipod.api.frozen import frozen
from minipod.api.model import ConfigData, Pod, Workload
from minipod.api.workloads import build_pod
from minipod.kernel.image import Image, lookup
from minipod.kernel.pull import spawn_pull
from minipod.kernel.spawn import Child, ExitStatus
from minipod.loop.eventloop import Loop

log = logging.getLogger(__name__)


def resolve_images(pods: list[Pod], source: str) -> dict[str, dict[str, Image | None]]:
    """Every container's stored image, or None where it is not stored yet
    (the pod pulls it, as its imagePullPolicy says); ImageError lists every
    reference that is not one."""
    images: dict[str, dict[str, Image | None]] = {}
    errors: list[FieldError] = []
    for pod in pods:
        found = images[f"{pod.namespace}/{pod.name}"] = {}
        for kind, containers in (("initContainers", pod.spec.init_containers),
                                 ("containers", pod.spec.containers)):
            for i, container in enumerate(containers):
                path = f"spec.{kind}[{i}].image"
                try:
                    found[container.name] = lookup(container.image, path)
                except ImageError as e:
                    errors.extend(e.errors)
    if errors:
        raise ImageError(errors, source)
    return images


def missing_images(pods: list[Pod], images: dict[str, dict[str, Image | None]]
                   ) -> list[tuple[str, str, str]]:
    """(field path, reference, pull policy) of each container whose image is
    not stored: `validate` and `up` warn of them."""
    missing = []
    for pod in pods:
        found = images.get(f"{pod.namespace}/{pod.name}", {})
        for kind, containers in (("initContainers", pod.spec.init_containers),
                                 ("containers", pod.spec.containers)):
            for i, container in enumerate(containers):
                if found.get(container.name) is None:
                    missing.append((f"pod/{pod.name}: spec.{kind}[{i}].image",
                                    container.image, container.image_pull_policy))
    return missing


def template_pod(workload: Workload) -> Pod:
    """A stand-in pod of a workload's template, to resolve its images early."""
    return build_pod(workload, f"{workload.name}-template")


@dataclass
class PullOutcome:
    ok: bool
    error: str = ""
    seconds: float = 0.0  # the pull itself
    waited: float = 0.0  # since this waiter asked (kubelet: "including waiting")
    size: int = 0
    result: dict[str, Any] = field(default_factory=dict)


PullDone = Callable[[PullOutcome], None]


class PullerHost(Protocol):
    """What the puller needs of the supervisor (Supervisor is one)."""

    loop: Loop

    def watch(self, child: Child, on_exit: Callable[[ExitStatus], None]) -> None: ...
    def unwatch(self, child: Child) -> None: ...


@dataclass
class _Pull:
    child: Child
    stdout: int
    started: float
    out: bytearray = field(default_factory=bytearray)
    waiters: list[tuple[PullDone, float]] = field(default_factory=list)


@frozen
class PullAuth:
    """What a pod's imagePullSecrets give one pull."""

    config: bytes | None = None  # a docker config.json; None: the host's credentials
    missing: tuple[str, ...] = ()  # Secrets that are not there (a warning)
    error: str = ""  # a Secret the kubelet could not read: the pull fails with this


def pull_auth(pod: Pod, reference: str, lookup: Lookup) -> PullAuth:
    """The credentials the kubelet pulls ``reference`` with for ``pod``: its
    imagePullSecrets' (api/pullsecrets.py), else the host's (skopeo's own
    search of docker config.json files, as the kubelet's node keyring).

    The kubelet tries every credential that matches, in turn, until one
    pulls; minipod pulls with the first (the most specific key, then the
    order of imagePullSecrets): README, deliberate differences."""
    missing: list[str] = []
    secrets: list[ConfigData] = []
    for name in pod.spec.image_pull_secrets:
        secret = lookup("Secret", pod.namespace, name)
        if secret is None:
            missing.append(name)
        else:
            secrets.append(secret)
    try:
        ref = imageref.parse(reference)
        found = pullsecrets.lookup(pullsecrets.keyring(secrets), ref)
    except (imageref.ReferenceError, pullsecrets.PullSecretError) as e:
        return PullAuth(missing=tuple(missing), error=str(e))
    if not found:
        return PullAuth(missing=tuple(missing))
    return PullAuth(pullsecrets.auth_config(found[0], ref.domain), tuple(missing))


class Puller:
    """One pull child per (reference, credentials) at a time; waiters share it."""

    def __init__(self, host: PullerHost,
                 spawn: Callable[[str, bytes | None], tuple[Child, int]] = spawn_pull) -> None:
        self.host = host
        self.spawn = spawn
        self.pulls: dict[tuple[str, str | None], _Pull] = {}

    def pull(self, reference: str, done: PullDone, auth: bytes | None = None
             ) -> Callable[[], None]:
        """Pull ``reference`` (with the docker config.json ``auth``, else the
        host's credentials); ``done`` is called from the loop. Returns a
        cancel function (the pull goes on for its other waiters)."""
        now = self.host.loop.clock.now()
        # pulls with other credentials are other pulls (one may be refused)
        key = (reference, hashlib.sha256(auth).hexdigest() if auth is not None else None)
        entry = self.pulls.get(key)
        if entry is None:
            try:
                child, stdout = self.spawn(reference, auth)
            except OSError as e:
                outcome = PullOutcome(False, f"could not start the pull: {e}")
                self.host.loop.call_later(0, lambda: done(outcome))
                return lambda: None
            entry = self.pulls[key] = _Pull(child, stdout, now)
            self.host.loop.register(stdout, lambda _ev: self._read(entry))
            self.host.watch(child, lambda status: self._exited(key, entry, status))
        waiter = (done, now)
        entry.waiters.append(waiter)

        def cancel() -> None:
            with contextlib.suppress(ValueError):
                entry.waiters.remove(waiter)

        return cancel

    def _read(self, entry: _Pull) -> None:
        while True:
            try:
                chunk = os.read(entry.stdout, 65536)
            except BlockingIOError:
                return
            if not chunk:
                self.host.loop.unregister(entry.stdout)
                return
            entry.out += chunk

    def _exited(self, key: tuple[str, str | None], entry: _Pull, status: ExitStatus) -> None:
        self._read(entry)
        self.host.loop.unregister(entry.stdout)
        os.close(entry.stdout)
        os.close(entry.child.pidfd)
        entry.child.pidfd = -1
        self.pulls.pop(key, None)
        now = self.host.loop.clock.now()
        outcome = _outcome(bytes(entry.out), status)
        outcome.seconds = now - entry.started
        for done, asked in entry.waiters:
            mine = PullOutcome(outcome.ok, outcome.error, outcome.seconds, now - asked,
                               outcome.size, outcome.result)
            done(mine)

    def close(self) -> None:
        """Kill every pull in flight and reap it (shutdown: nothing is left)."""
        for entry in list(self.pulls.values()):
            self.host.unwatch(entry.child)
            self.host.loop.unregister(entry.stdout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(entry.child.pid, signal.SIGKILL)  # its skopeo too
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PIDFD, entry.child.pidfd, os.WEXITED)
            os.close(entry.child.pidfd)
            os.close(entry.stdout)
        self.pulls.clear()


def _outcome(out: bytes, status: ExitStatus) -> PullOutcome:
    line = out.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    try:
        result = json.loads(line[0])
    except ValueError:
        result = None
    if isinstance(result, dict) and result.get("ok"):
        return PullOutcome(True, size=int(result.get("size", 0)), result=result)
    if isinstance(result, dict) and result.get("error"):
        return PullOutcome(False, str(result["error"]))
    how = f"signal {status.signal}" if status.signal else f"exit code {status.exit_code}"
    return PullOutcome(False, f"the pull ended with {how} and said nothing")
