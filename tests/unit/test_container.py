"""minipod.kernel.launch: what to exec, with which environment (Kubernetes' rules)."""

from __future__ import annotations

import pytest

from minipod.api.errors import StartError
from minipod.api.model import Container, EnvVar, SecurityContext
from minipod.kernel.image import DEFAULT_PATH, Image
from minipod.kernel.launch import launch_plan, resolve_argv


def _image(
    entrypoint: tuple[str, ...] = ("/entry",),
    cmd: tuple[str, ...] = ("cmd-arg",),
    env: tuple[tuple[str, str], ...] = (),
    working_dir: str = "/",
) -> Image:
    return Image(
        ref="example:latest",
        name="example:latest",
        lowers=("/nonexistent/rootfs",),
        entrypoint=entrypoint,
        cmd=cmd,
        env=env,
        working_dir=working_dir,
    )


def _container(
    command: tuple[str, ...] | None = None,
    args: tuple[str, ...] | None = None,
    env: dict[str, str] | None = None,
    working_dir: str | None = None,
    security_context: SecurityContext | None = None,
) -> Container:
    return Container(
        name="app",
        image="example:latest",
        command=command,
        args=args,
        env=tuple(EnvVar(k, v) for k, v in (env or {}).items()),
        working_dir=working_dir,
        security_context=security_context,
    )


# ---------------------------------------------------------------------------
# argv: command/args versus ENTRYPOINT/CMD
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        # neither: ENTRYPOINT + CMD
        (None, None, ("/entry", "cmd-arg")),
        # args only: ENTRYPOINT + args, CMD dropped
        (None, ("a1", "a2"), ("/entry", "a1", "a2")),
        # command only: replaces ENTRYPOINT, CMD ignored
        (("/bin/cmd",), None, ("/bin/cmd",)),
        # both: command + args
        (("/bin/cmd", "-x"), ("a1",), ("/bin/cmd", "-x", "a1")),
    ],
)
def test_command_and_args_against_entrypoint_and_cmd(
    command: tuple[str, ...] | None, args: tuple[str, ...] | None, expected: tuple[str, ...]
) -> None:
    argv = resolve_argv(_container(command, args), _image(), {})
    assert argv == expected


def test_image_without_entrypoint_runs_cmd() -> None:
    argv = resolve_argv(_container(), _image(entrypoint=(), cmd=("sh", "-c", "true")), {})
    assert argv == ("sh", "-c", "true")


def test_args_only_without_entrypoint_runs_args() -> None:
    argv = resolve_argv(_container(args=("echo", "hi")), _image(entrypoint=()), {})
    assert argv == ("echo", "hi")


def test_nothing_to_run_is_a_start_error() -> None:
    with pytest.raises(StartError, match="no command specified") as info:
        resolve_argv(_container(), _image(entrypoint=(), cmd=()), {})
    assert "container app" in str(info.value)


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        # kubelet/containerd test len(), not nil: an empty list is "not set"
        ((), None, ("/entry", "cmd-arg")),
        (None, (), ("/entry", "cmd-arg")),
        ((), ("a1",), ("/entry", "a1")),
    ],
)
def test_empty_command_or_args_list_counts_as_unset(
    command: tuple[str, ...] | None, args: tuple[str, ...] | None, expected: tuple[str, ...]
) -> None:
    assert resolve_argv(_container(command, args), _image(), {}) == expected


def test_command_and_args_are_expanded() -> None:
    env = {"GREETING": "hello", "WHO": "world"}
    container = _container(
        command=("/bin/echo", "$(GREETING)"),
        args=("$(WHO)", "$$(WHO)", "$(UNDEFINED)"),
    )
    assert resolve_argv(container, _image(), env) == (
        "/bin/echo",
        "hello",
        "world",
        "$(WHO)",
        "$(UNDEFINED)",
    )


def test_image_entrypoint_and_cmd_are_not_expanded() -> None:
    # kubelet expands only the manifest's command and args
    # (ExpandContainerCommandAndArgs); the image's ENTRYPOINT/CMD are used by
    # the runtime as they are: `sh -c 'echo $$'` must keep its "$$".
    image = _image(entrypoint=("/bin/sh", "-c"), cmd=("echo $$ $(HOME)",))
    argv = resolve_argv(_container(), image, {"HOME": "/root"})
    assert argv == ("/bin/sh", "-c", "echo $$ $(HOME)")


# ---------------------------------------------------------------------------
# launch_plan: env, working dir, identity
# ---------------------------------------------------------------------------


def test_default_env_has_path_and_hostname() -> None:
    plan = launch_plan(_container(), _image(), "web-0", None)
    assert plan.env == {"PATH": DEFAULT_PATH, "HOSTNAME": "web-0"}


def test_image_env_overrides_defaults_and_container_env_overrides_image() -> None:
    image = _image(env=(("PATH", "/image/bin"), ("MODE", "image"), ("KEEP", "k")))
    container = _container(env={"MODE": "container", "EXTRA": "e"})
    plan = launch_plan(container, image, "web-0", None)
    assert plan.env == {
        "PATH": "/image/bin",
        "HOSTNAME": "web-0",
        "MODE": "container",
        "KEEP": "k",
        "EXTRA": "e",
    }


def test_container_can_override_hostname_and_path() -> None:
    container = _container(env={"HOSTNAME": "custom", "PATH": "/only"})
    plan = launch_plan(container, _image(env=(("PATH", "/image/bin"),)), "web-0", None)
    assert plan.env["HOSTNAME"] == "custom"
    assert plan.env["PATH"] == "/only"


def test_args_see_the_container_env() -> None:
    container = _container(
        command=("/bin/echo",),
        args=("$(FIRST)", "$(SECOND)"),
        env={"FIRST": "1", "SECOND": "$(FIRST)-2"},
    )
    plan = launch_plan(container, _image(), "web-0", None)
    assert plan.argv == ("/bin/echo", "1", "1-2")
    assert plan.env["SECOND"] == "1-2"


def test_working_dir_from_container_else_image() -> None:
    image = _image(working_dir="/srv")
    assert launch_plan(_container(), image, "h", None).working_dir == "/srv"
    assert launch_plan(_container(working_dir="/work"), image, "h", None).working_dir == "/work"


@pytest.mark.parametrize(
    ("container_ctx", "pod_ctx", "expected"),
    [
        (None, None, (None, None)),
        (None, SecurityContext(run_as_user=1000, run_as_group=2000), (1000, 2000)),
        (SecurityContext(run_as_user=1, run_as_group=2), None, (1, 2)),
        # container wins field by field; unset fields fall through to the pod
        (SecurityContext(run_as_user=5), SecurityContext(1000, 2000), (5, 2000)),
        (SecurityContext(run_as_group=7), SecurityContext(1000, 2000), (1000, 7)),
        # 0 is a value, not "unset"
        (SecurityContext(run_as_user=0, run_as_group=0), SecurityContext(1000, 2000), (0, 0)),
    ],
)
def test_run_as_user_and_group(
    container_ctx: SecurityContext | None,
    pod_ctx: SecurityContext | None,
    expected: tuple[int | None, int | None],
) -> None:
    plan = launch_plan(_container(security_context=container_ctx), _image(), "h", pod_ctx)
    assert (plan.run_as_user, plan.run_as_group) == expected
