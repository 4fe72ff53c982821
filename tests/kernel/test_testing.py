"""minipod.testing against the real kernel: the API (exec, logs, waits,
healing, workloads, configs, cleanup) and the plugin's promise that a test
that fails half-way leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from minipod.api.errors import SpecError
from minipod.testing import Node, WaitTimeout
from minipod.testing import build as b
from minipod.testing.leaks import cgroups_below, mounts_under
from minipod.testing.plugin import PodFactory

pytestmark = pytest.mark.root


def test_exec_captures_output_exit_code_and_stdin(pod: PodFactory) -> None:
    app = pod(b.container("app", "sleep", "3600"), ready=True)
    assert app.exec("hostname", check=True).stdout == f"{app.name}\n"
    result = app.exec("sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert app.exec("cat", stdin="piped\n").stdout == "piped\n"
    assert app.exec("sh", "-c", "kill -9 $$").exit_code == 137  # 128 + the signal
    assert app.exec("no-such-command").exit_code == 127
    with pytest.raises(AssertionError, match="exited 1"):
        app.exec("false", check=True)
    # the container's pid namespace: its PID 1 is the container's command
    assert app.exec("cat", "/proc/1/comm", check=True).stdout == "sleep\n"
    with pytest.raises(TimeoutError, match=r"still running after 0\.3s"):
        app.exec("sleep", "30", timeout=0.3)


def test_logs_and_a_wait_for_a_log_line(pod: PodFactory) -> None:
    app = pod(b.shell("app", "echo one; echo two >&2; sleep 0.3; echo three; sleep 3600"))
    assert app.wait_log("^thr") == "three"
    assert app.logs() == "one\ntwo\nthree\n"
    assert app.log_lines(stream="stderr") == ["two"]


def test_kill_heals_and_the_previous_log_is_kept(pod: PodFactory) -> None:
    app = pod(b.shell("app", "echo started; sleep 3600"), ready=True)
    first = app.pid()
    restarts = app.kill()
    record = app.wait_restarts(restarts + 1)
    assert app.pid() != first
    assert record.containers["app"].last_exit_code == 137
    last = app.status["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["signal"] == 9
    app.wait_log("started", every_run=False)  # the new run's (the first's is there already)
    assert app.logs(previous=True) == "started\n"
    assert app.log_lines(every_run=True) == ["started", "started"]


def test_waits_on_probes_and_phases(pod: PodFactory) -> None:
    app = pod(b.shell("app", "sleep 3600",
                      readiness=b.exec_probe("test", "-e", "/tmp/ready")))
    app.wait_probe("readiness", "failure")
    assert app.status["conditions"]  # the API object's conditions
    ready = next(c for c in app.status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    app.exec("touch", "/tmp/ready", check=True)
    app.wait_probe("readiness", "success")
    app.wait_ready()
    done = pod(b.shell("job", "echo done; exit 0"), restart_policy="Never")
    # a finished pod is removed at once; its events (kept by the node) say how it ended
    assert done.wait_phase("Succeeded", "Failed") == "Succeeded" == done.phase
    failed = pod(b.shell("job", "exit 3"), restart_policy="Never")
    assert failed.wait_phase("Succeeded", "Failed") == "Failed"
    assert any("exit code 3" in e["message"] for e in failed.events())


def test_a_wait_that_times_out_names_what_and_the_last_state(pod: PodFactory) -> None:
    app = pod(b.container("app", "sleep", "3600"), ready=True)
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        app.wait_phase("Succeeded", timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 2
    message = str(caught.value)
    assert f"phase Succeeded of pod default/{app.name}" in message
    assert "last seen: phase Running, status Running, ready 1/1; app: running" in message
    with pytest.raises(WaitTimeout, match="a log line matching 'never'"):
        app.wait_log("never", timeout=0.2)


def test_workloads_configs_and_a_bad_manifest(pod: PodFactory) -> None:
    config = b.config_map({"greeting": "hello"})
    web = b.deployment(b.shell("web", "echo $(cat /etc/config/greeting); sleep 3600",
                               volumeMounts=[{"name": "c", "mountPath": "/etc/config"}]),
                       replicas=2, volumes=[{"name": "c", "configMap": {
                           "name": config["metadata"]["name"]}}])
    applied = pod.apply(config, web)
    assert applied.said == [f"configmap/{config['metadata']['name']} created",
                            f"deployment.apps/{web['metadata']['name']} created"]
    deployment = applied.workloads[0]
    deployment.wait_available()
    pods = deployment.pods()
    assert len(pods) == 2
    for one in pods:
        one.wait_log("hello")
    assert applied.configs[0].get()["data"] == {"greeting": "hello"}  # type: ignore[index]
    deployment.scale(1)
    assert len(deployment.wait_pods(1)) == 1
    with pytest.raises(SpecError, match="livenessProve"):
        pod(b.container("app", "true", livenessProve={}))


def test_cli_commands_reach_the_nodes_supervisor(pod: PodFactory) -> None:
    app = pod(b.container("app", "sleep", "3600"), ready=True)
    out = pod.node.cli("get", "pods", app.name, "-o", "jsonpath={.status.phase}")
    assert out.returncode == 0 and out.stdout == "Running", out.stderr
    assert pod.node.cli("delete", "pod", app.name, "--now").returncode == 0
    assert not app.directory.exists()
    app.delete()  # already gone: nothing to do


def test_a_node_closed_by_an_exception_leaves_nothing(tmp_path: Path,
                                                      minipod_images: Path) -> None:
    node = Node(tmp_path / "state", minipod_images, tmp_path / "logs")
    seen: list[int] = []
    with pytest.raises(RuntimeError, match="half-way"), node:
        applied = node.apply(b.config_map({"k": "v"}),
                             b.pod(b.container("a", "sleep", "3600")),
                             b.deployment(b.container("d", "sleep", "3600"), replicas=2))
        applied.pod.wait_running()
        applied.workloads[0].wait_available()
        seen += [p.pid() for p in node.pods()]
        raise RuntimeError("half-way")
    assert node.daemon_pid is None
    assert node.leaks(final=True) == []
    assert [pid for pid in seen if psutil.pid_exists(pid)
            and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE] == []


def test_a_refused_apply_leaves_nothing(pod: PodFactory) -> None:
    # the ConfigMap is written and the Service refused (no pod network on
    # this node): what the manifest named is tracked before it is sent
    with pytest.raises(Exception, match=r"(?i)service"):
        pod.apply(b.config_map({"k": "v"}, name="refused-cm"),
                  b.service({"app": "x"}, 80))
    # the fixture's teardown deletes the ConfigMap and checks the host


INNER = '''
import json, os
import pytest
from minipod.testing import build as b

pytestmark = pytest.mark.minipod


def test_raises_half_way(pod):
    app = pod(b.container("app", "sleep", "3600"),
              b.shell("side", "echo side; sleep 3600"), ready=True)
    pod.apply(b.config_map({"k": "v"}), b.deployment(b.container("d", "sleep", "3600")))
    app.wait_log("side", "side")
    with open(os.environ["SEEN"], "w") as f:
        json.dump({"pids": [app.pid("app"), app.pid("side"), app.record().pause.pid],
                   "root": str(pod.node.root), "cgroup": pod.node.cgroup_root}, f)
    raise RuntimeError("half-way")


def test_raises_half_way_on_the_pod_network(minipod_network):
    applied = minipod_network.apply(
        b.pod(b.container("web", "httpd", "-f", "-p", "8080"), labels={"app": "web"}),
        b.service({"app": "web"}, 80, 8080))
    applied.services[0].wait_endpoints(1)
    with open(os.environ["SEEN"] + ".net", "w") as f:
        json.dump({"netns": minipod_network.netns.name, "pid": applied.pod.pid(),
                   "veth": applied.pod.record().network.veth}, f)
    raise RuntimeError("half-way")
'''


def test_a_test_that_raises_half_way_leaves_nothing(tmp_path: Path) -> None:
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(textwrap.dedent(INNER))
    seen = tmp_path / "seen.json"
    links_before = host_links()
    # a short base: the node's socket path must fit a sockaddr_un
    base = Path(tempfile.mkdtemp(prefix="mpi-"))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          f"--basetemp={base / 'b'}", str(test_file)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "SEEN": str(seen), "MINIPOD_TESTS_MUST_RUN": "1"})
    # both failed with the test's own error; the leak checks after them passed
    assert out.stdout.count("RuntimeError: half-way") >= 2, out.stdout
    assert "2 failed" in out.stdout and "error" not in out.stdout.splitlines()[-1], out.stdout
    found = json.loads(seen.read_text())
    for pid in found["pids"]:
        assert not psutil.pid_exists(pid) or \
            psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid
    root = Path(found["root"])
    assert sorted(os.listdir(root / "pods")) == []
    assert not (root / "configmaps").exists() or os.listdir(root / "configmaps") == []
    assert not (root / "workloads").exists() or os.listdir(root / "workloads") == []
    assert mounts_under(base) == []
    shutil.rmtree(base)
    assert cgroups_below(found["cgroup"], include_root=True) == []
    net = json.loads(Path(str(seen) + ".net").read_text())
    assert not psutil.pid_exists(net["pid"])
    assert not Path("/run/netns", net["netns"]).exists()  # the namespace itself is gone
    # its veth was made in that namespace, never on the host (other tests'
    # links may come and go here meanwhile: only ours are looked for)
    assert net["veth"] and net["veth"] not in links_before + host_links()


def host_links() -> list[str]:
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True,
                         check=True)
    return sorted(link["ifname"] for link in json.loads(out.stdout))


def test_a_node_in_a_network_namespace_the_test_made(minipod_network: Node) -> None:
    assert minipod_network.netns is not None
    assert minipod_network.netns.links() == ["lo"] or "minipod0" not in \
        minipod_network.netns.links()  # the bridge comes with the first pod
    web = minipod_network.create_pod(b.pod(b.container("web", "httpd", "-f", "-p", "8080"),
                                           labels={"app": "web"}), ready=True)
    assert web.ip is not None
    got = minipod_network.netns.run("busybox", "wget", "-q", "-O-", f"http://{web.ip}:8080/")
    assert "404" in got.stderr or got.returncode in (0, 1)  # answered (no index: 404)
    assert "minipod0" in minipod_network.netns.links()
    os.kill(minipod_network.daemon_pid or 0, 0)  # its supervisor runs


def running(pid: int) -> bool:
    """Whether ``pid`` runs (not gone, not a zombie), asked once: a pid that
    exists when asked may be gone a moment later."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def test_the_supervisor_dies_with_its_test_process(tmp_path: Path,
                                                   minipod_images: Path) -> None:
    # a test process killed outright: its node's supervisor gets SIGTERM
    # (PR_SET_PDEATHSIG) and stops every pod
    script = tmp_path / "owner.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys, time
        from minipod.testing import Node, build as b
        node = Node({str(tmp_path / 'state')!r}, {str(minipod_images)!r},
                    {str(tmp_path / 'logs')!r}).start()
        app = node.create_pod(b.pod(b.container("app", "sleep", "3600")), ready=True)
        print(json.dumps([node.daemon_pid, app.pid(), app.record().pause.pid]), flush=True)
        time.sleep(3600)
    """))
    with subprocess.Popen([sys.executable, str(script)], cwd=tmp_path,
                          stdout=subprocess.PIPE, text=True) as owner:
        assert owner.stdout is not None
        pids = json.loads(owner.stdout.readline())
        owner.send_signal(signal.SIGKILL)
    for pid in pids:
        deadline = time.monotonic() + 30
        while running(pid):
            assert time.monotonic() < deadline, f"pid {pid} outlived its test process"
            time.sleep(0.05)
    assert os.listdir(tmp_path / "state" / "pods") == []
    assert mounts_under(tmp_path) == []


def test_the_leak_check_sees_what_is_left(tmp_path: Path, minipod_images: Path) -> None:
    """The leak check has teeth: a cgroup below the node's root, a mount
    under its directories, a process of a pod, a pod directory and a log
    left on the host are each named; once they are gone, nothing is."""
    from minipod.kernel.cgroups import reader

    with Node(tmp_path / "state", minipod_images, tmp_path / "logs") as node:
        assert node.leaks() == []
        # beside a running pod's cgroup, wherever the node puts them (under
        # systemd: in its supervisor's delegated scope)
        app = node.create_pod(b.pod(b.container("app", "sleep", "3600")))
        app.wait_running()
        cgroup = app.record().cgroup  # type: ignore[union-attr]
        cgroups = [f"{d}/podleak" for d in reader().dirs(os.path.dirname(cgroup))]
        for path in cgroups:
            os.mkdir(path)
        mount_point = node.root / "leaked-mount"
        mount_point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "leak", str(mount_point)], check=True)
        (node.root / "pods" / "default_leaked").mkdir(parents=True)
        (node.logs / "default_leaked_uid").mkdir(parents=True)
        stray = subprocess.Popen(["sleep", "60"])
        node.core.tracker.pids[stray.pid] = psutil.Process(stray.pid).create_time()
        try:
            # (the running pod is named too: its processes, directory, log, cgroup)
            problems = {p.split(": ", 1)[0]: p for p in node.leaks()}
            assert "/podleak'" in problems["cgroups left"]
            assert f"'{mount_point}'" in problems["mounts left"]
            assert str(stray.pid) in problems["processes left"]
            assert "'default_leaked'" in problems["pods left in the state directory"]
            assert "'default_leaked_uid'" in problems["container logs left"]
            with pytest.raises(AssertionError, match="minipod left behind"):
                node.assert_no_leaks()
        finally:
            stray.kill()
            stray.wait()
            subprocess.run(["umount", str(mount_point)], check=True)
            for path in cgroups:
                os.rmdir(path)
            shutil.rmtree(node.root / "pods" / "default_leaked")
            shutil.rmtree(node.logs / "default_leaked_uid")
        node.cleanup()
        assert node.leaks() == []


def test_the_readmes_first_test_passes_as_written(tmp_path: Path) -> None:
    """README's "Testing with minipod": its test_hello.py, run by pytest in
    a directory with no conftest, finds the fixtures through the installed
    plugin's pytest11 entry point alone, and passes."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("cat > test_hello.py <<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    assert "def test_hello(pod):" in block
    (tmp_path / "test_hello.py").write_text(block + "\n")
    base = Path(tempfile.mkdtemp(prefix="mph-"))  # short: the node's socket path
    try:
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              f"--basetemp={base / 'b'}", "test_hello.py"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "MINIPOD_TESTS_MUST_RUN": "1"})
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert out.stdout.splitlines()[-1].startswith("1 passed"), out.stdout + out.stderr
