"""minipod.cli.main: which command lines take the fast path, what goes over the
socket, and how the answers are printed, against a stand-in supervisor."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minipod.cli import main as quick


class FakeSupervisor:
    """Answers each connection on daemon.sock with the next canned reply and
    keeps the requests it got."""

    def __init__(self, root: Path, replies: list[dict[str, Any]]) -> None:
        (root / "supervisors").mkdir(parents=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(root / "supervisors" / "daemon.sock"))
        self.server.listen(8)
        self.replies = replies
        self.requests: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for reply in self.replies:
            conn, _ = self.server.accept()
            with conn, conn.makefile("rb") as lines:
                self.requests.append(json.loads(lines.readline()))
                conn.sendall(json.dumps(reply).encode() + b"\n")

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path / "state"))
    monkeypatch.setenv("MINIPOD_IMAGES", str(tmp_path / "images"))
    monkeypatch.setattr(quick.os, "geteuid", lambda: 0)
    return tmp_path / "state"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "pod.yaml"
    path.write_text('kind: Pod\nmetadata: {name: "caf\u00e9 \\"q\\""}\n')
    return path


@pytest.fixture
def supervisor(root: Path, request: pytest.FixtureRequest) -> Iterator[FakeSupervisor]:
    fake = FakeSupervisor(root, request.param)
    yield fake
    fake.close()


@pytest.mark.parametrize("argv", [
    ["up", "pod.yaml"],  # foreground
    ["up", "-d", "--backoff", "1s:2s", "pod.yaml"],
    ["up", "-d", "-d", "pod.yaml"],
    ["up", "-d", "--no-logs"],
    ["up", "-d", "pod.yaml", "--debug"],
    ["delete", "pod", "a", "-x"],
    ["delete", "pod", "a", "-n"],
    ["delete", "pod", "-n", "ns"],
    ["delete", "pod", "a", "--grace-period", "soon"],
    ["delete", "pod", "a", "--now=1"],
    ["delete", "deployment", "a"],
    ["delete", "pod"],
    ["get", "pods"],
    ["up", "-h"],
])
def test_other_command_lines_go_to_the_full_cli(root: Path, argv: list[str]) -> None:
    assert quick.fast(argv) is None


def test_not_root_goes_to_the_full_cli(root: Path, manifest: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quick.os, "geteuid", lambda: 1000)
    assert quick.fast(["up", "-d", str(manifest)]) is None


def test_no_supervisor_goes_to_the_full_cli(root: Path, manifest: Path) -> None:
    """No daemon.sock: the full CLI starts the background supervisor."""
    assert quick.fast(["up", "-d", str(manifest)]) is None
    assert quick.fast(["delete", "pod", "a"]) is None


def test_unreadable_file_goes_to_the_full_cli(root: Path, tmp_path: Path) -> None:
    assert quick.fast(["up", "-d", str(tmp_path / "none.yaml")]) is None


@pytest.mark.parametrize("supervisor", [[{"ok": True, "said": ["pod/x created"],
                                          "warnings": ["busybox:1.0: using latest"]}]],
                         indirect=True)
def test_up_detached_sends_the_text_and_prints_the_answer(
        supervisor: FakeSupervisor, manifest: Path, root: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = time.monotonic()
    assert quick.fast(["up", str(manifest), "--detach"]) == 0
    deadline = supervisor.requests[0].pop("deadline")  # past it the supervisor does nothing
    assert before + quick.APPLY_TIMEOUT <= deadline <= time.monotonic() + quick.APPLY_TIMEOUT
    assert supervisor.requests == [{
        "op": "apply", "text": manifest.read_text(), "source": str(manifest),
        "backoff": None, "images": str(root.parent / "images")}]
    out = capsys.readouterr()
    assert out.out == "pod/x created\n"
    assert out.err == "warning: busybox:1.0: using latest\n"


@pytest.mark.parametrize("supervisor", [[{"ok": False, "code": 2,
                                          "error": "f.yaml: a: bad\nf.yaml: b: worse"}]],
                         indirect=True)
def test_bad_input_is_exit_2_one_line_per_error(
        supervisor: FakeSupervisor, manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert quick.fast(["up", "-d", str(manifest)]) == 2
    assert capsys.readouterr().err == "error: f.yaml: a: bad\nerror: f.yaml: b: worse\n"


@pytest.mark.parametrize("supervisor", [[{"ok": False, "code": 1, "error": "exists already"}]],
                         indirect=True)
def test_runtime_failure_is_exit_1(supervisor: FakeSupervisor, manifest: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert quick.fast(["up", "-d", str(manifest)]) == 1
    assert capsys.readouterr().err == "error: exists already\n"


@pytest.mark.parametrize("supervisor", [[{"ok": False, "full": True}]], indirect=True)
def test_another_image_store_goes_to_the_full_cli(supervisor: FakeSupervisor,
                                                  manifest: Path) -> None:
    assert quick.fast(["up", "-d", str(manifest)]) is None


@pytest.mark.parametrize("supervisor", [[{"ok": True}, {"ok": True}]], indirect=True)
def test_delete_pods_one_request_each(supervisor: FakeSupervisor,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert quick.fast(["delete", "po", "a", "b"]) == 0
    assert [r["name"] for r in supervisor.requests] == ["a", "b"]
    assert all(r == {"op": "delete", "namespace": "default", "name": r["name"], "grace": None}
               for r in supervisor.requests)
    assert capsys.readouterr().out == 'pod "a" deleted\npod "b" deleted\n'


@pytest.mark.parametrize("supervisor", [[{"ok": True},
                                         {"ok": False, "deleting": True,
                                          "error": 'pod "b" not found in namespace "default"'}]],
                         indirect=True)
def test_a_second_delete_of_a_pod_being_deleted_is_not_found(
        supervisor: FakeSupervisor, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 15: two deletes of one pod at once: the first says deleted, the
    other NotFound (its answer says another delete is under way)."""
    assert quick.fast(["delete", "po", "a", "b"]) == 1
    out = capsys.readouterr()
    assert out.out == 'pod "a" deleted\n'
    assert out.err == 'error: pod "b" not found in namespace "default"\n'


