"""The pod network kept off; containers' logs, compiled seccomp programs
and the cgroups of pods made in pytest's own process kept in places of this
session's, removed at its end.

The root gate (a test marked `root` skips where it cannot run, and fails
instead under MINIPOD_TESTS_MUST_RUN=1) is minipod.testing's pytest plugin
(minipod/testing/plugin.py), which pyproject.toml points at the `root`
marker (minipod_gate_markers): minipod's own tests are its first users.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pytest

from minipod.kernel.cgroups import QOS_DIRS
from minipod.testing.leaks import cgroups_below

# The pod network is off in every test and in every `minipod` a test runs,
# so that nothing a test does can touch this machine's links, routes or
# nftables. The network tests turn it on for the processes they run inside a
# network namespace of their own (tests/support/nettest.py, and the plugin's
# minipod_network fixture).
os.environ["MINIPOD_POD_NETWORK"] = "none"


_MADE_DIRS: list[str] = []  # the session's directories, removed at its end


def pytest_configure(config: pytest.Config) -> None:
    # No test writes containers' logs to the host's /var/log/minipod: a test
    # that sets no MINIPOD_LOGS of its own gets a directory of the session's,
    # nor compiled seccomp programs to the host's /var/cache/minipod.
    for variable, prefix in (("MINIPOD_LOGS", "minipod-test-logs-"),
                             ("MINIPOD_CACHE", "minipod-test-cache-")):
        if not os.environ.get(variable):
            os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
            _MADE_DIRS.append(os.environ[variable])
    # Pods made in this process (the launcher and exec-probe tests build a
    # sandbox without a supervisor) put their cgroups below a root of the
    # session's, not the host's default /minipod (minipod.testing's nodes
    # have one each).
    if not os.environ.get("MINIPOD_CGROUP_ROOT"):
        os.environ["MINIPOD_CGROUP_ROOT"] = f"minipod-test-{uuid.uuid4().hex[:8]}"
        _MADE_DIRS.append("cgroup:" + os.environ["MINIPOD_CGROUP_ROOT"])


def pytest_unconfigure(config: pytest.Config) -> None:
    for made in _MADE_DIRS:
        if not made.startswith("cgroup:"):
            shutil.rmtree(made, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def session_cgroup_root() -> Iterator[None]:
    """At the session's end its cgroup root holds at most the QoS cgroups,
    which go with it (a supervisor removes them after its last pod; pods
    made in this process have none)."""
    yield
    name = os.environ["MINIPOD_CGROUP_ROOT"]
    if f"cgroup:{name}" not in _MADE_DIRS:
        return  # the caller's root: theirs to tidy
    qos = [d for d in QOS_DIRS.values() if d]
    left = cgroups_below(name, keep=qos)
    for directory in sorted(cgroups_below(name, include_root=True), key=len, reverse=True):
        if os.path.basename(directory) in (*qos, name):
            with contextlib.suppress(OSError):  # not empty: counted in left
                os.rmdir(directory)
    left += cgroups_below(name, include_root=True)
    assert not left, f"cgroups left below the session's root {name}: {sorted(set(left))}"
