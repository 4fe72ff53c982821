"""minipod.api.imageref: Docker's reference grammar and Hub's name rules,
and the API server's default imagePullPolicy."""

from __future__ import annotations

import pytest

from minipod.api.imageref import ReferenceError, default_pull_policy, parse

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "key", "familiar"),
    [
        ("nginx", "docker.io/library/nginx:latest", "nginx"),
        ("nginx:1.14.2", "docker.io/library/nginx:1.14.2", "nginx"),
        ("library/nginx", "docker.io/library/nginx:latest", "nginx"),
        ("docker.io/nginx", "docker.io/library/nginx:latest", "nginx"),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1", "nginx"),
        ("user/app:2", "docker.io/user/app:2", "user/app"),
        ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", "registry.k8s.io/pause"),
        ("localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1", "localhost:5000/foo/bar"),
        ("localhost/foo", "localhost/foo:latest", "localhost/foo"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app"),
        ("[::1]:5000/app:x", "[::1]:5000/app:x", "[::1]:5000/app"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", "busybox"),
        # a tag beside a digest is ignored, as by containerd and Docker
        (f"busybox:1.36@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", "busybox"),
        ("a/b_c/d__e/f-g/h--i.j:T_a.g-1", "docker.io/a/b_c/d__e/f-g/h--i.j:T_a.g-1", "a/b_c/d__e/f-g/h--i.j"),
    ],
)
def test_parse_normalizes_as_docker(text: str, key: str, familiar: str) -> None:
    ref = parse(text)
    assert ref.key == key
    assert ref.familiar() == familiar


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("Nginx", "lowercase"),
        ("nginx:", "tag"),
        ("nginx:-x", "tag"),
        ("nginx:" + "t" * 129, "tag"),
        ("nginx@sha256:abc", "digest"),
        ("nginx@md5:" + "a" * 32, "digest"),
        ("bad//name", "component"),
        ("-lead/x", "component"),
        (" nginx", "whitespace"),
        ("a" * 256, "255"),
        ("host_x:5000/app", "host"),
    ],
)
def test_bad_references_say_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ReferenceError, match=why):
        parse(text)


def test_uppercase_first_component_is_a_registry_host() -> None:
    assert parse("Registry.Example.com/app").domain == "Registry.Example.com"


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("registry.k8s.io/pause", "Always"),
        ("nginx:1.14.2", "IfNotPresent"),
        (f"nginx@{DIGEST}", "IfNotPresent"),
        (f"nginx:latest@{DIGEST}", "IfNotPresent"),
        ("/srv/rootfs", "IfNotPresent"),  # not a reference: validation speaks of it
    ],
)
def test_default_pull_policy_is_the_api_servers(text: str, policy: str) -> None:
    assert default_pull_policy(text) == policy
