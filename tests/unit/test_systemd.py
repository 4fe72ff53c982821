"""server/systemd.py: unit names, the commands that start a supervisor in a
cgroup systemd delegates to it, and the readiness notice."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from minipod.kernel.delegation import delegated, in_delegated_cgroup, systemd_cgroup
from minipod.server import systemd


@pytest.mark.parametrize(("path", "escaped"), [
    ("/run/minipod", "run-minipod"),
    ("/", "-"),
    ("/tmp/pytest-of-root/pytest-3/test_a0/state",
     "tmp-pytest\\x2dof\\x2droot-pytest\\x2d3-test_a0-state"),
    ("/srv/.hidden/a b", "srv-.hidden-a\\x20b"),
    ("/.x", "\\x2ex"),
])
def test_escape_path_as_systemd_escape(path: str, escaped: str) -> None:
    assert systemd.escape_path(path) == escaped


def test_the_daemon_unit_is_an_instance_of_the_shipped_template() -> None:
    assert systemd.instance_unit(Path("/run/minipod")) == "minipod@run-minipod.service"
    unit = (Path(__file__).parents[2] / "systemd" / systemd.UNIT_TEMPLATE).read_text()
    for line in ("Delegate=yes", "KillMode=process", "Type=notify",
                 "ExecStart=/usr/local/bin/minipod daemon"):
        assert f"\n{line}\n" in unit


def test_a_foreground_up_runs_again_in_a_delegated_scope() -> None:
    command = systemd.scope_command(["/venv/python", "-m", "minipod", "up", "p.yaml"], 42)
    assert command[:2] == ["systemd-run", "--scope"]
    assert "--unit=minipod-up-42" in command and "Delegate=yes" in command
    assert command[command.index("--") + 1:] == ["/venv/python", "-m", "minipod", "up", "p.yaml"]
    assert delegated("/nonexistent/system.slice/minipod-up-42.scope")
    assert delegated("/nonexistent/system.slice/minipod@run-minipod.service")
    assert not delegated("/nonexistent/system.slice/sshd.service")


def test_the_transient_supervisor_has_the_units_settings(tmp_path: Path) -> None:
    command = systemd.transient_command(tmp_path / "root", tmp_path / "daemon.log",
                                        {"MINIPOD_IMAGES": "/imgs", "HOME": "/root",
                                         "MINIPOD_ROOT": "/elsewhere"})
    text = " ".join(command)
    for setting in ("Type=notify", "Delegate=yes", "KillMode=process",
                    f"StandardOutput=append:{tmp_path}/daemon.log"):
        assert setting in text
    assert "--setenv=MINIPOD_IMAGES=/imgs" in command and "HOME" not in text
    assert [a for a in command if a.startswith("--setenv=MINIPOD_ROOT=")] == [
        f"--setenv=MINIPOD_ROOT={tmp_path}/root"]
    assert command[-4:] == [sys.executable, "-m", "minipod", "daemon"]


def test_the_environment_file_passes_minipods_settings_on(tmp_path: Path) -> None:
    path = tmp_path / "daemon.env"
    systemd.environment_file(path, {"MINIPOD_IMAGES": '/a "b"', "TERM": "x",
                                    "MINIPOD_POD_PIDS_LIMIT": "64", "MINIPOD_SCOPED": "1",
                                    "MINIPOD_SECCOMP_ROOT": "/profiles"})
    assert path.read_text() == ('MINIPOD_IMAGES="/a \\"b\\""\nMINIPOD_POD_PIDS_LIMIT="64"\n'
                                'MINIPOD_SECCOMP_ROOT="/profiles"\n')
    assert path.stat().st_mode & 0o777 == 0o600


def test_ready_is_told_on_the_notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        systemd.notify_ready()
        assert listener.recv(64) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    systemd.notify_ready()  # not started by systemd: nothing to tell
    assert os.environ.get("NOTIFY_SOCKET") is None


def test_which_cgroup_systemd_organizes() -> None:
    hybrid = "9:name=systemd:/user.slice/s.scope\n4:memory:/x\n0::/user.slice/s.scope\n"
    assert systemd_cgroup(hybrid) in ("/sys/fs/cgroup/user.slice/s.scope",  # a v2 host
                                      "/sys/fs/cgroup/systemd/user.slice/s.scope")
    assert systemd_cgroup("4:memory:/x\n") is None
    assert not in_delegated_cgroup("0::/user.slice/session-1.scope\n")
    assert in_delegated_cgroup("0::/system.slice/minipod-up-7.scope\n")
