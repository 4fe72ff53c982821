"""The pod network kept off, and containers' logs kept off the host's /var/log.

The root gate (a test marked `root` skips where it cannot run, and fails
instead under MINIPOD_TESTS_MUST_RUN=1) is minipod.testing's pytest plugin
(minipod/testing/plugin.py), which pyproject.toml points at the `root`
marker (minipod_gate_markers): minipod's own tests are its first users.
"""

from __future__ import annotations

import os
import tempfile

import pytest

# The pod network is off in every test and in every `minipod` a test runs,
# so that nothing a test does can touch this machine's links, routes or
# nftables. The network tests turn it on for the processes they run inside a
# network namespace of their own (tests/support/nettest.py, and the plugin's
# minipod_network fixture).
os.environ["MINIPOD_POD_NETWORK"] = "none"


def pytest_configure(config: pytest.Config) -> None:
    # No test writes containers' logs to the host's /var/log/minipod: a test
    # that sets no MINIPOD_LOGS of its own gets a directory of the session's.
    if not os.environ.get("MINIPOD_LOGS"):
        os.environ["MINIPOD_LOGS"] = tempfile.mkdtemp(prefix="minipod-test-logs-")
    # nor compiled seccomp programs to the host's /var/cache/minipod
    if not os.environ.get("MINIPOD_CACHE"):
        os.environ["MINIPOD_CACHE"] = tempfile.mkdtemp(prefix="minipod-test-cache-")
