"""Markers, the root gate, and the pod network kept off.

A test marked `root` needs euid 0 and real namespaces. It skips where it
cannot run, unless MINIPOD_TESTS_MUST_RUN=1 (set by CI and `make test`): then
it fails instead, so a machine that cannot run it never passes silently
(bubblewrap's BWRAP_MUST_WORK).
"""

from __future__ import annotations

import os
import tempfile

import pytest

MUST_RUN = os.environ.get("MINIPOD_TESTS_MUST_RUN") == "1"

# The pod network is off in every test and in every `minipod` a test runs,
# so that nothing a test does can touch this machine's links, routes or
# nftables. The network tests turn it on for the processes they run inside a
# network namespace of their own (tests/support/nettest.py).
os.environ["MINIPOD_POD_NETWORK"] = "none"


def pytest_configure(config: pytest.Config) -> None:
    # No test writes containers' logs to the host's /var/log/minipod: a test
    # that sets no MINIPOD_LOGS of its own gets a directory of the session's.
    if not os.environ.get("MINIPOD_LOGS"):
        os.environ["MINIPOD_LOGS"] = tempfile.mkdtemp(prefix="minipod-test-logs-")
    # nor compiled seccomp programs to the host's /var/cache/minipod
    if not os.environ.get("MINIPOD_CACHE"):
        os.environ["MINIPOD_CACHE"] = tempfile.mkdtemp(prefix="minipod-test-cache-")


def cannot_run_as_root() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.exists("/proc/self/ns/pid_for_children"):
        return "the kernel has no pid namespaces"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "root" not in item.keywords:
        return
    reason = cannot_run_as_root()
    if reason is None:
        return
    if MUST_RUN:
        pytest.fail(f"MINIPOD_TESTS_MUST_RUN=1 but this kernel test cannot run: {reason}")
    pytest.skip(reason)

