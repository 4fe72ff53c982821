"""Pods in cgroups, on the real kernel (cgroup v1 here, v2 in `make test-vm`):
the layout, limits read back from the cgroup files, OOMKilled, the QoS
class, the cpu quota, the pids limit, devices, kill by cgroup, and no cgroup
left behind on any path. The leak check of every test (podtest) looks in
/sys/fs/cgroup for this test's root cgroup too."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from podtest import Minipod, unique_name, wait_for

from minipod.kernel import sys as msys
from minipod.kernel.cgroups import PAUSE, Cgroup, CgroupHost, CgroupLimits, reader
from minipod.testing import build as b
from minipod.testing.plugin import PodFactory

pytestmark = pytest.mark.root

MIB = 1024 * 1024
BUSYBOX = Path("/bin/busybox")


@pytest.fixture(scope="module")
def host() -> CgroupHost:
    return reader()


def pod(name: str, containers: str, *, extra: str = "") -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
{extra}  containers:
{containers}"""


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out


def base_of(supervisor: int) -> str:
    """Where a supervisor makes minipod's root cgroup: "/" without systemd;
    under systemd the cgroup delegated to it (a foreground `up` runs in its
    own scope, minipod-up-PID.scope), which it left for <base>/supervisor."""
    if not os.path.isdir("/run/systemd/system"):
        return "/"
    return cgroup_of(supervisor, "memory").removesuffix("/supervisor")


def cgroup_of(pid: int, controller: str) -> str:
    """The cgroup of ``pid`` in the hierarchy that has ``controller`` (v2: the one)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or (number == "0" and not controllers
                                                     and _v2()):
            return path
    raise AssertionError(f"pid {pid} has no {controller} cgroup")


def _v2() -> bool:
    return reader().version == 2


def limits(host: CgroupHost, path: str) -> dict[str, str]:
    return Cgroup(host, path).limits()


# -- layout and limits --------------------------------------------------------------


def test_layout_and_limits_read_back(minipod: Minipod, host: CgroupHost) -> None:
    name = unique_name("limits")
    proc = minipod.up(minipod.manifest(pod(name, """\
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: 250m, memory: 32Mi}
      limits: {cpu: 500m, memory: 64Mi}
  - name: side
    image: busybox
    command: ["sleep", "3600"]
    resources:
      limits: {cpu: "1", memory: 0.5Gi}
