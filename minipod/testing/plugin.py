"""The pytest plugin (entry point ``pytest11``: loaded wherever minipod is installed).

Fixtures:

- ``minipod_images``: an image store of the session, with busybox built in.
- ``minipod_node``: one Node for the session (its supervisor started once,
  about 0.2 s), pods on loopback only; stopped at the end.
- ``pod``: a factory, ``pod(*containers, **pod_options)`` or
  ``pod(manifest)``, returning a Pod handle (``ready=True`` waits for
  Ready); ``pod.apply(...)`` takes any manifest. Whatever it made is
  deleted after the test, failed or not, and then the host is checked for
  anything left (leaks.py): a leak is an error of that test.
- ``minipod_network``: a Node of its own in a network namespace the fixture
  made, with the pod network on (Services, pod addresses); after the test,
  its supervisor is stopped and the namespace must hold nothing but
  loopback, then it is removed.

The gate: a test marked ``minipod`` (or one of the markers listed in the
ini option ``minipod_gate_markers``), or using one of these fixtures, is
skipped with the reason where the host cannot run pods (not root, no pid or
mount namespaces); with MINIPOD_TESTS_MUST_RUN=1 (CI) it fails instead, so
a machine that cannot run it never passes silently (bubblewrap's
BWRAP_MUST_WORK).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minipod.kernel.image import build_busybox, lookup
from minipod.testing import build
from minipod.testing.network import NetworkNamespace
from minipod.testing.node import Applied, Manifest, Node
from minipod.testing.objects import Json, NodeCore, Pod

MUST_RUN_VARIABLE = "MINIPOD_TESTS_MUST_RUN"


def cannot_run_pods() -> str | None:
    """Why this host cannot run pods, or None."""
    if os.geteuid() != 0:
        return "needs root (namespaces, mounts)"
    for ns in ("pid_for_children", "mnt", "net", "uts", "ipc"):
        if not os.path.exists(f"/proc/self/ns/{ns}"):
            return f"the kernel has no {ns.removesuffix('_for_children')} namespaces"
    return None


def must_run() -> bool:
    return os.environ.get(MUST_RUN_VARIABLE) == "1"


def gate() -> None:
    """Skip (or, under MINIPOD_TESTS_MUST_RUN=1, fail) where pods cannot run."""
    reason = cannot_run_pods()
    if reason is None:
        return
    if must_run():
        pytest.fail(f"{MUST_RUN_VARIABLE}=1 but this test cannot run here: {reason}")
    pytest.skip(reason)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("minipod_gate_markers", "markers of tests that need a host that can run "
                  "pods (skipped elsewhere, failed under MINIPOD_TESTS_MUST_RUN=1)",
                  type="linelist", default=["minipod"])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "minipod: runs real pods (needs root and namespaces; "
                            "fails instead of skipping under MINIPOD_TESTS_MUST_RUN=1)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    markers = item.config.getini("minipod_gate_markers")
    if any(item.get_closest_marker(name) is not None for name in markers):
        gate()


@pytest.fixture(scope="session")
def minipod_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session's image store, busybox built in."""
    gate()
    images = tmp_path_factory.mktemp("minipod-images")
    core = NodeCore(images, images, {"MINIPOD_IMAGES": str(images)})
    with core.environ():
        if lookup("busybox") is None:
            build_busybox()
    return images


@pytest.fixture(scope="session")
def minipod_node(tmp_path_factory: pytest.TempPathFactory,
                 minipod_images: Path) -> Iterator[Node]:
    """The session's Node: pods on loopback only."""
    base = tmp_path_factory.mktemp("minipod-node")
    node = Node(base / "state", minipod_images, base / "logs")
    with node:
        yield node
    node.assert_no_leaks(final=True)


class PodFactory:
    """The ``pod`` fixture: makes pods (and any object) on the session's
    Node, all deleted after the test."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def __call__(self, *containers_or_manifest: Json | Manifest, ready: bool = False,
                 timeout: float = 30.0, **pod_options: Any) -> Pod:
        """A pod of container dicts (build.container) and PodSpec options
        (build.pod's), or of one manifest (text, dict, file); its handle."""
        first = containers_or_manifest[0] if containers_or_manifest else None
        if isinstance(first, dict) and "kind" not in first:
            manifest: Manifest = build.pod(*containers_or_manifest, **pod_options)  # type: ignore[arg-type]
        else:
            assert len(containers_or_manifest) == 1 and not pod_options, \
                "pod(manifest) takes one manifest and no pod options"
            manifest = first  # type: ignore[assignment]
        return self.node.create_pod(manifest, ready=ready, timeout=timeout)

    def apply(self, *manifests: Manifest, backoff: str | None = None) -> Applied:
        return self.node.apply(*manifests, backoff=backoff)


@pytest.fixture
def pod(minipod_node: Node) -> Iterator[PodFactory]:
    """Make pods; they are deleted after the test and the host checked."""
    with minipod_node.scope():
        yield PodFactory(minipod_node)
    minipod_node.assert_no_leaks()


@pytest.fixture
def minipod_network(tmp_path: Path, minipod_images: Path) -> Iterator[Node]:
    """A Node in a network namespace of the test's own, the pod network on."""
    netns = NetworkNamespace().create()
    try:
        node = Node(tmp_path / "state", minipod_images, tmp_path / "logs", netns=netns)
        with node:
            yield node
        # its supervisor is gone: it removed the network as the last user
        node.assert_no_leaks(final=True)
    finally:
        netns.remove()


__all__ = ["PodFactory", "cannot_run_pods", "gate", "minipod_images", "minipod_network",
           "minipod_node", "must_run", "pod"]
