"""Pulls in the pod lifecycle (PodRunner on a fake clock, a fake host that
records pull requests) and the supervisor's Puller (real child processes
through a real loop, but nothing of a registry): imagePullPolicy, the
kubelet's events and waiting reasons, back-off, shared pulls, shutdown."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeEffects, FakeHost

from minipod.api.backoff import BackoffPolicy
from minipod.api.model import Container, Pod, PodSpec
from minipod.kernel.image import Image
from minipod.kernel.spawn import Child, ExitStatus
from minipod.loop.eventloop import Loop
from minipod.runtime.images import Puller, PullOutcome
from minipod.runtime.pod import PodRunner

REGISTRY_IMAGE = Image(ref="r/app:1", name="docker.io/r/app:1", lowers=("/x",), cmd=("sh",),
                       origin="registry", size=1234)
LOCAL_IMAGE = Image(ref="busybox", name="docker.io/library/busybox:latest", lowers=("/x",),
                    cmd=("sh",), origin="build")

MADE: list[FakeEffects] = []


@pytest.fixture(autouse=True)
def _close_fakes() -> Iterator[None]:
    yield
    for fx in MADE:
        fx.close()
    MADE.clear()


def make(tmp_path: Path, image: str, policy: str, stored: Image | None,
         backoff: BackoffPolicy | None = None) -> tuple[PodRunner, FakeHost, FakeEffects]:
    spec = PodSpec(containers=(Container("app", image, image_pull_policy=policy),))
    sup = FakeHost(tmp_path)
    fx = FakeEffects(tmp_path)
    MADE.append(fx)
    runner = PodRunner(sup, Pod(name="p", spec=spec), {"app": stored}, backoff, effects=fx)
    return runner, sup, fx


def settle(sup: FakeHost, seconds: float) -> None:
    end = sup.loop.clock.now() + seconds
    while True:
        nxt = sup.loop.deadlines.next_deadline()
        if nxt is None or nxt > end:
            break
        sup.loop.run_once()
    sup.loop.clock.jump_to(end)  # type: ignore[attr-defined]


def events(sup: FakeHost) -> list[tuple[str, str, str]]:
    return [(e.type, e.reason, e.message) for e in sup.events]


def test_if_not_present_with_the_image_stored_starts_at_once(tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path, "r/app:1", "IfNotPresent", REGISTRY_IMAGE)
    runner.start()
    assert sup.pulls == [] and fx.spawned == ["app"]
    assert ("Normal", "Pulled", 'Container image "r/app:1" already present on machine') \
        in events(sup)


def test_a_missing_image_is_pulled_then_the_container_starts(tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path, "r/app:1", "IfNotPresent", None)
    runner.start()
    app = runner.apps[0]
    assert [ref for ref, _ in sup.pulls] == ["r/app:1"] and fx.spawned == []
    assert (app.state.kind, app.state.reason) == ("waiting", "ContainerCreating")
    fx.stored["r/app:1"] = REGISTRY_IMAGE
    sup.pulls[0][1](PullOutcome(True, seconds=1.2345, waited=1.5, size=1234))
    assert fx.spawned == ["app"] and app.running
    assert ("Normal", "Pulled", 'Successfully pulled image "r/app:1" in 1.234s (1.5s '
            "including waiting). Image size: 1234 bytes.") in events(sup)
    pulling = [r for _, r, _ in events(sup)].index("Pulling")
    assert [r for _, r, _ in events(sup)][pulling:pulling + 4] == [
        "Pulling", "Pulled", "Created", "Started"]


def test_a_failed_pull_is_err_image_pull_then_back_off_then_another_pull(
        tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path, "r/app:1", "IfNotPresent", None)
    runner.start()
    app = runner.apps[0]
    sup.pulls[0][1](PullOutcome(False, "manifest unknown"))
    assert (app.state.reason, app.state.message) == ("ErrImagePull", "manifest unknown")
    assert runner.row().status == "ErrImagePull"
    assert ("Warning", "Failed", 'Failed to pull image "r/app:1": manifest unknown') \
        in events(sup)
    assert ("Warning", "Failed", "Error: ErrImagePull") in events(sup)
    settle(sup, 1.0)
    assert app.state.reason == "ImagePullBackOff"
    assert app.state.message == 'Back-off pulling image "r/app:1": ErrImagePull: manifest unknown'
    assert ("Normal", "BackOff", 'Back-off pulling image "r/app:1"') in events(sup)
    assert len(sup.pulls) == 1
    settle(sup, 8.9)
    assert len(sup.pulls) == 1  # 10 s after the failure, not before
    settle(sup, 0.2)
    assert len(sup.pulls) == 2
    sup.pulls[1][1](PullOutcome(False, "still unknown"))
    settle(sup, 19.8)
    assert len(sup.pulls) == 2  # doubled: 20 s
    settle(sup, 0.3)
    assert len(sup.pulls) == 3
    fx.stored["r/app:1"] = REGISTRY_IMAGE
    sup.pulls[2][1](PullOutcome(True, size=1))
    assert app.running and app.state.kind == "running"


def test_never_without_the_image_waits_with_err_image_never_pull(tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path, "r/app:1", "Never", None)
    runner.start()
    app = runner.apps[0]
    assert sup.pulls == [] and app.state.reason == "ErrImageNeverPull"
    assert ("Warning", "ErrImageNeverPull",
            'Container image "r/app:1" is not present with pull policy of Never') in events(sup)
    fx.stored["r/app:1"] = REGISTRY_IMAGE  # loaded by hand meanwhile
    settle(sup, 10.1)
    assert app.running and sup.pulls == []


def test_always_pulls_a_registry_image_but_not_one_made_here(tmp_path: Path) -> None:
    runner, sup, _fx = make(tmp_path, "r/app:1", "Always", REGISTRY_IMAGE)
    runner.start()
    assert len(sup.pulls) == 1
    local, lsup, lfx = make(tmp_path / "l", "busybox", "Always", LOCAL_IMAGE)
    local.start()
    assert lsup.pulls == [] and lfx.spawned == ["app"]


def test_always_pulls_again_before_a_restart(tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path, "r/app:1", "Always", REGISTRY_IMAGE,
                           BackoffPolicy(0, 0))
    runner.start()
    fx.stored["r/app:1"] = REGISTRY_IMAGE
    sup.pulls[0][1](PullOutcome(True, size=1))
    app = runner.apps[0]
    assert app.running and app.child is not None
    sup.watched.pop(app.child.pid)(ExitStatus(0))
    settle(sup, 0.1)
    assert len(sup.pulls) == 2 and not app.running


def test_stopping_while_pulling_cancels_the_wait(tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path, "r/app:1", "IfNotPresent", None)
    runner.start()
    stopped: list[bool] = []
    runner.stop(0, lambda: stopped.append(True))
    assert stopped == [True] and sup.pull_cancels == ["r/app:1"]
    sup.pulls[0][1](PullOutcome(True, size=1))  # a late answer changes nothing
    assert fx.spawned == []


def test_stop_signal_of_the_image(tmp_path: Path) -> None:
    image = Image(ref="n:1", name="docker.io/library/n:1", lowers=("/x",), cmd=("nginx",),
                  origin="registry", stop_signal=signal.SIGQUIT)
    runner, _sup, fx = make(tmp_path, "n:1", "IfNotPresent", image)
    runner.start()
    runner.stop(None, lambda: None)
    assert fx.signals[0] == ("app", signal.SIGQUIT)


# -- the Puller, with real children ------------------------------------------------------

class Host:
    """watch/unwatch through the loop and waitid, as the supervisor does."""

    def __init__(self) -> None:
        self.loop = Loop()

    def watch(self, child: Child, on_exit: Callable[[ExitStatus], None]) -> None:
        def exited(_events: int) -> None:
            self.loop.unregister(child.pidfd)
            result = os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED)
            assert result is not None
            on_exit(ExitStatus.from_waitid(result))

        self.loop.register(child.pidfd, exited)

    def unwatch(self, child: Child) -> None:
        self.loop.unregister(child.pidfd)


def shell(script: str) -> Callable[[str, bytes | None], tuple[Child, int]]:
    def spawn(reference: str, _auth: bytes | None) -> tuple[Child, int]:
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.posix_spawn("/bin/sh", ["/bin/sh", "-c", script, "sh", reference], {},
                             file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)], setsid=True)
        os.close(w)
        os.set_blocking(r, False)
        return Child(pid, os.pidfd_open(pid)), r
    return spawn


def run_until(host: Host, done: Callable[[], bool]) -> None:
    for _ in range(500):
        if done():
            return
        host.loop.run_once(0.02)
    raise AssertionError("timed out")


def test_puller_shares_one_child_between_waiters_and_reads_its_answer() -> None:
    host = Host()
    answer = json.dumps({"ok": True, "size": 77, "id": "sha256:x"})
    puller = Puller(host, shell(f"sleep 0.2; echo '{answer}'"))
    got: list[PullOutcome] = []
    puller.pull("a:1", got.append)
    puller.pull("a:1", got.append)
    assert len(puller.pulls) == 1
    cancel = puller.pull("b:1", got.append)
    cancel()  # b's waiter goes; its child still ends and is reaped
    run_until(host, lambda: not puller.pulls)
    assert [o.ok for o in got] == [True, True] and got[0].size == 77
    assert got[0].seconds > 0.15
    host.loop.close()


def test_puller_pulls_with_other_credentials_apart() -> None:
    """A pod's credentials may be refused where another's are not: the same
    reference with other credentials is another pull; the same ones share."""
    host = Host()
    asked: list[bytes | None] = []
    answer = json.dumps({"ok": True, "size": 1})
    spawn = shell(f"sleep 0.1; echo '{answer}'")

    def recording(reference: str, auth: bytes | None) -> tuple[Child, int]:
        asked.append(auth)
        return spawn(reference, auth)

    puller = Puller(host, recording)
    got: list[PullOutcome] = []
    for auth in (None, b'{"auths": {"a": {}}}', b'{"auths": {"a": {}}}', None):
        puller.pull("r.io/app:1", got.append, auth)
    assert asked == [None, b'{"auths": {"a": {}}}'] and len(puller.pulls) == 2
    run_until(host, lambda: not puller.pulls)
    assert [o.ok for o in got] == [True] * 4
    host.loop.close()


def test_puller_failures_and_silence() -> None:
    host = Host()
    got: list[PullOutcome] = []
    Puller(host, shell('echo \'{"ok": false, "error": "denied"}\'; exit 1')).pull(
        "a", got.append)
    Puller(host, shell("kill -KILL $$")).pull("b", got.append)
    run_until(host, lambda: len(got) == 2)
    assert sorted(o.error for o in got) == ["denied",
                                            "the pull ended with signal 9 and said nothing"]
    host.loop.close()


def test_puller_close_kills_and_reaps_what_is_in_flight() -> None:
    host = Host()
    puller = Puller(host, shell("sleep 30"))
    puller.pull("a", lambda _o: None)
    (entry,) = puller.pulls.values()
    pid = entry.child.pid
    puller.close()
    assert puller.pulls == {}
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already
    host.loop.close()


def test_the_pull_command_answers_one_json_line(tmp_path: Path) -> None:
    import subprocess

    env = dict(os.environ, MINIPOD_IMAGES=str(tmp_path / "images"))
    out = subprocess.run([sys.executable, "-P", "-m", "minipod", "image", "pull",
                          "--result-json", "Not/A:Ref"], env=env, capture_output=True,
                         text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 1
    result: dict[str, Any] = json.loads(out.stdout)
    assert result["ok"] is False and "invalid reference format" in result["error"]