""")))
    record = minipod.wait_running(name, ["app", "side"])
    path = record["cgroup"]
    uid = record["uid"]
    ours = f"{base_of(proc.pid).rstrip('/')}/{minipod.cgroup_root}"
    assert path == f"{ours}/burstable/pod{uid}"
    assert record["qosClass"] == "Burstable"
    assert record["object"]["status"]["qosClass"] == "Burstable"
    # every process is in its own cgroup, in every hierarchy we use
    for controller in ("memory", "pids", "cpu"):
        assert cgroup_of(record["containers"]["app"]["pid"], controller) == f"{path}/app"
        assert cgroup_of(record["containers"]["side"]["pid"], controller) == f"{path}/side"
        assert cgroup_of(record["pause"]["pid"], controller) == f"{path}/{PAUSE}"
    app, side, whole = (limits(host, f"{path}/app"), limits(host, f"{path}/side"),
                        limits(host, path))
    if host.version == 1:
        assert (app["cpu.shares"], app["cpu.cfs_quota_us"], app["cpu.cfs_period_us"]) \
            == ("256", "50000", "100000")
        assert app["memory.limit_in_bytes"] == str(64 * MIB)
        assert app.get("memory.memsw.limit_in_bytes", str(64 * MIB)) == str(64 * MIB)  # no swap
        assert (side["cpu.shares"], side["cpu.cfs_quota_us"]) == ("1024", "100000")
        assert side["memory.limit_in_bytes"] == str(512 * MIB)
        # the pod: the sums, as every container has limits (ResourceConfigForPod)
        assert (whole["cpu.shares"], whole["cpu.cfs_quota_us"]) == ("1280", "150000")
        assert whole["memory.limit_in_bytes"] == str(576 * MIB)
        assert whole["pids.max"] == "max"  # the kubelet's default podPidsLimit: none
        besteffort = limits(host, f"{ours}/besteffort")
        assert besteffort["cpu.shares"] == "2"
    else:
        assert (app["cpu.weight"], app["cpu.max"]) == ("10", "50000 100000")
        assert app["memory.max"] == str(64 * MIB)
        assert app.get("memory.swap.max", "0") == "0"
        assert (side["cpu.weight"], side["cpu.max"]) == ("39", "100000 100000")
        assert side["memory.max"] == str(512 * MIB)
        assert (whole["cpu.weight"], whole["cpu.max"]) == ("49", "150000 100000")
        assert whole["memory.max"] == str(576 * MIB)
        assert whole["pids.max"] == "max"
        besteffort = limits(host, f"{ours}/besteffort")
        assert besteffort["cpu.weight"] == "1"
    # describe shows them, and what the containers use
    described = minipod.run("describe", "pod", name).stdout
    assert re.search(r"\nQoS Class:\s+Burstable\n", described), described
    assert re.search(rf"\nCgroup:\s+{path}\n", described), described
    assert re.search(r"\n    Limits:\n      cpu:\s+500m\n      memory:\s+64Mi\n"
                     r"    Requests:\n      cpu:\s+250m\n      memory:\s+32Mi\n", described)
    assert re.search(r"\n    Usage:\n      cpu:\s+[0-9.]+s\n      memory:\s+[0-9]+Mi \(working set\)\n"
                     r"      oom kills:\s+0\n", described), described
    # get -o json: requests defaulted from limits, as the API server keeps them
    got = json.loads(minipod.run("get", "pod", name, "-o", "json").stdout)
    assert got["spec"]["containers"][1]["resources"] == {
        "limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "1", "memory": "512Mi"}}
    stop(proc)
    assert not Cgroup(host, path).exists()


@pytest.mark.parametrize(("resources", "qos", "where"), [
    ("{limits: {cpu: 100m, memory: 32Mi}}", "Guaranteed", ""),
    ("{requests: {memory: 16Mi}}", "Burstable", "burstable/"),
    ("{}", "BestEffort", "besteffort/"),
])
def test_qos_class(minipod: Minipod, host: CgroupHost, resources: str, qos: str,
                   where: str) -> None:
    name = unique_name("qos")
    proc = minipod.up(minipod.manifest(pod(name, f"""\
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    resources: {resources}
""")))
    record = minipod.wait_running(name, ["app"])
    assert record["object"]["status"]["qosClass"] == qos
    assert record["cgroup"] == (f"{base_of(proc.pid).rstrip('/')}/{minipod.cgroup_root}/"
                                f"{where}pod{record['uid']}")
    assert re.search(rf"\nQoS Class:\s+{qos}\n", minipod.run("describe", "pod", name).stdout)
    stop(proc)


# -- OOM -----------------------------------------------------------------------------


# The OOM tests and the devices test run on minipod.testing's API (the `pod`
# fixture: the session's node, cleanup and the leak check after each test):
# the event log, the container's status and exec without parsing `up`'s output.
def test_oom_killed_by_the_kernel_event(pod: PodFactory) -> None:
    # dd's 64 MiB buffer does not fit in 32 MiB: the OOM killer takes dd (PID 1)
    hog = pod.apply(b.pod(b.shell("hog", "echo start; exec dd if=/dev/zero of=/dev/null "
                                  "bs=64M count=1", memory_limit="32Mi"),
                          restart_policy="OnFailure"), backoff="30s:30s").pod
    record = hog.wait_restarts(1, "hog", timeout=20)
    last = next(s for s in record.container_statuses
                if s["name"] == "hog")["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"], last["signal"]) == ("OOMKilled", 137, 9)
    events = [(e["reason"], e["message"]) for e in hog.events()]
    assert any(reason == "OOMKilling" and "Memory cgroup out of memory" in message
               for reason, message in events), events
    hog.wait_event("Failed", r"exited \(OOMKilled, signal 9, exit code 137\)")
    # the kernel's own count (memory.events / memory.oom_control): the restarted
    # run meets the same limit, so it may have counted a second kill by now
    assert hog.cgroup("hog").usage().oom_kills >= 1


def test_oom_of_a_child_marks_the_run(pod: PodFactory) -> None:
    """The OOM killer takes a child, not the container's main process: the
    loop hears of it while the container runs, and the run ends OOMKilled."""
    app = pod(b.shell("app", "dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 3600",
                      memory_limit="32Mi"), restart_policy="Never")
    app.wait_running()
    app.wait_event("OOMKilling", "Memory cgroup out of memory", timeout=10)
    app.kill("app")  # the run ends by a SIGKILL from the host: still OOMKilled
    assert app.wait_phase("Succeeded", "Failed") == "Failed"
    app.wait_event("Failed", r"exited \(OOMKilled, signal 9, exit code 137\)")


# -- cpu, pids, devices ----------------------------------------------------------------------


def test_cpu_quota_throttles(minipod: Minipod, host: CgroupHost) -> None:
    name = unique_name("cpu")
    proc = minipod.up(minipod.manifest(pod(name, """\
  - name: spin
    image: busybox
    command: ["sh", "-c", "while :; do :; done"]
    resources:
      limits: {cpu: 100m}
