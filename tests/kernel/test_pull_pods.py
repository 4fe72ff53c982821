"""Pods whose images come from a registry: `up` pulls what is missing with
the kubelet's events and waiting reasons (ErrImagePull, ImagePullBackOff,
ErrImageNeverPull), imagePullPolicy, and the image config's rules (User by
name, Env under the container's, WorkingDir, StopSignal when stopping)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocibuild import Layout, busybox_layer, f
from podtest import Minipod, assert_nothing_left, unique_name, wait_for
from registry import Registry, registries_conf, registry_missing

pytestmark = pytest.mark.root

PASSWD = "root:x:0:0::/root:/bin/sh\nweb:x:101:102::/srv:/bin/false\n"
GROUP = "root:x:0:\nweb:x:102:\nstaff:x:50:web\n"  # web's supplementary group: staff


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    missing = registry_missing()
    if missing:
        pytest.fail(missing)
    reg = Registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.close()


@pytest.fixture
def mp(tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Iterator[Minipod]:
    """A minipod with an image store of its own (empty: everything is pulled)
    that may reach the test registry over plain http."""
    conf = registries_conf(tmp_path / "registries.conf", [registry.host])
    monkeypatch.setenv("MINIPOD_REGISTRIES_CONF", str(conf))
    m = Minipod(root=tmp_path / "state", images=tmp_path / "images", workdir=tmp_path)
    yield m
    for proc in m.ups:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
    m.delete_leftover_pods()
    assert_nothing_left(m)
    assert list((tmp_path / "images" / "tmp").glob("*")) == [] if (
        tmp_path / "images" / "tmp").exists() else True


def push_app(registry: Registry, tmp_path: Path, repo: str, config: dict[str, Any],
             extra: list[Any] | None = None) -> str:
    layout = Layout(tmp_path / f"layout-{unique_name()}")
    base = [*busybox_layer(), f("etc/passwd", PASSWD), f("etc/group", GROUP)]
    layout.tag(layout.image([base, extra or [f("srv/.keep", "")]], config), "t")
    registry.push(layout.path, "t", repo)
    return f"{registry.host}/{repo}"  # with its tag


def pod_yaml(name: str, image: str, *, command: list[str] | None = None,
             policy: str | None = None, env: dict[str, str] | None = None,
             restart: str = "Always", grace: int = 10) -> str:
    container: dict[str, Any] = {"name": "app", "image": image}
    if command is not None:
        container["command"] = command
    if policy:
        container["imagePullPolicy"] = policy
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"containers": [container], "restartPolicy": restart,
                                "terminationGracePeriodSeconds": grace}})


def read_until(proc: subprocess.Popen[str], predicate: Any, timeout: float = 60) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            lines.append(line.rstrip("\n"))
            if predicate(lines):
                return lines
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.02)
    raise AssertionError("timed out; output so far:\n" + "\n".join(lines))


def events(mp: Minipod, pod: str) -> list[dict[str, Any]]:
    path = mp.root / "pods" / f"default_{pod}" / "events.jsonl"
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line]
    except FileNotFoundError:
        return []


def container_state(mp: Minipod, pod: str) -> tuple[str, str]:
    record = mp.pod_record(pod)
    if record is None:
        return "", ""
    status = record["containerStatuses"][0]["state"]
    kind = next(iter(status))
    return kind, status[kind].get("reason", "")


def test_up_pulls_with_events_and_runs_the_image_config(mp: Minipod, registry: Registry,
                                                         tmp_path: Path) -> None:
    image = push_app(registry, tmp_path, "test/config:1", {
        "Entrypoint": ["sh", "-c"],
        "Cmd": ["trap 'echo got QUIT; exit 0' QUIT; echo uid=$(id -u) gid=$(id -g) "
                "groups=$(id -G) cwd=$(pwd) only=$IMAGE_ONLY shared=$SHARED; "
                "while :; do sleep 0.1; done"],
        "Env": ["PATH=/bin", "IMAGE_ONLY=from-image", "SHARED=from-image"],
        "WorkingDir": "/srv", "User": "web", "StopSignal": "SIGQUIT"})
    name = unique_name("cfg")
    proc = mp.up(mp.manifest(pod_yaml(name, image, env={"SHARED": "from-pod"})))
    lines = read_until(proc, lambda ls: any("uid=" in x for x in ls))
    text = "\n".join(lines)
    # the user's groups from the image's /etc/group, as containerd gives them
    assert f"{name}/app | uid=101 gid=102 groups=102 50 cwd=/srv only=from-image " \
        "shared=from-pod" in text
    pulling = next(i for i, x in enumerate(lines) if "Pulling" in x)
    pulled = next(i for i, x in enumerate(lines) if "Successfully pulled" in x)
    created = next(i for i, x in enumerate(lines) if "Created container app" in x)
    assert pulling < pulled < created
    assert f'Pulling image "{image}"' in lines[pulling]
    assert "Image size: " in lines[pulled] and " bytes." in lines[pulled]
    assert "including waiting" in lines[pulled]
    record = mp.wait_running(name, ["app"])
    assert record["object"]["status"]["containerStatuses"][0]["imageID"].startswith(
        f"{image.rpartition(':')[0]}@sha256:")
    # in use: the image cannot be removed under the pod
    out = mp.run("image", "rm", image)
    assert out.returncode == 1 and "in use by pod(s) default/" + name in out.stderr
    # stopping sends the image's StopSignal (SIGQUIT), not SIGTERM
    proc.send_signal(signal.SIGTERM)
    rest = read_until(proc, lambda ls: any("got QUIT" in x for x in ls), timeout=30)
    assert any(f"{name}/app | got QUIT" in x for x in rest)
    assert proc.wait(timeout=30) == 0


def test_a_missing_image_backs_off_then_starts_once_pushed(mp: Minipod, registry: Registry,
                                                           tmp_path: Path) -> None:
    name = unique_name("late")
    ref = f"{registry.host}/test/late-{name}:1"
    out = mp.run("up", "-d", "--backoff", "1s:2s",
                 str(mp.manifest(pod_yaml(name, ref, command=["sleep", "3600"]))))
    assert out.returncode == 0, out.stderr
    assert "is not present" in out.stderr and "pulled when the pod starts" in out.stderr
    wait_for(lambda: container_state(mp, name) == ("waiting", "ErrImagePull"), 20,
             "ErrImagePull")
    wait_for(lambda: container_state(mp, name) == ("waiting", "ImagePullBackOff"), 20,
             "ImagePullBackOff")
    get = mp.run("get", "pods", name).stdout
    assert "ImagePullBackOff" in get or "ErrImagePull" in get
    messages = [(e["type"], e["reason"], e["message"]) for e in events(mp, name)]
    assert ("Normal", "Pulling", f'Pulling image "{ref}"') in messages
    assert any(r == "Failed" and m.startswith(f'Failed to pull image "{ref}": ')
               and "manifest unknown" in m for _, r, m in messages)
    assert ("Warning", "Failed", "Error: ErrImagePull") in messages
    assert ("Normal", "BackOff", f'Back-off pulling image "{ref}"') in messages
    assert ("Warning", "Failed", "Error: ImagePullBackOff") in messages
    # the image appears: the next try pulls it and the container starts
    push_app(registry, tmp_path, f"test/late-{name}:1", {"Cmd": ["sh"]})
    mp.wait_running(name, ["app"], timeout=30)
    assert any(e["reason"] == "Pulled" and "Successfully pulled" in e["message"]
               for e in events(mp, name))
    assert mp.run("delete", "pod", name, "--grace-period", "0").returncode == 0


def test_pull_policy_never_waits_with_err_image_never_pull(mp: Minipod, registry: Registry,
                                                           tmp_path: Path) -> None:
    name = unique_name("never")
    ref = f"{registry.host}/test/never:1"
    out = mp.run("validate", str(mp.manifest(pod_yaml(name, ref, policy="Never"))))
    assert out.returncode == 0
    assert "is not present" in out.stderr and "will not start (imagePullPolicy Never)" in out.stderr
    out = mp.run("up", "-d", "--backoff", "1s:2s",
                 str(mp.manifest(pod_yaml(name, ref, policy="Never"))))
    assert out.returncode == 0, out.stderr
    wait_for(lambda: container_state(mp, name) == ("waiting", "ErrImageNeverPull"), 20,
             "ErrImageNeverPull")
    messages = [(e["reason"], e["message"]) for e in events(mp, name)]
    assert ("ErrImageNeverPull",
            f'Container image "{ref}" is not present with pull policy of Never') in messages
    assert not any(r == "Pulling" for r, _ in messages)
    assert mp.run("delete", "pod", name, "--grace-period", "0").returncode == 0


def test_always_pulls_before_every_start_and_fetches_nothing_new(
        mp: Minipod, registry: Registry, tmp_path: Path) -> None:
    image = push_app(registry, tmp_path, "test/always:latest", {"Cmd": ["sh", "-c", "sleep 0.3"]})
    name = unique_name("always")
    out = mp.run("up", "-d", "--backoff", "0:0", str(mp.manifest(pod_yaml(name, image))))
    assert out.returncode == 0, out.stderr

    def pulled_twice() -> bool:
        return sum(e["reason"] == "Pulled" for e in events(mp, name)) >= 2

    wait_for(pulled_twice, 30, "two pulls")
    reasons = [e["reason"] for e in events(mp, name)]
    assert reasons.count("Pulling") >= 2  # `image: X` without a tag: Always
    layers = list((mp.images / "layers").iterdir())
    assert len(layers) == 2  # pulled again, fetched nothing new
    assert mp.run("delete", "pod", name, "--grace-period", "0").returncode == 0


def test_a_locally_built_image_is_not_pulled_for_always(mp: Minipod) -> None:
    assert mp.run("image", "build-busybox").returncode == 0
    name = unique_name("local")
    out = mp.run("up", "-d", str(mp.manifest(pod_yaml(name, "busybox",
                                                      command=["sleep", "3600"]))))
    assert out.returncode == 0, out.stderr
    mp.wait_running(name, ["app"])
    messages = [(e["reason"], e["message"]) for e in events(mp, name)]
    assert ("Pulled", 'Container image "busybox" already present on machine') in messages
    assert not any(r == "Pulling" for r, _ in messages)
    assert mp.run("delete", "pod", name, "--grace-period", "0").returncode == 0
