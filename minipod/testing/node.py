"""A Node: a private minipod (state, images, logs, supervisor) for tests.

    with Node() as node:
        web = node.create_pod(build.pod(build.shell("app", "echo hi; sleep 3600")))
        web.wait_log("hi")
        assert web.exec("hostname").stdout.strip() == web.name

Its supervisor is server/daemon.py's background supervisor, run by
testing/daemon.py as this process's child (a fresh interpreter, its output
in <root>/supervisors/daemon.log): pods are made by the same code that
serves `minipod up -d`, and every `minipod` command with this node's
MINIPOD_ROOT reaches it. Why a child daemon rather than a supervisor inside
the test process: a supervisor is a child subreaper that reaps every child
of its process (it would take the test's own subprocesses' exit statuses),
owns SIGCHLD, SIGINT and SIGTERM, and would die with a test process killed
outright, leaving its pods to nobody; the child daemon costs one start of
an interpreter per node (about 0.2 s, paid once per test session by the
pytest plugin), then each request is one line on a unix socket, and it is
sent SIGTERM by the kernel if the test process dies (PR_SET_PDEATHSIG), which
stops every pod it has. It was also preferred to forking the test process
(what `minipod up -d` does): a fork would carry the test process's open
files and threads (pytest's faulthandler watchdog) into a long-lived daemon.

Everything a node makes through ``apply`` is tracked (every object its
manifest names, before it is sent, so an apply that fails half-way is
cleaned up too) and deleted by ``cleanup``, by the end of a ``scope``, and
by ``close``; ``leaks`` then says what is left on the host (leaks.py).

The paths of a node are given to its supervisor and to every command in
their environment; the few calls made in this process that read
MINIPOD_ROOT or MINIPOD_IMAGES (exec, ConfigMaps, the busybox build) get
them for their duration only (``NodeCore.environ``), so two nodes can be
open in one process. That makes a Node a thing of one thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from minipod.api.errors import MinipodError, SpecError
from minipod.api.manifest import parse_objects
from minipod.kernel.cgroups import QOS_DIRS
from minipod.kernel.delegation import in_delegated_cgroup
from minipod.kernel.image import build_busybox, lookup
from minipod.kernel.state import ensure_dir
from minipod.server import systemd
from minipod.testing.leaks import (
    LeakTracker,
    cgroup_bases,
    cgroups_below,
    entries,
    mounts_under,
    state_left,
)
from minipod.testing.network import NetworkNamespace
from minipod.testing.objects import (
    Config,
    Handle,
    Json,
    NodeCore,
    Pod,
    Service,
    Workload,
)

Manifest = str | Path | Json | Sequence[Json]
DAEMON_START_TIMEOUT = 30.0  # seconds
SOCKET_PATH_MAX = 107  # bytes: sockaddr_un's sun_path, less its NUL
DAEMON_STOP_TIMEOUT = 120.0  # seconds: its pods' grace periods, then the sandboxes


class Applied(list[Handle]):
    """The objects one apply named (handles), with the supervisor's lines."""

    said: list[str]

    def __init__(self, handles: list[Handle], said: list[str]) -> None:
        super().__init__(handles)
        self.said = said

    @property
    def pods(self) -> list[Pod]:
        return [h for h in self if isinstance(h, Pod)]

    @property
    def pod(self) -> Pod:
        """The one pod of the manifest."""
        if len(self.pods) != 1:
            raise ValueError(f"the manifest has {len(self.pods)} pods, not one")
        return self.pods[0]

    @property
    def workloads(self) -> list[Workload]:
        return [h for h in self if isinstance(h, Workload)]

    @property
    def services(self) -> list[Service]:
        return [h for h in self if isinstance(h, Service)]

    @property
    def configs(self) -> list[Config]:
        return [h for h in self if isinstance(h, Config)]