""")))
    record = minipod.wait_running(name, ["spin"])
    cg = Cgroup(host, f"{record['cgroup']}/spin")
    before, started = cg.usage().cpu_ns, time.monotonic()
    time.sleep(1.5)
    used = (cg.usage().cpu_ns - before) / 1e9 / (time.monotonic() - started)
    assert used < 0.2, f"{used:.2f} of a core with a limit of 0.1"
    # the pod's cgroup has the same quota (the kubelet's pod-level limit, the
    # sum of its containers'): the kernel throttles whichever level's runtime
    # runs out first, the container's or the pod's
    throttled = 0
    for rel in (f"{record['cgroup']}/spin", record["cgroup"]):
        stat = host.file("cpu", rel, "cpu.stat")
        assert stat is not None
        stats = dict(line.split() for line in Path(stat).read_text().splitlines())
        throttled += int(stats["nr_throttled"])
    assert throttled > 0
    top = minipod.run("top", "pod", name, "--containers")
    assert top.returncode == 0, top.stderr
    header, row = top.stdout.splitlines()
    assert header.split() == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    pod_name, container, cpu, memory = row.split()
    assert (pod_name, container) == (name, "spin")
    assert 50 <= int(cpu.removesuffix("m")) <= 150, cpu  # ~100m: the quota
    assert memory.endswith("Mi")
    stop(proc)


def test_pids_limit_refuses_a_fork_beyond_it(minipod: Minipod, host: CgroupHost) -> None:
    """--pod-pids-limit 8: pause, the container's shell and a child shell
    leave room for five sleeps; the sixth fork is refused (EAGAIN), and the
    child shell dies of it (busybox sh)."""
    name = unique_name("pids")
    proc = minipod.up(minipod.manifest(pod(name, """\
  - name: forker
    image: busybox
    command: ["sh", "-c", "sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 3600 & done'; echo inner=$?; exec sleep 3600"]
""")), "--pod-pids-limit", "8")
    record = minipod.wait_running(name, ["forker"])
    path = record["cgroup"]
    assert limits(host, path)["pids.max"] == "8"
    # the kernel counts the refusal in the pod's cgroup or in the forker's
    # (where it is counted differs between kernels and cgroup versions)
    files = [host.file("pids", rel, "pids.events") for rel in (path, f"{path}/forker")]

    def refused() -> int:
        return sum(int(Path(f).read_text().split()[1]) for f in files if f is not None)

    wait_for(lambda: refused() > 0, 10, "a refused fork")
    cg = Cgroup(host, path)
    wait_for(lambda: len(cg.tree_procs()) == 7, 10, "pause, the shell and five sleeps")
    out = stop(proc)
    assert "can't fork: Resource temporarily unavailable" in out, out
    assert "inner=2" in out


def test_devices_outside_the_default_set_are_refused(pod: PodFactory) -> None:
    """The device rules refuse what CAP_MKNOD alone would allow (app is given
    it; containers have none by default). A privileged container of the same
    pod has every device, as runc gives it, and app keeps its rules."""
    app = pod(b.container("app", "sleep", "3600",
                          securityContext={"capabilities": {"add": ["MKNOD"]}}),
              b.container("priv", "sleep", "3600", securityContext={"privileged": True}))
    app.wait_running()
    # /dev is the container's tmpfs, the one mount without nodev
    script = ("cat /proc/self/cgroup; mknod /dev/kmsg2 c 1 11 2>&1 || echo refused-mknod; "
              "mknod /dev/null2 c 1 3 && echo x > /dev/null2 && echo null-ok; "
              "head -c 4 /dev/urandom | wc -c")
    # exec runs in the container's cgroup (`minipod exec`'s target), with its device rules
    out = app.exec("sh", "-c", script, container="app", check=True).stdout
    assert f"pod{app.get()['metadata']['uid']}/app" in out
    assert "refused-mknod" in out and "Operation not permitted" in out
    assert "null-ok" in out
    assert "4" in out.split()
    # made, never opened: a node of the host's kmsg
    out = app.exec("sh", "-c", "mknod /dev/kmsg2 c 1 11 && test -c /dev/kmsg2 && echo priv-ok",
                   container="priv", check=True).stdout
    assert "priv-ok" in out


# -- kill by cgroup -----------------------------------------------------------------------


def escaped_from(cg: Cgroup, main: int) -> int | None:
    """A process in ``cg`` in a session other than ``main``'s (None: none yet)."""
    for pid in cg.procs():
        with contextlib.suppress(ProcessLookupError):
            if pid != main and os.getsid(pid) != os.getsid(main):
                return pid
    return None


