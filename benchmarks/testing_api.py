"""The `testing` figures: a test that creates, checks and deletes one pod end
to end through minipod.testing's API, beside the kernel's floor for the same
check, taken in turns in one run.

The test: ``node.create_pod`` of a busybox pod (its one container runs
`sleep 3600`), ``wait_running``, ``exec("hostname")`` checked to be the pod's
name, ``delete`` (grace 0) returning once the pod is gone. The floor: `unshare
--net --ipc --uts --pid --mount --fork busybox hostname` (new namespaces,
one fork and exec of the same check, its exit waited for). Also the node's
start (its supervisor's interpreter: once per test session under the
pytest plugin), the test's three steps on their own, and the same test as
the ``pod`` fixture runs it (a scope, then the leak check on the host), with
that check on its own: what a test costs beyond its pods.
"""

from __future__ import annotations

import subprocess
import time

from benchmarks.config import Config
from benchmarks.figures import BUSYBOX
from benchmarks.harness import Minipod
from benchmarks.results import Comparison, Figure
from minipod.testing import Node
from minipod.testing import build as b

FLOOR_ARGV = ["unshare", "--net", "--ipc", "--uts", "--pid", "--mount", "--fork",
              BUSYBOX, "hostname"]
FLOOR_LABEL = "unshare --net --ipc --uts --pid --mount --fork busybox hostname"


def ms(seconds: float) -> float:
    return seconds * 1000


def floor_ms() -> float:
    begin = time.monotonic()
    subprocess.run(FLOOR_ARGV, check=True, stdout=subprocess.DEVNULL)
    return ms(time.monotonic() - begin)


def one_test(node: Node) -> tuple[float, float, float, float]:
    """(whole, create to running, exec, delete) in ms, of one pod's test."""
    begin = time.monotonic()
    pod = node.create_pod(b.pod(b.container("app", "sleep", "3600")))
    pod.wait_running()
    running = time.monotonic()
    name = pod.exec("hostname", check=True).stdout.strip()
    checked = time.monotonic()
    if name != pod.name:
        raise AssertionError(f"hostname {name!r} in pod {pod.name}")
    pod.delete(grace=0)
    end = time.monotonic()
    return ms(end - begin), ms(running - begin), ms(checked - running), ms(end - checked)


def fixture_test(node: Node) -> tuple[float, float]:
    """(whole, leak check) in ms: the same test as the ``pod`` fixture runs
    it: made in a scope, deleted at its end, then the host checked."""
    begin = time.monotonic()
    with node.scope():
        pod = node.create_pod(b.pod(b.container("app", "sleep", "3600")))
        pod.wait_running()
        if pod.exec("hostname", check=True).stdout.strip() != pod.name:
            raise AssertionError(f"hostname in pod {pod.name}")
    checking = time.monotonic()
    node.assert_no_leaks()
    end = time.monotonic()
    return ms(end - begin), ms(end - checking)


def testing_figures(mp: Minipod, cfg: Config) -> list[Figure]:
    runs = max(cfg.runs, 2)
    whole: list[float] = []
    steps: tuple[list[float], list[float], list[float]] = ([], [], [])
    floor: list[float] = []
    fixture: list[float] = []
    leak_check: list[float] = []
    begin = time.monotonic()
    node = Node(mp.work / "testing" / "state", mp.images, mp.work / "testing" / "logs")
    with node:
        started = ms(time.monotonic() - begin)
        one_test(node)  # not counted: the first pod's page faults and caches
        for _ in range(runs):
            total, *parts = one_test(node)
            whole.append(total)
            for into, value in zip(steps, parts, strict=True):
                into.append(value)
            floor.append(floor_ms())
            as_fixture, check = fixture_test(node)
            fixture.append(as_fixture)
            leak_check.append(check)
        leaks = node.leaks()
    if leaks:
        raise AssertionError(f"the API left: {leaks}")
    how = ("create_pod, wait_running, exec hostname (checked), delete with grace 0; "
           "the node's supervisor already running")
    return [
        Figure("testing.e2e", "A test of one pod through minipod.testing: create, check, "
               "delete", "ms", whole, how=how,
               baseline=Comparison(FLOOR_LABEL, floor, paired=True)),
        Figure("testing.create", "minipod.testing: create_pod to its container running", "ms",
               steps[0], how="apply over the node's control socket, then the record's "
               "container running, woken by inotify"),
        Figure("testing.exec", "minipod.testing: exec of hostname, output captured", "ms",
               steps[1], how="the container's namespaces opened from the record, the "
               "command's fork and exec, its pipes read to its exit"),
        Figure("testing.delete", "minipod.testing: delete (grace 0) until gone", "ms",
               steps[2], how="the control socket's delete, answered once the pod is gone"),
        Figure("testing.fixture", "The same test under the pod fixture: deleted with its "
               "scope, then the host checked for leaks", "ms", fixture,
               how="node.scope() around create_pod, wait_running, exec hostname; then "
               "assert_no_leaks(), as the pod fixture's teardown does"),
        Figure("testing.leak_check", "minipod.testing: the leak check after a test", "ms",
               leak_check, how="mounts, the pods' processes and network namespaces "
               "(every process's netns looked at), state and log files, cgroups "
               "(a walk of /sys/fs/cgroup)"),
        Figure("testing.node_start", "minipod.testing: a Node's start (once per session)",
               "ms", [started], how="directories, the busybox image present, the "
               "supervisor's interpreter started and ready"),
    ]


__all__ = ["testing_figures"]
