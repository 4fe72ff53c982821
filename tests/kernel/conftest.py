"""The `minipod` fixture: private state and image directories, and a leak
check against the host after every test. `netpod`: the same, every command
in a network namespace of the test's own with the pod network on, and that
namespace checked to be left as it was made (tests/support/nettest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from nettest import assert_netns_clean, make_netns, remove_netns, stop_daemon
from podtest import Minipod, assert_nothing_left, busybox_images


@pytest.fixture
def minipod(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Minipod]:
    if os.geteuid() != 0:
        pytest.skip("needs root")  # the plugin's gate turns this into a failure under MUST_RUN
    mp = Minipod(root=tmp_path / "state", images=busybox_images(tmp_path_factory),
                 workdir=tmp_path)
    yield mp
    for proc in mp.ups:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
    mp.delete_leftover_pods()  # of `up -d` tests that failed half-way
    assert_nothing_left(mp)



@pytest.fixture
def netpod(minipod: Minipod) -> Iterator[Minipod]:
    """`minipod`, in a network namespace of the test's own, with the pod
    network on; at the end the daemon is stopped (it removes the network as
    the last user) and the namespace must hold nothing but loopback."""
    name = make_netns()
    minipod.netns = name
    # the node's resolvers, as cluster DNS and Default pods see them: a fake
    # upstream the DNS test runs on 127.0.0.1 in this namespace, or nothing
    resolv = minipod.workdir / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\nsearch example.test\n")
    minipod.extra_env["MINIPOD_RESOLV_CONF"] = str(resolv)
    try:
        yield minipod
        for proc in minipod.ups:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=40)
        minipod.delete_leftover_pods()
        stop_daemon(minipod)
        assert_netns_clean(name)
    finally:
        stop_daemon(minipod)
        remove_netns(name)