def test_an_escaped_process_dies_with_its_container(minipod: Minipod, host: CgroupHost) -> None:
    """With one pid namespace for the pod, a process that left its container's
    session and process group (setsid, double fork) outlives its container's
    main process, reparented to pause: it dies with the container by its
    cgroup, before the restart, and at delete."""
    name = unique_name("escape")
    proc = minipod.up(minipod.manifest(pod(name, """\
  - name: app
    image: busybox
    command: ["sh", "-c", "(setsid sleep 3600 &); exec sleep 3600"]
""", extra="  shareProcessNamespace: true\n")), "--backoff", "0:0")
    record = minipod.wait_running(name, ["app"])
    cg = Cgroup(host, f"{record['cgroup']}/app")
    main = record["containers"]["app"]["pid"]
    # its own session: the sh that forks it is briefly there too, not yet setsid
    escaped = wait_for(lambda: escaped_from(cg, main), 10, "the escaped sleep")
    os.kill(main, signal.SIGKILL)
    wait_for(lambda: not psutil_alive(escaped), 10,
             "the escaped process to die with its container")
    assert psutil_alive(record["pause"]["pid"])  # the pod lives on: its sandbox is intact
    # the restarted container escapes again; delete kills that one too
    record = wait_for(lambda: (r := minipod.pod_record(name)) and
                      r["containers"]["app"].get("pid") not in (None, main) and r, 10,
                      "the restart")
    escaped = wait_for(lambda: escaped_from(cg, record["containers"]["app"]["pid"]), 10,
                       "the escaped sleep of the second run")
    minipod.remember(record)
    stop(proc)
    assert not psutil_alive(escaped)
    assert not Cgroup(host, record["cgroup"]).exists()


def psutil_alive(pid: int) -> bool:
    """Running, or stopped: not a zombie and not gone. A process reaped
    between the open of its stat file and the read makes the read fail with
    ESRCH (ProcessLookupError): gone too (seen in the guest's CI run)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_sigkill_at_the_end_of_grace_goes_to_the_whole_container(minipod: Minipod,
                                                                 host: CgroupHost) -> None:
    """A liveness kill: SIGTERM to the main process (which ignores it), then
    SIGKILL to every process of the container, by its cgroup: the escaped one
    dies too, while the pod and its other container live on."""
    name = unique_name("grace")
    proc = minipod.up(minipod.manifest(pod(name, """\
  - name: stubborn
    image: busybox
    command: ["sh", "-c", "trap '' TERM; (setsid sleep 3600 &); touch /tmp/up; while :; do sleep 1; done"]
    livenessProbe:
      exec: {command: ["sh", "-c", "! test -e /tmp/up"]}
      periodSeconds: 1
      failureThreshold: 1
  - name: other
    image: busybox
    command: ["sleep", "3600"]
