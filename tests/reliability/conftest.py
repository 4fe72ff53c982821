"""The reliability suite (RELIABILITY.md): the findings of issue 15 as kernel
tests, a SIGKILL of the supervisor at every step of `up -d` and `delete`, a
soak with host-side leak accounting, a full file system and a manifest
fuzzer. Short by default (CI); MINIPOD_RELIABILITY=long for the release run,
whose figures go to $MINIPOD_RELIABILITY_REPORT (JSON) when it is set."""

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
        pytest.skip("needs root")  # conftest's gate turns this into a failure under MUST_RUN
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
    mp.delete_leftover_pods()
    assert_nothing_left(mp)


@pytest.fixture
def netpod(minipod: Minipod) -> Iterator[Minipod]:
    """`minipod` in a network namespace of the test's own with the pod
    network on (as tests/kernel/conftest.py's): at the end the daemon is
    stopped and the namespace must hold nothing but loopback."""
    name = make_netns()
    minipod.netns = name
    resolv = minipod.workdir / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    minipod.extra_env["MINIPOD_RESOLV_CONF"] = str(resolv)
    try:
        yield minipod
        minipod.delete_leftover_pods()
        stop_daemon(minipod)
        assert_netns_clean(name)
    finally:
        stop_daemon(minipod)
        remove_netns(name)