def manifest_text(manifest: Manifest) -> tuple[str, str]:
    """(text, source) of a manifest given as YAML or JSON text, a file, an
    API object (dict) or a list of them."""
    if isinstance(manifest, Path):
        return manifest.read_text(), str(manifest)
    if isinstance(manifest, str):
        if "\n" not in manifest and manifest.endswith((".yaml", ".yml", ".json")):
            return Path(manifest).read_text(), manifest
        return manifest, "<manifest>"
    if isinstance(manifest, dict):
        return json.dumps(manifest), "<manifest>"
    return "---\n".join(json.dumps(doc) + "\n" for doc in manifest), "<manifest>"


class Node:
    """A private minipod: its state directory, image store, logs, cgroup root
    and supervisor. ``root``, ``images``, ``logs``: directories to use
    (default: new ones in a temporary directory, removed by ``close``).
    ``netns``: run the supervisor in that network namespace with the pod
    network on (Services need it); without one, pods have loopback only.
    ``busybox``: build the busybox image into the store if it has none.
    ``env``: more environment for the supervisor (MINIPOD_* settings)."""

    def __init__(self, root: Path | str | None = None, images: Path | str | None = None,
                 logs: Path | str | None = None, *, netns: NetworkNamespace | None = None,
                 busybox: bool = True, env: dict[str, str] | None = None) -> None:
        self._made: Path | None = None
        if root is None or images is None or logs is None:
            self._made = Path(tempfile.mkdtemp(prefix="minipod-node-"))
        self.root = self._pick(root, "state")
        self.images = self._pick(images, "images")
        self.logs = self._pick(logs, "logs")
        self.netns = netns
        self.busybox = busybox
        # the pods' cgroups go below a cgroup of this name (a node's own)
        self.cgroup_root = f"minipod-test-{uuid.uuid4().hex[:8]}"
        self.env = {"MINIPOD_ROOT": str(self.root), "MINIPOD_IMAGES": str(self.images),
                    "MINIPOD_LOGS": str(self.logs), "MINIPOD_CGROUP_ROOT": self.cgroup_root,
                    "MINIPOD_POD_NETWORK": "bridge" if netns is not None else "none",
                    **(env or {})}
        self.core = NodeCore(self.root, self.logs, dict(self.env), LeakTracker())
        self._daemon: subprocess.Popen[bytes] | None = None
        self._scopes: list[list[Handle]] = [[]]
        self._supervisor_cgroups = ""  # its /proc/PID/cgroup, as seen

    def _pick(self, given: Path | str | None, name: str) -> Path:
        if given is not None:
            return Path(given)
        assert self._made is not None
        return self._made / name

    def __repr__(self) -> str:
        return f"<Node {self.root}{' in netns ' + self.netns.name if self.netns else ''}>"

    # -- life ----------------------------------------------------------------------
    def start(self) -> Node:
        """Make the directories, the busybox image if needed, and start the
        supervisor. MinipodError, with what it said, if it does not start."""
        if os.geteuid() != 0:
            raise MinipodError("a minipod Node needs root (namespaces, mounts)")
        if len(os.fsencode(self.core.socket)) > SOCKET_PATH_MAX:
            raise MinipodError(f"the node's root {self.root} is too deep: its supervisor's "
                               f"socket {self.core.socket} would be longer than the "
                               f"{SOCKET_PATH_MAX} bytes of a unix socket's path")
        for directory in (self.root, self.images, self.logs):
            ensure_dir(directory)
        if self.busybox:
            with self.core.environ():
                if lookup("busybox") is None:
                    build_busybox()
        self._start_daemon()
        return self

    def __enter__(self) -> Node:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _start_daemon(self) -> None:
        supervisors = ensure_dir(self.root / "supervisors")
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        argv = [sys.executable, "-m", "minipod.testing.daemon", "--ready-fd", str(ready_w),
                "--parent", str(os.getpid())]
        if self.netns is not None:
            argv += ["--netns", str(self.netns.path)]
        argv = self._in_delegated_scope(argv)
        try:
            with open(supervisors / "daemon.log", "ab") as log:
                # cwd /: the installed minipod, never a source tree beside the test
                self._daemon = subprocess.Popen(
                    argv, env={**os.environ, **self.env}, cwd="/", stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, pass_fds=(ready_w,),
                    start_new_session=True)  # a Ctrl-C at the terminal is the test's to handle
        finally:
            os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready:
            said = ready.read().decode(errors="replace")
        if said != "ready":
            self._stop_daemon()
            raise MinipodError(f"the node's supervisor did not start: {said.strip()} "
                               f"{self.daemon_log()[-2000:]}")
        deadline = time.monotonic() + DAEMON_START_TIMEOUT
        while not self.core.socket.exists():  # bound before "ready": never taken
            if time.monotonic() > deadline:
                raise MinipodError(f"no supervisor socket at {self.core.socket}")
            time.sleep(0.01)
        self._note_supervisor_cgroup()

    def _in_delegated_scope(self, argv: list[str]) -> list[str]:
        """Under systemd, cgroups may only be made below a cgroup it
        delegated: the supervisor runs in a transient scope of its own with
        Delegate=yes, as a foreground `minipod up` does (server/systemd.py).
        `systemd-run --scope` execs the command in place: the same pid, still
        the test's child, the ready pipe kept. Elsewhere, as it is."""
        if not systemd.running() or in_delegated_cgroup():
            return argv
        unit = f"minipod-node-{self.cgroup_root.removeprefix('minipod-test-')}-{os.getpid()}"
        return ["systemd-run", "--scope", "--quiet", "--collect", f"--unit={unit}",
                f"--description=minipod test node {self.root}", "-p", "Delegate=yes",
                "--", *argv]

    @property
    def daemon_pid(self) -> int | None:
        return self._daemon.pid if self._daemon is not None else None

    def daemon_log(self) -> str:
        try:
            return (self.root / "supervisors" / "daemon.log").read_text(errors="replace")
        except OSError:
            return ""

    def _stop_daemon(self) -> None:
        daemon, self._daemon = self._daemon, None
        if daemon is None:
            return
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)  # it stops what is left, then exits
            try:
                daemon.wait(DAEMON_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()

    def close(self) -> None:
        """Delete everything tracked, stop the supervisor (which stops what
        else it runs), and remove the directories the node made itself."""
        try:
            with contextlib.suppress(OSError, MinipodError):  # a supervisor gone: SIGTERM below
                self.cleanup()
        finally:
            self._stop_daemon()
            if self._made is not None and not mounts_under(self._made):
                shutil.rmtree(self._made, ignore_errors=True)
                self._made = None

    # -- objects ------------------------------------------------------------------
    def apply(self, *manifests: Manifest, backoff: str | None = None) -> Applied:
        """Create (or update) the objects of ``manifests``, as `minipod apply`:
        validated here first (SpecError, nothing created), then started by
        the supervisor, which answers once the pods are created. ``backoff``:
        CrashLoopBackOff's INITIAL:MAX ("0:0" turns it off). Every object
        named is tracked, even if the supervisor refuses."""
        texts = [manifest_text(m) for m in manifests]
        text = "---\n".join(t if t.endswith("\n") else t + "\n" for t, _ in texts)
        source = ", ".join(s for _, s in texts)
        parsed = parse_objects(text, source)
        handles: list[Handle] = [
            *(Config(self.core, c.kind, c.name, c.namespace) for c in parsed.configs),
            *(Service(self.core, s.name, s.namespace) for s in parsed.services),
            *(Pod(self.core, p.name, p.namespace) for p in parsed.pods),
            *(Workload(self.core, w.kind, w.name, w.namespace) for w in parsed.workloads)]
        self._scopes[-1].extend(handles)
        answer = self.core.request({"op": "apply", "text": text, "source": source,
                                    "backoff": backoff}, timeout=120)
        if not answer.get("ok"):
            error = str(answer.get("error", "the supervisor refused"))
            raise SpecError(error) if answer.get("code") == 2 else MinipodError(error)
        return Applied(handles, [str(line) for line in answer.get("said", [])])

    def create_pod(self, manifest: Manifest, *, ready: bool = False,
                   timeout: float = 30.0) -> Pod:
        """apply() of a manifest of one pod; its handle (``ready``: once Ready)."""
        found = self.apply(manifest).pod
        if ready:
            found.wait_ready(timeout)
        return found

    def pod(self, name: str, namespace: str = "default") -> Pod:
        """A handle on a pod by name (not tracked: a workload's pod, say)."""
        return Pod(self.core, name, namespace)

    def pods(self, namespace: str | None = None) -> list[Pod]:
        """Every pod the node has now."""
        found = []
        for entry in entries(self.root / "pods"):
            ns, _, name = entry.partition("_")
            if namespace is None or ns == namespace:
                found.append(Pod(self.core, name, ns))
        return found

    def track(self, handle: Handle) -> Handle:
        """Have ``handle`` deleted with the current scope."""
        self._scopes[-1].append(handle)
        return handle

    def cleanup(self) -> None:
        """Delete what the current scope tracks, newest first: workloads (and
        their pods), pods, Services, ConfigMaps and Secrets."""
        tracked = self._scopes[-1]
        order = {Workload: 0, Pod: 1, Service: 2, Config: 3}
        errors = []
        newest_first = tracked[::-1]
        for handle in sorted(newest_first, key=lambda h: order[type(h)]):
            try:
                handle.delete()
            except (OSError, MinipodError) as e:
                errors.append(f"{handle!r}: {e}")
        tracked.clear()
        if errors:
            raise MinipodError("cleanup failed: " + "; ".join(errors))

    @contextlib.contextmanager
    def scope(self) -> Iterator[Node]:
        """What is applied inside is deleted at its end, exception or not."""
        self._scopes.append([])
        try:
            yield self
        finally:
            try:
                self.cleanup()
            finally:
                self._scopes.pop()

    # -- the host ------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """`minipod ARGS...` against this node (in its network namespace, if any)."""
        prefix = ["nsenter", f"--net={self.netns.path}"] if self.netns is not None else []
        return subprocess.run([*prefix, sys.executable, "-m", "minipod", *args], cwd="/",
                              env={**os.environ, **self.env}, capture_output=True, text=True,
                              timeout=timeout, input=input)

    def leaks(self, *, final: bool = False) -> list[str]:
        """What the node's pods left on the host: mounts under its
        directories, processes, held network namespaces, cgroups, state and
        log files, and (``final``: once the supervisor is stopped) its own
        cgroup root and what is left in its network namespace."""
        tracker = self.core.tracker
        problems = []
        for base in {self.root, self.logs}:
            if mounts := mounts_under(base):
                problems.append(f"mounts left: {mounts}")
        if pids := tracker.live_pids():
            problems.append(f"processes left: {pids}")
        if held := tracker.processes_in_netns():
            problems.append(f"a pod network namespace is still held by {held}")
        problems += state_left(self.root, self.logs)
        trash = self.root / "trash"
        # a supervisor deletes retired pod directories right after it answered
        with contextlib.suppress(AssertionError):
            self.core.wait(lambda: not entries(trash), "trash/ to be emptied", 10,
                           lambda: str(entries(trash)))
        if left := entries(trash):
            problems.append(f"trash left: {left}")
        # the QoS cgroups (burstable/, besteffort/) are the node's, as its
        # root is: its supervisor keeps them while it runs (removed a second
        # after its last pod), so only the final check counts them
        qos = () if final else [d for d in QOS_DIRS.values() if d]
        self._note_supervisor_cgroup()
        bases = cgroup_bases(self.cgroup_root, tracker.cgroups, self._supervisor_cgroups)
        if cgroups := cgroups_below(self.cgroup_root, include_root=final, keep=qos, bases=bases):
            problems.append(f"cgroups left: {cgroups}")
        if final and self.netns is not None and self.netns.made:
            problems += self.netns.problems()
        return problems

    def _note_supervisor_cgroup(self) -> None:
        """Where the supervisor runs, for the leak check to look there after
        it is gone (under systemd its scope, where the pods' cgroups are)."""
        if self._daemon is not None:
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{self._daemon.pid}/cgroup").read_text()
                if text not in self._supervisor_cgroups:
                    self._supervisor_cgroups += text

    def assert_no_leaks(self, *, final: bool = False) -> None:
        problems = self.leaks(final=final)
        assert not problems, "minipod left behind: " + "; ".join(problems)


__all__ = ["Applied", "Manifest", "Node", "manifest_text"]
