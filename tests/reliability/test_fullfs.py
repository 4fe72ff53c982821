"""Finding 3: the state directory full (ENOSPC), read-only (EROFS), or the
supervisor out of file descriptors (EMFILE). `up` and `up -d` fail with one
line naming the path, leave nothing of the pod they were making, and the
supervisor serves its other pods on. MINIPOD_ROOT is a small tmpfs this test
mounts and unmounts."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from hostcheck import daemon_pid, pod, pod_names, report, wait_running
from podtest import Minipod, host_mounts_under, pauses_under, unique_name

pytestmark = pytest.mark.root

SLEEPER = """
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
"""


@pytest.fixture
def small_root(minipod: Minipod) -> Iterator[Minipod]:
    minipod.root.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs",
                    str(minipod.root)], check=True)
    try:
        yield minipod
        # what the minipod fixture checks after the test, checked here while
        # the state directory is still mounted
        minipod.delete_leftover_pods()
        assert pauses_under(minipod.root) == []
        assert pod_names(minipod) == []
    finally:
        subprocess.run(["umount", "--lazy", str(minipod.root)], check=True)
    assert host_mounts_under(minipod.root) == []


def fill(path: Path) -> int:
    """Write zeros to ``path`` until the file system is full; the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * (256 << 10)
        while True:
            try:
                written += f.write(chunk) or 0
            except OSError as e:
                assert e.errno == errno.ENOSPC
                break
        small = b"\0" * 512
        while True:  # the last pages
            try:
                written += f.write(small) or 0
            except OSError:
                return written


def keeper(mp: Minipod) -> dict[str, object]:
    name = unique_name("keep")
    result = mp.run("up", "-d", str(mp.manifest(pod(name, SLEEPER), "keep.yaml")))
    assert result.returncode == 0, result.stderr
    return wait_running(mp, name)


def refused_in_one_line(result: subprocess.CompletedProcess[str], root: Path, code: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert str(root) in lines[0] and f"({code})" in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_a_full_state_directory(small_root: Minipod) -> None:
    mp = small_root
    kept = keeper(mp)
    filler = mp.root / "filler"
    filled = fill(filler)
    name = unique_name("full")
    manifest = str(mp.manifest(pod(name, SLEEPER)))
    detached = mp.run("up", "-d", manifest)
    refused_in_one_line(detached, mp.root, "ENOSPC")
    foreground = mp.run("up", manifest, timeout=60)
    refused_in_one_line(foreground, mp.root, "ENOSPC")
    # nothing of the new pod is left; the supervisor serves the other one on
    assert pod_names(mp) == [kept["name"]]
    assert pauses_under(mp.root) == [kept["pause"]["pid"]]  # type: ignore[index]
    assert not (mp.root / "staging").exists() or not any((mp.root / "staging").iterdir())
    assert daemon_pid(mp) is not None
    app = kept["containers"]["app"]["pid"]  # type: ignore[index]
    assert psutil.Process(app).status() != psutil.STATUS_ZOMBIE
    listed = mp.run("get", "pods")
    assert listed.returncode == 0 and kept["name"] in listed.stdout
    filler.unlink()
    again = mp.run("up", "-d", manifest)
    assert again.returncode == 0, again.stderr
    wait_running(mp, name)
    assert mp.run("delete", "pod", name, kept["name"], "--grace-period", "0").returncode == 0
    report("full file system", {"bytes_filled": filled, "up_-d": "exit 1, one line (ENOSPC)",
                                "up": "exit 1, one line (ENOSPC)", "left_behind": 0,
                                "other_pod_served": True})


def test_a_read_only_state_directory(small_root: Minipod) -> None:
    mp = small_root
    kept = keeper(mp)
    # The supervisor's own files are open for writing, so the whole state
    # directory cannot be remounted read-only under it; where a pod's
    # directory is first made (staging/) can.
    staging = mp.root / "staging"
    staging.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(staging)],
                   check=True)
    try:
        result = mp.run("up", "-d", str(mp.manifest(pod(unique_name("ro"), SLEEPER))))
    finally:
        subprocess.run(["umount", str(staging)], check=True)
    refused_in_one_line(result, mp.root, "EROFS")
    assert pod_names(mp) == [kept["name"]]
    assert pauses_under(mp.root) == [kept["pause"]["pid"]]  # type: ignore[index]
    assert mp.run("delete", "pod", str(kept["name"]), "--grace-period", "0").returncode == 0


def test_a_supervisor_out_of_file_descriptors(minipod: Minipod) -> None:
    mp = minipod
    kept = keeper(mp)
    supervisor = daemon_pid(mp)
    assert supervisor is not None
    process = psutil.Process(supervisor)
    limits = process.rlimit(resource.RLIMIT_NOFILE)
    # room for the client's connection and a few more, not for a pod
    process.rlimit(resource.RLIMIT_NOFILE, (process.num_fds() + 4, limits[1]))
    try:
        result = mp.run("up", "-d", str(mp.manifest(pod(unique_name("fds"), SLEEPER))))
    finally:
        process.rlimit(resource.RLIMIT_NOFILE, limits)
    assert result.returncode == 1, result.stdout
    assert len(result.stderr.splitlines()) == 1 and "EMFILE" in result.stderr, result.stderr
    assert pod_names(mp) == [kept["name"]]
    assert pauses_under(mp.root) == [kept["pause"]["pid"]]  # type: ignore[index]
    assert os.path.exists(f"/proc/{supervisor}")
    assert mp.run("delete", "pod", str(kept["name"]), "--grace-period", "0").returncode == 0