""", extra="  shareProcessNamespace: true\n")), "--backoff", "30s:30s")
    record = minipod.wait_running(name, ["stubborn", "other"])
    cg = Cgroup(host, f"{record['cgroup']}/stubborn")
    main = record["containers"]["stubborn"]["pid"]
    wait_for(lambda: len(cg.procs()) >= 3, 10, "the escaped sleep")
    escaped = [p for p in cg.procs() if p != main and os.getsid(p) == p]
    assert escaped
    wait_for(lambda: not psutil_alive(main), 15, "the liveness kill")
    wait_for(lambda: not any(psutil_alive(p) for p in escaped), 5, "the escaped one to die")
    assert psutil_alive(record["pause"]["pid"])
    assert psutil_alive(record["containers"]["other"]["pid"])
    out = stop(proc)
    assert "failed liveness probe" in out


# -- nothing left on any path ------------------------------------------------------------------


def test_no_cgroup_left_when_a_sandbox_cannot_be_made(minipod: Minipod) -> None:
    name = unique_name("rollback")
    result = minipod.run("up", str(minipod.manifest(pod(name, """\
  - name: app
    image: busybox
    command: ["true"]
    volumeMounts: [{name: gone, mountPath: /gone}]
""", extra=("  volumes:\n  - name: gone\n    hostPath: {path: /nonexistent/minipod, "
            "type: Directory}\n")))))
    assert result.returncode == 1, result.stdout
    assert minipod.cgroups() == []


def test_cgroups_outlive_a_crashed_supervisor_and_are_adopted(minipod: Minipod,
                                                             host: CgroupHost) -> None:
    name = unique_name("adopt")
    manifest = minipod.manifest(pod(name, """\
  - name: app
    image: busybox
    command: ["sh", "-c", "(setsid sleep 3600 &); exec sleep 3600"]
    resources:
      limits: {memory: 32Mi}
""", extra="  shareProcessNamespace: true\n"))
    assert minipod.run("up", "-d", str(manifest)).returncode == 0
    record = minipod.wait_running(name, ["app"])
    path = record["cgroup"]
    daemon = record["supervisor"]["pid"]
    os.kill(daemon, signal.SIGKILL)
    wait_for(lambda: not psutil_alive(daemon), 10, "the supervisor to die")
    assert Cgroup(host, path).exists()  # the pod lives on in its cgroups
    result = minipod.run("recover")
    assert result.returncode == 0, result.stderr
    adopted = wait_for(lambda: (r := minipod.pod_record(name)) and
                       r["supervisor"]["pid"] != daemon and r, 10, "adoption")
    assert adopted["cgroup"] == path and adopted["qosClass"] == "Burstable"
    cg = Cgroup(host, f"{path}/app")
    wait_for(lambda: len(cg.procs()) == 2, 10, "the escaped sleep")
    members = cg.procs()
    minipod.remember(adopted)
    assert minipod.run("delete", "pod", name, "--grace-period", "1").returncode == 0
    assert not [p for p in members if psutil_alive(p)]
    assert not Cgroup(host, path).exists()


def test_delete_without_a_supervisor_removes_the_cgroups(minipod: Minipod,
                                                        host: CgroupHost) -> None:
    name = unique_name("orphan")
    proc = minipod.up(minipod.manifest(pod(name, """\
  - name: app
    image: busybox
    command: ["sh", "-c", "(setsid sleep 3600 &); exec sleep 3600"]
