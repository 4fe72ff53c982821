"""What a container's process starts with: environment, signals, fds, identity."""

from __future__ import annotations

import pytest
from podtest import Minipod, unique_name

pytestmark = pytest.mark.root


def run_pod(mp: Minipod, name: str, container: str) -> str:
    proc = mp.up(mp.manifest(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  containers:
{container}"""))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def app_lines(out: str, name: str, container: str = "app") -> list[str]:
    prefix = f"{name}/{container} | "
    return [line[len(prefix):] for line in out.splitlines() if line.startswith(prefix)]


def test_environment_defaults_and_expansion(minipod: Minipod) -> None:
    name = unique_name("env")
    out = run_pod(minipod, name, """
  - name: app
    image: busybox
    command: ["sh", "-c", "env | sort"]
    env:
    - {name: BASE, value: /srv}
    - {name: DATA, value: "$(BASE)/data"}
    - {name: LITERAL, value: "$$(BASE)"}
    - {name: MISSING, value: "$(NOPE)"}
""")
    env = dict(line.split("=", 1) for line in app_lines(out, name) if "=" in line)
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["HOSTNAME"] == name
    assert env["DATA"] == "/srv/data"
    assert env["LITERAL"] == "$(BASE)"
    assert env["MISSING"] == "$(NOPE)"


def test_signals_reset_and_no_fd_leaks(minipod: Minipod) -> None:
    name = unique_name("sig")
    out = run_pod(minipod, name, """
  - name: app
    image: busybox
    command: ["sh", "-c", "grep -E '^(SigBlk|SigIgn|CapBnd|CapEff)' /proc/self/status; ls /proc/self/fd | xargs"]
""")
    lines = dict(line.split(":\t") for line in app_lines(out, name) if ":\t" in line)
    assert lines["SigBlk"] == "0000000000000000"
    # busybox sh ignores nothing itself; CPython's SIG_IGN for SIGPIPE must not leak in
    assert int(lines["SigIgn"], 16) & (1 << (13 - 1)) == 0, "SIGPIPE still ignored"
    # the default container capability set, not the host's full set
    assert int(lines["CapBnd"], 16) == 0x00000000000005fb  # containerd 2's nine
    fds = app_lines(out, name)[-1].split()
    assert fds == ["0", "1", "2", "3"], fds  # stdio plus ls's own directory fd


def test_run_as_user_and_working_dir(minipod: Minipod) -> None:
    name = unique_name("uid")
    out = run_pod(minipod, name, """
  - name: app
    image: busybox
    workingDir: /made/for/me
    securityContext: {runAsUser: 65534}
    command: ["sh", "-c", "id -u; id -g; pwd; grep CapEff /proc/self/status"]
""")
    lines = app_lines(out, name)
    assert lines[:3] == ["65534", "65534", "/made/for/me"]
    assert lines[3].endswith("0000000000000000")  # a non-root uid has no capabilities
