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
        # no securityContext: the image's user (root: the image has no
        # User) and that user's group in its /etc/passwd (none here: 0)
        (None, None, (0, 0)),
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


PASSWD = "root:x:0:0::/root:/bin/sh\nweb:x:101:102::/srv:/bin/false\nlone:x:300:300::/:/bin/sh\n"
GROUP = ("root:x:0:\nbin:x:1:root,web\nweb:x:102:web\nwww-data:x:33:web,lone\n"
         "staff:x:50:root\nlone:x:300:\n")


@pytest.mark.parametrize(
    ("image_user", "ctx", "expected"),
    [
        # the image's User by name: its primary group and those that list it
        # (its own group lists it too, and is not added twice), sorted as
        # containerd's mergeGids leaves them
        ("web", None, (101, 102, (1, 33, 102))),
        # runAsUser replaces the image's user: uid 300's name is lone; the
        # group is passwd's (containerd's WithUserID)
        ("web", SecurityContext(run_as_user=300), (300, 300, (33, 300))),
        # a uid passwd does not name has no supplementary groups; group 0
        ("web", SecurityContext(run_as_user=4000), (4000, 0, (0,))),
        # runAsGroup replaces only the primary group; the user's groups stay
        # (not web's own group, though /etc/group lists web in it)
        ("web", SecurityContext(run_as_group=7), (101, 7, (1, 7, 33))),
        # no user anywhere: uid 0's groups (root is listed in bin and staff)
        ("", None, (0, 0, (0, 1, 50))),
        # User uid:gid, the uid named in passwd
        ("101:5", None, (101, 5, (1, 5, 33))),
    ],
)
def test_supplementary_groups_come_from_the_image_group_file(
        image_user: str, ctx: SecurityContext | None,
        expected: tuple[int | None, int, tuple[int, ...]]) -> None:
    """containerd's WithAdditionalGIDs: the groups of the image's /etc/group
    that list the user (runAsUser, else the image's User, else uid 0)."""
    from minipod.api.ociimage import resolve_user

    uid, gid = resolve_user(image_user, PASSWD, GROUP) if image_user else (None, None)
    image = Image(ref="example:latest", name="example:latest", lowers=("/nonexistent",),
                  cmd=("sh",), user=image_user, uid=uid, gid=gid, etc_passwd=PASSWD,
                  etc_group=GROUP)
    plan = launch_plan(_container(security_context=ctx), image, "h", None)
    assert (plan.run_as_user, plan.run_as_group, plan.groups) == expected


def test_an_image_without_passwd_gives_a_bare_uid_group_0() -> None:
    image = Image(ref="x", name="x", lowers=("/nonexistent",), cmd=("sh",))
    plan = launch_plan(_container(security_context=SecurityContext(run_as_user=1000)),
                       image, "h", None)
    # containerd's WithUserID: a uid the image's /etc/passwd does not name
    assert (plan.run_as_user, plan.run_as_group, plan.groups) == (1000, 0, (0,))
