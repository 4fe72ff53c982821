"""`minipod exec` without a pod: the command line and the choice of container
(kubectl's defaulting and messages), from a record as pod.json holds it."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from minipod.api.errors import SpecError, StateError
from minipod.api.record import PodRecord
from minipod.cli.exec_cmd import _pick_container, _split_command
from minipod.cli.parser import _parser


def parse(*argv: str) -> tuple[argparse.Namespace, list[str]]:
    args = _parser().parse_args(["exec", *argv])
    command = _split_command(args)
    return args, command


@pytest.mark.parametrize(("argv", "options", "command"), [
    (["web", "--", "ls", "-l"], (None, "default", False, False), ["ls", "-l"]),
    (["-it", "web", "--", "sh"], (None, "default", True, True), ["sh"]),
    (["-i", "-n", "ns", "-c", "app", "web", "--", "cat"], ("app", "ns", True, False), ["cat"]),
    # options after the pod, as kubectl allows
    (["web", "-c", "app", "-n", "ns", "-t", "--", "sh", "-c", "x"],
     ("app", "ns", False, True), ["sh", "-c", "x"]),
    (["web", "--container=app", "--", "echo", "--", "x"],
     ("app", "default", False, False), ["echo", "--", "x"]),
    (["web", "--", "echo", "--"], (None, "default", False, False), ["echo", "--"]),
])
def test_command_line(argv: list[str], options: tuple[Any, ...], command: list[str]) -> None:
    args, got = parse(*argv)
    assert (args.container, args.namespace, args.stdin, args.tty) == options
    assert args.pod == "web"
    assert got == command


@pytest.mark.parametrize("argv", [["web"], ["web", "--"], ["web", "-c", "app"],
                                  ["web", "-c", "app", "--"]])
def test_a_command_is_required(argv: list[str]) -> None:
    with pytest.raises(SpecError, match="you must specify at least one command"):
        parse(*argv)


def record(annotations: dict[str, str] | None = None,
           **containers: dict[str, Any]) -> PodRecord:
    """A pod.json as a supervisor writes it, with only what the choice reads."""
    spec: dict[str, Any] = {
        "containers": [{"name": n} for n, c in containers.items() if not c.get("init")],
        "initContainers": [{"name": n} for n, c in containers.items() if c.get("init")],
    }
    meta: dict[str, Any] = {"name": "web", "annotations": annotations or {}}
    table = {name: {"id": f"x-{name}-0", "image": "busybox", "log": "/l", "rootfs": "/r",
                    **entry} for name, entry in containers.items()}
    return PodRecord.from_json({"object": {"metadata": meta, "spec": spec}, "name": "web",
                                "namespace": "default", "uid": "u", "created": 0.0,
                                "phase": "Running", "containers": table})


RUNNING = {"state": "running", "pid": 123, "startTime": 1.0}


def test_one_container_is_the_default_silently(capsys: pytest.CaptureFixture[str]) -> None:
    assert _pick_container(record(app=RUNNING), "web", None) == "app"
    assert capsys.readouterr().err == ""


def test_the_default_among_several_is_announced_as_kubectl_does(
        capsys: pytest.CaptureFixture[str]) -> None:
    rec = record(app=RUNNING, side=RUNNING,
                 setup={"state": "terminated", "reason": "Completed", "init": True})
    assert _pick_container(rec, "web", None) == "app"
    assert capsys.readouterr().err == 'Defaulted container "app" out of: app, side, setup (init)\n'
    assert _pick_container(rec, "web", "side") == "side"
    assert capsys.readouterr().err == ""


def test_the_default_container_annotation() -> None:
    rec = record({"kubectl.kubernetes.io/default-container": "side"}, app=RUNNING, side=RUNNING)
    assert _pick_container(rec, "web", None) == "side"


def test_an_unknown_or_stopped_container_is_refused() -> None:
    rec = record(app=RUNNING, done={"state": "terminated", "reason": "Error"},
                 new={"state": "waiting", "reason": "CrashLoopBackOff"})
    with pytest.raises(StateError, match=r"^container nope is not valid for pod web "
                                         r"out of: app, done, new$"):
        _pick_container(rec, "web", "nope")
    with pytest.raises(StateError, match=r"^container done is not running in pod web "
                                         r"\(terminated, Error\)$"):
        _pick_container(rec, "web", "done")
    with pytest.raises(StateError, match=r"\(waiting, CrashLoopBackOff\)$"):
        _pick_container(rec, "web", "new")