""", extra="  shareProcessNamespace: true\n")))
    record = minipod.wait_running(name, ["app"])
    cg = Cgroup(host, f"{record['cgroup']}/app")
    wait_for(lambda: len(cg.procs()) == 2, 10, "the escaped sleep")
    members = cg.procs()
    proc.kill()
    proc.wait()
    result = minipod.run("delete", "pod", name)
    assert result.returncode == 0, result.stderr
    assert not [p for p in members if psutil_alive(p)]
    assert minipod.cgroups() == []


def test_the_resources_example_of_the_tour(minipod: Minipod) -> None:
    """examples/resources.yaml, as README's tour shows it: `hog` is OOMKilled
    and backs off, `steady` runs within its limits."""
    example = Path(__file__).resolve().parents[2] / "examples" / "resources.yaml"
    assert minipod.run("up", "-d", str(example)).returncode == 0
    record = minipod.wait_running("resources", ["steady"])

    def oom_killed() -> dict[str, Any] | None:
        rec = minipod.pod_record("resources")
        statuses = {s["name"]: s for s in rec["object"]["status"]["containerStatuses"]} \
            if rec else {}
        hog = statuses.get("hog", {})
        last = (hog.get("lastState") or {}).get("terminated") or {}
        return hog if last.get("reason") == "OOMKilled" else None

    hog = wait_for(oom_killed, 20, "hog to be OOMKilled")
    assert hog["lastState"]["terminated"]["exitCode"] == 137
    assert record["qosClass"] == "Burstable"
    got = minipod.run("get", "pods")
    assert got.stdout.split("\n")[1].split()[1:3] in (["1/2", "CrashLoopBackOff"],
                                                      ["1/2", "OOMKilled"], ["2/2", "Running"])
    top = minipod.run("top", "pod")
    assert top.returncode == 0 and top.stdout.split("\n")[1].split()[0] == "resources"
    assert minipod.run("delete", "pod", "resources").returncode == 0


def test_a_spawned_program_is_born_in_its_cgroup(minipod: Minipod, host: CgroupHost) -> None:
    """msys.spawn (pause's launcher): on v2 clone3 makes the child in the
    cgroup; on v1 the child enters every hierarchy's cgroup first thing."""
    cg = Cgroup(host, f"/{minipod.cgroup_root}")
    cg.create()
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        fd, files = cg.placement()
        spawned = msys.spawn([str(BUSYBOX), "sleep", "30"], (null, null, null), w,
                             cgroup_fd=fd, cgroup_files=files)
        try:
            assert spawned.born_in_cgroup == (host.version == 2)
            for controller in ("memory", "pids", "cpu"):
                assert cgroup_of(spawned.pid, controller) == cg.rel
        finally:
            signal.pidfd_send_signal(spawned.pidfd, signal.SIGKILL)
            os.waitid(os.P_PIDFD, spawned.pidfd, os.WEXITED)
            os.close(spawned.pidfd)
    finally:
        for fd_ in (null, r, w):
            os.close(fd_)
        cg.remove()


def test_a_cgroup_that_cannot_be_entered_is_a_named_failure(minipod: Minipod) -> None:
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        with pytest.raises(OSError) as info:
            msys.spawn([str(BUSYBOX), "true"], (null, null, null), w,
                       cgroup_files=(f"/sys/fs/cgroup/{minipod.cgroup_root}/tasks",))
        assert info.value.strerror.startswith("enter cgroup")
        assert info.value.filename == f"/sys/fs/cgroup/{minipod.cgroup_root}/tasks"
    finally:
        for fd in (null, r, w):
            os.close(fd)


def test_the_kept_oom_counter_reads_a_kill_and_closes_with_the_cgroup(
        minipod: Minipod, host: CgroupHost) -> None:
    """A container's OOM counter is read at each of its exits through a kept
    fd (pread): it sees the kernel's count as a fresh read of the file does,
    and the fd goes with the cgroup."""
    cg = Cgroup(host, f"/{minipod.cgroup_root}-{unique_name('oom')}")
    cg.create(CgroupLimits(memory=32 << 20, swap_off=True))
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        cg.keep_oom_counter()
        kept = cg.counter_fd
        assert kept >= 0 and cg.new_oom_kills() == 0
        fd, files = cg.placement()  # dd's 64 MiB buffer does not fit in 32 MiB
        spawned = msys.spawn([str(BUSYBOX), "dd", "if=/dev/zero", "of=/dev/null", "bs=64M",
                              "count=1"], (null, null, null), w,
                             cgroup_fd=fd, cgroup_files=files)
        died = os.waitid(os.P_PIDFD, spawned.pidfd, os.WEXITED)
        os.close(spawned.pidfd)
        assert died is not None and (died.si_code, died.si_status) == (os.CLD_KILLED, 9)
        assert Cgroup(host, cg.rel).oom_kills() == 1  # the file, read afresh
        assert cg.new_oom_kills() == 1 and cg.new_oom_kills() == 0  # through the kept fd
    finally:
        for fd_ in (null, r, w):
            os.close(fd_)
        cg.remove()
    assert cg.counter_fd == -1
    with pytest.raises(OSError):
        os.fstat(kept)
