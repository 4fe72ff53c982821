"""Every failure half-way through `up` rolls back everything it created."""

from __future__ import annotations

import pytest
from podtest import Minipod, unique_name

pytestmark = pytest.mark.root


def pod(name: str, body: str) -> str:
    return f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{body}"


def run_up(mp: Minipod, text: str) -> tuple[int, str]:
    proc = mp.up(mp.manifest(text))
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


def test_init_container_that_cannot_exec(minipod: Minipod) -> None:
    # A container that cannot start is containerd's StartError (exit 128);
    # under restartPolicy Never that fails the pod, and the pod is removed.
    name = unique_name("noexec")
    code, out = run_up(minipod, pod(name, """
  restartPolicy: Never
  initContainers:
  - {name: broken, image: busybox, command: ["/no/such/binary"]}
  containers:
  - {name: app, image: busybox, command: ["sleep", "60"]}
"""))
    assert code == 1
    assert "start container broken: exec /no/such/binary: No such file or directory" in out
    assert "(ENOENT)" in out
    assert f"pod default/{name} failed: init container broken exited with code 128" in out
    assert "Started container app" not in out


def test_missing_host_path_after_other_pod_started(minipod: Minipod) -> None:
    first, second = unique_name("ok"), unique_name("badmount")
    code, out = run_up(minipod, pod(first, """
  containers:
  - {name: app, image: busybox, command: ["sleep", "60"]}
""") + "---\n" + pod(second, f"""
  containers:
  - name: app
    image: busybox
    command: ["sleep", "60"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
  - name: data
    hostPath: {{path: {minipod.workdir}/does-not-exist, type: Directory}}
"""))
    assert code == 1
    assert "does-not-exist" in out and "(ENOENT)" in out
    assert "Started container app" in out  # the first pod was running, then rolled back


def test_init_container_that_fails(minipod: Minipod) -> None:
    name = unique_name("initfail")
    code, out = run_up(minipod, pod(name, """
  restartPolicy: Never
  initContainers:
  - {name: check, image: busybox, command: ["sh", "-c", "exit 3"]}
  containers:
  - {name: app, image: busybox, command: ["sleep", "60"]}
"""))
    assert code == 1
    assert "init container check exited with code 3" in out
    assert "Started container app" not in out


def test_invalid_image_reference_creates_nothing(minipod: Minipod) -> None:
    # a missing image is pulled when the pod starts (test_pull_pods.py); a
    # reference that is not one is bad input
    name = unique_name("noimage")
    code, out = run_up(minipod, pod(name, """
  containers:
  - {name: app, image: "Nginx:1.27"}
"""))
    assert code == 2
    assert "spec.containers[0].image: invalid reference format: 'Nginx:1.27'" in out
    assert "must be lowercase" in out
    assert not (minipod.root / "pods").exists() or not any((minipod.root / "pods").iterdir())


@pytest.mark.parametrize(("body", "path", "message"), [
    ("  containers:\n  - {name: App, image: busybox}\n", "spec.containers[0].name", "RFC 1123 label"),
    ("  containers:\n  - {name: a, image: busybox, livenessProve: {}}\n",
     "spec.containers[0].livenessProve", 'did you mean "livenessProbe"'),
    ("  hostNetwork: true\n  containers:\n  - {name: a, image: busybox}\n",
     "spec.hostNetwork", "not supported"),
    ("  containers:\n  - name: a\n    image: busybox\n    livenessProbe:\n"
     "      exec: {command: [true]}\n      periodSeconds: -5\n",
     "spec.containers[0].livenessProbe.periodSeconds", "must be >= 1"),
])
def test_bad_manifest_exits_2_and_creates_nothing(minipod: Minipod, body: str, path: str,
                                                  message: str) -> None:
    manifest = minipod.manifest(pod(unique_name("bad"), body))
    for verb in ("validate", "up"):
        result = minipod.run(verb, str(manifest))
        assert result.returncode == 2, (verb, result.stderr)
        assert path in result.stderr and message in result.stderr, result.stderr
    assert not (minipod.root / "pods").exists() or not any((minipod.root / "pods").iterdir())


def _unit_bad_cases() -> list[tuple[str, str, str, str]]:
    """The validator's table of bad manifests (tests/unit/test_podspec.py), reused."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "unit" / "test_podspec.py"
    spec = importlib.util.spec_from_file_location("_bad_manifest_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases: list[tuple[str, str, str, str]] = module.BAD
    # `up` reads Deployments and ReplicaSets too, so a bad kind or apiVersion is
    # reported differently there than by parse_pods (the table's subject).
    cases = [c for c in cases if not c[0].startswith(("kind ", "apiVersion "))]
    return cases[::4]  # a fourth of them (~28) is plenty through the CLI


@pytest.mark.parametrize(("case", "text", "path", "message"), _unit_bad_cases(),
                         ids=[c[0] for c in _unit_bad_cases()])
def test_bad_manifest_table_through_up(minipod: Minipod, case: str, text: str, path: str,
                                       message: str) -> None:
    result = minipod.run("up", str(minipod.manifest(text)))
    assert result.returncode == 2, (case, result.stdout, result.stderr)
    assert f"{path}: " in result.stderr and message in result.stderr, result.stderr
    assert not (minipod.root / "pods").exists() or not any((minipod.root / "pods").iterdir())


def test_pause_killed_under_restart_policy_never_fails_the_pod(minipod: Minipod) -> None:
    import os
    import signal

    name = unique_name("nopause")
    proc = minipod.up(minipod.manifest(pod(name, """
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, command: ["sleep", "3600"]}
""")))
    record = minipod.wait_running(name, ["app"])
    pidfd = os.pidfd_open(record["pause"]["pid"])
    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    os.close(pidfd)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    assert "Pod sandbox changed" in out and "pod sandbox died" in out
