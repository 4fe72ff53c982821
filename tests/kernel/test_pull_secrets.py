"""imagePullSecrets against a real registry with basic auth (Debian's
docker-registry on 127.0.0.1, htpasswd): a pod pulls with the credentials of
its kubernetes.io/dockerconfigjson Secret, read at each pull; without it the
registry refuses the pull (the host has no credentials for it), with the
kubelet's FailedToRetrieveImagePullSecret warning, until the Secret is
applied."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocibuild import Layout, busybox_layer
from podtest import Minipod, assert_nothing_left, unique_name, wait_for
from registry import Registry, registries_conf, registry_missing

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    missing = registry_missing()
    if missing:
        pytest.fail(missing)
    reg = Registry(tmp_path_factory.mktemp("registry"), auth="basic")
    yield reg
    reg.close()


@pytest.fixture
def mp(tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Iterator[Minipod]:
    """A minipod with an empty image store of its own that may reach the
    registry over plain http, and no credentials of the host's for it."""
    monkeypatch.setenv("MINIPOD_REGISTRIES_CONF",
                       str(registries_conf(tmp_path / "registries.conf", [registry.host])))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "no-auth.json"))
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


def push_private(registry: Registry, tmp_path: Path, repo: str) -> str:
    layout = Layout(tmp_path / f"layout-{unique_name()}")
    layout.tag(layout.image([busybox_layer()], {
        "Cmd": ["sh", "-c", "echo pulled-with-a-secret; while :; do sleep 0.1; done"]}), "t")
    registry.push(layout.path, "t", repo)
    return f"{registry.host}/{repo}"


def secret(name: str, registry: Registry, password: str | None = None) -> dict[str, Any]:
    """What `kubectl create secret docker-registry` makes."""
    token = base64.b64encode(
        f"{registry.user}:{password or registry.password}".encode()).decode()
    config = {"auths": {registry.host: {"username": registry.user,
                                        "password": password or registry.password,
                                        "auth": token}}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode())
                     .decode()}}


def pod(name: str, image: str, secrets: list[str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"imagePullSecrets": [{"name": s} for s in secrets],
                     "containers": [{"name": "app", "image": image}],
                     "terminationGracePeriodSeconds": 5}}


def docs(*objects: dict[str, Any]) -> str:
    return "\n---\n".join(json.dumps(o) for o in objects)


def events(mp: Minipod, name: str) -> list[tuple[str, str, str]]:
    path = mp.root / "pods" / f"default_{name}" / "events.jsonl"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [(e["type"], e["reason"], e["message"]) for e in map(json.loads, lines) if e]


def waiting_reason(mp: Minipod, name: str) -> str:
    record = mp.pod_record(name)
    if record is None:
        return ""
    state = record["containerStatuses"][0]["state"]
    return str(state.get("waiting", {}).get("reason", ""))


def test_a_pod_pulls_with_the_credentials_of_its_secret(mp: Minipod, registry: Registry,
                                                        tmp_path: Path) -> None:
    image = push_private(registry, tmp_path, "team/private:1")
    name = unique_name("creds")
    proc = mp.up(mp.manifest(docs(secret(f"{name}-reg", registry),
                                  pod(name, image, [f"{name}-reg"]))))
    mp.wait_running(name, ["app"], timeout=60)
    messages = events(mp, name)
    assert ("Normal", "Pulling", f'Pulling image "{image}"') in messages
    assert any(r == "Pulled" and m.startswith(f'Successfully pulled image "{image}"')
               for _, r, m in messages), messages
    assert not any(r == "FailedToRetrieveImagePullSecret" for _, r, _ in messages)
    out = mp.run("logs", name)
    assert "pulled-with-a-secret" in out.stdout, out.stderr
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0


def test_without_its_secret_the_pull_is_refused_until_the_secret_is_applied(
        mp: Minipod, registry: Registry, tmp_path: Path) -> None:
    image = push_private(registry, tmp_path, "team/later:1")
    name = unique_name("nocreds")
    regcred = f"{name}-reg"
    out = mp.run("up", "-d", "--backoff", "1s:2s",
                 str(mp.manifest(docs(pod(name, image, [regcred])), "pod.yaml")))
    assert out.returncode == 0, out.stderr
    wait_for(lambda: waiting_reason(mp, name) in ("ErrImagePull", "ImagePullBackOff"), 30,
             "the pull to be refused")
    messages = events(mp, name)
    assert ("Warning", "FailedToRetrieveImagePullSecret",
            f"Unable to retrieve some image pull secrets ({regcred}); attempting to pull "
            "the image may not succeed.") in messages
    refused = [m for _, r, m in messages if r == "Failed" and m.startswith("Failed to pull")]
    assert refused and all("unauthorized" in m.lower() or "authentication required" in m.lower()
                           for m in refused), refused
    # a Secret with a wrong password is read at the next pull, and refused too
    wrong = mp.run("apply", "-f", str(mp.manifest(docs(secret(regcred, registry, "nope")),
                                                  "wrong.yaml")))
    assert wrong.returncode == 0, wrong.stderr

    def refused_without_warning() -> bool:
        found = events(mp, name)
        last = max(i for i, e in enumerate(found) if e[1] == "Pulling")
        return any(r == "Failed" and "Failed to pull" in m for _, r, m in found[last:]) and \
            not any(r == "FailedToRetrieveImagePullSecret" for _, r, _ in found[last - 1:])

    wait_for(refused_without_warning, 30, "a pull with the wrong password")
    assert waiting_reason(mp, name) in ("ErrImagePull", "ImagePullBackOff")
    # the right one: the next pull after the back-off starts the container
    right = mp.run("apply", "-f", str(mp.manifest(docs(secret(regcred, registry)),
                                                  "right.yaml")))
    assert right.returncode == 0, right.stderr
    mp.wait_running(name, ["app"], timeout=60)
    assert "pulled-with-a-secret" in mp.run("logs", name).stdout
    assert mp.run("delete", "pod", name, "--grace-period", "0").returncode == 0
    assert mp.run("delete", "secret", regcred).returncode == 0