@pytest.mark.parametrize("supervisor", [[{"ok": False, "error": "pod default/a not found"}]],
                         indirect=True)
def test_delete_of_a_pod_the_supervisor_does_not_serve_goes_to_the_full_cli(
        supervisor: FakeSupervisor) -> None:
    assert quick.fast(["delete", "pod", "a"]) is None


@pytest.mark.parametrize("supervisor", [[{"ok": True}, {"ok": False, "error": "not found"}]],
                         indirect=True)
def test_delete_hands_the_rest_to_the_full_cli(supervisor: FakeSupervisor,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    handed: list[list[str]] = []

    def full(argv: list[str]) -> int:
        handed.append(argv)
        return 1

    import minipod.cli.parser

    monkeypatch.setattr(minipod.cli.parser, "main", full)
    assert quick.fast(["delete", "pod", "a", "b", "c"]) == 1
    assert handed == [["delete", "pod", "b", "c", "-n", "default"]]
    assert capsys.readouterr().out == 'pod "a" deleted\n'


def test_the_fast_path_imports_nothing_heavy(tmp_path: Path) -> None:
    """What makes it fast: not a timing test, the list of modules loaded.
    `socket` and `json` (with `re`, `enum`, `selectors`) would double the
    interpreter's start; minipod.cli.parser pulls in argparse, yaml and the spec."""
    import subprocess
    import sys

    code = ("import sys, minipod.cli.main\n"
            "print(sorted(m for m in ('socket', 'json', 're', 'enum', 'typing', 'argparse', 'yaml',"
            " 'minipod.cli.parser', 'minipod.api.manifest') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[]\n"


# What `minipod up -d` and `delete pod` load beyond the bare interpreter, a
# request and its answer included: the socket's codec and the paths, both
# written against the C halves of the standard library.
FAST_PATH_MODULES = ["_json", "_socket", "minipod", "minipod.cli",
                     "minipod.cli.main", "minipod.kernel", "minipod.kernel.paths",
                     "minipod.server", "minipod.server.protocol"]


@pytest.mark.parametrize("supervisor", [[{"ok": True, "said": ["pod/x created"]},
                                          {"ok": True}]], indirect=True)
def test_the_fast_path_loads_only_these_modules(supervisor: FakeSupervisor, root: Path,
                                                manifest: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    code = ("import sys\nbefore = set(sys.modules)\nimport os\n"
            "os.geteuid = lambda: 0\n"
            "import minipod.cli.main as quick\n"
            "codes = [quick.fast(['up', '-d', sys.argv[1]]), quick.fast(['delete', 'pod', 'x'])]\n"
            "print(codes, sorted(set(sys.modules) - before), file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-P", "-c", code, str(manifest)], capture_output=True,
                         text=True, cwd=tmp_path, timeout=30,
                         env=dict(os.environ, MINIPOD_ROOT=str(root)))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "pod/x created\npod \"x\" deleted\n"
    assert out.stderr == f"[0, 0] {FAST_PATH_MODULES}\n"
    assert [r["op"] for r in supervisor.requests] == ["apply", "delete"]


def test_the_socket_codec_alone_loads_only_the_c_halves(tmp_path: Path) -> None:
    """minipod.server.protocol is the fast path's too: nothing but _json, _socket
    and the paths, whoever imports it."""
    import subprocess
    import sys

    code = ("import sys\nbefore = set(sys.modules)\nimport minipod.server.protocol\n"
            "print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == str(sorted(set(FAST_PATH_MODULES) - {"minipod.cli", "minipod.cli.main"}
                                    )) + "\n"


@pytest.mark.parametrize(("args", "parsed"), [
    (["a"], (["a"], "default", None)),
    (["a", "b", "-n", "ns"], (["a", "b"], "ns", None)),
    (["--namespace=ns", "a", "--grace-period", "0"], (["a"], "ns", 1)),  # 0 needs --force
    (["a", "--grace-period=5", "--now"], (["a"], "default", 1)),
    (["--now", "a"], (["a"], "default", 1)),
    (["a", "--grace-period", "-1"], (["a"], "default", None)),
])
def test_delete_options_read_as_the_full_cli_reads_them(
        args: list[str], parsed: tuple[list[str], str, int | None]) -> None:
    assert quick.delete_options(args) == parsed
    import minipod.cli.parser

    full = minipod.cli.parser.parse_command(["delete", "pod", *args])
    from minipod.cli.delete import grace_of

    assert (full.names[1:], full.namespace, grace_of(full)) == parsed


@pytest.mark.parametrize("supervisor", [[{"ok": True}, {"ok": False, "error": "not found"}]],
                         indirect=True)
def test_delete_with_options_sends_them_and_hands_them_on(
        supervisor: FakeSupervisor, monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[list[str]] = []
    import minipod.cli.parser

    monkeypatch.setattr(minipod.cli.parser, "main", lambda argv: handed.append(argv) or 0)
    assert quick.fast(["delete", "pod", "a", "b", "-n", "ns", "--now"]) == 0
    assert supervisor.requests[0] == {"op": "delete", "namespace": "ns", "name": "a",
                                      "grace": 1}
    assert handed == [["delete", "pod", "b", "-n", "ns", "--grace-period=1"]]


EXIT_NOW = ("import sys\nfrom minipod.cli import main as quick\n"
            "print('out')\nprint('err', file=sys.stderr)\n")


def test_exit_now_exits_with_the_code_after_the_output(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = EXIT_NOW + "sys.exit(100 + quick.exit_now(3))  # only if it returned\n"
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=30)
    assert (out.returncode, out.stdout, out.stderr) == (3, "out\n", "err\n")


def test_exit_now_with_its_reader_gone_exits_as_python_would(tmp_path: Path) -> None:
    """The flush fails: the interpreter's own exit says so, as without exit_now."""
    import os
    import subprocess
    import sys

    def status(tail: str) -> int:
        r, w = os.pipe()
        os.close(r)
        try:
            return subprocess.run([sys.executable, "-P", "-c", EXIT_NOW + tail], stdout=w,
                                  stderr=subprocess.DEVNULL, cwd=tmp_path, timeout=30).returncode
        finally:
            os.close(w)

    assert status("sys.exit(quick.exit_now(3))\n") == status("sys.exit(3)\n") != 3
