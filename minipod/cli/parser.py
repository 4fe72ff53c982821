"""The `minipod` command: argument parsing and exit codes, no kernel logic.

Exit codes: 0 success, 1 a runtime failure, 2 bad input (a manifest or the
command line). No traceback reaches the user unless --debug is given.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from minipod.api.errors import MinipodError, SpecError

EXIT_FAILURE = 1
EXIT_USAGE = 2


def parse_command(argv: list[str] | None) -> argparse.Namespace:
    """The command line, with the words of verbs that take names anywhere
    (`delete pod --now a`, `get pods -o wide web`) put back in their list:
    argparse fills a list positional once, and would call the rest unknown."""
    parser = _parser(_verb(sys.argv[1:] if argv is None else argv))
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not getattr(args, "intermixed", False) or any(w.startswith("-") for w in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.names = [*args.names, *extra]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_command(argv)
    if args.debug or _verb(sys.argv[1:] if argv is None else argv) not in READ_ONLY:
        _log_to_stderr(args.debug)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except SpecError as e:
        for line in str(e).splitlines():  # one line per field error
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except (MinipodError, OSError) as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def _log_to_stderr(debug: bool) -> None:
    # start-up: the read-only views log nothing, and logging is 6 ms of their 65
    import logging

    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="minipod: %(name)s: %(message)s")


# The verbs each kubectl-like module registers (its register(sub)), in the
# order `minipod --help` lists them. A command builds the parser of its own
# verb's module only: importing all ten and what they import was a fifth of
# `minipod get pods` (tests/unit/test_cli_kubectl.py keeps this table true).
VERB_MODULES: dict[str, tuple[str, ...]] = {
    "apply": ("apply", "delete", "down"),
    "views": ("get", "events", "describe", "logs", "ps", "inspect", "top"),
    "exec_cmd": ("exec",),
    "workloads": ("scale",),
    "meta": ("label", "annotate"),
    "wait": ("wait",),
    "rollout": ("rollout",),
    "cp": ("cp",),
    "portforward": ("port-forward",),
    "images": ("image",),
}


# cli/views' verbs: they read the state directory and print, and log nothing
READ_ONLY = VERB_MODULES["views"]


def _verb(argv: list[str]) -> str | None:
    """The command's verb: its first word that is no option (the top-level
    options, --debug and --version, take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def _parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The whole command line's parser; with ``verb``, only that verb's module
    among the kubectl-like ones (any other word, or none: all of them, for
    help and for argparse's "invalid choice" message)."""
    parser = argparse.ArgumentParser(prog="minipod", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="log verbosely, show tracebacks")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print minipod's version and exit")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run every pod of a manifest, in the foreground")
    up.add_argument("file")
    up.add_argument("--no-logs", action="store_true", help="do not echo container output")
    up.add_argument("--backoff", type=_backoff, default=None, metavar="INITIAL:MAX",
                    help="CrashLoopBackOff delays (default 10s:300s, as the kubelet); 0:0 is off")
    up.add_argument("-d", "--detach", action="store_true",
                    help="return once the pods are created; a background supervisor serves them")
    up.add_argument("--pod-pids-limit", type=int, default=None, metavar="N",
                    help="at most N processes in each pod (the kubelet's podPidsLimit; default "
                         "$MINIPOD_POD_PIDS_LIMIT, else -1: no limit); a background "
                         "supervisor takes $MINIPOD_POD_PIDS_LIMIT when it starts")

    recover = sub.add_parser("recover", help="start the background supervisor, which "
                             "adopts the pods of any supervisor that died")
    recover.set_defaults(handler=cmd_recover)
    # the background supervisor itself, as systemd runs it (minipod@.service)
    daemon = sub.add_parser("daemon")  # no help: not listed
    daemon.set_defaults(handler=cmd_daemon)
    up.set_defaults(handler=cmd_up)

    validate = sub.add_parser("validate", help="check a manifest without running it")
    validate.add_argument("file")
    validate.set_defaults(handler=cmd_validate)

    # the modules import nothing heavy at the top (start-up: `minipod` starts fast)
    own = [module for module, verbs in VERB_MODULES.items() if verb in verbs]
    if verb not in BUILT_IN:
        for module in own or VERB_MODULES:
            importlib.import_module(f"minipod.cli.{module}").register(sub)
    completion = sub.add_parser("completion", help="the shell completion script: "
                                "source <(minipod completion bash)")
    completion.add_argument("shell", choices=["bash", "zsh"])
    completion.set_defaults(handler=cmd_completion)
    version = sub.add_parser("version", help="print minipod's version (kubectl version)")
    version.set_defaults(handler=cmd_version)
    return parser


BUILT_IN = ("up", "recover", "daemon", "validate", "completion", "version")  # _parser's own


def version_text() -> str:
    # start-up: imported with the verb that needs it
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("minipod")
    except PackageNotFoundError:
        return "unknown"


class _Version(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"minipod {version_text()}")
        parser.exit()


def cmd_version(_args: argparse.Namespace) -> int:
    print(f"Client Version: v{version_text()}")
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    """The script shtab makes from this very parser, so it knows every verb
    and flag; generated on demand, so `minipod` itself never loads shtab."""
    # start-up: imported with the verb that needs it
    import shtab

    print(shtab.complete(_parser(), shell=args.shell))
    return 0


def _backoff(text: str) -> object:
    # start-up: imported with the verb that needs it
    from minipod.api.backoff import BackoffPolicy

    try:
        return BackoffPolicy.parse(text)
    except SpecError as e:
        raise argparse.ArgumentTypeError(e.errors[0].message) from None


def cmd_validate(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.api.manifest import load_objects

    manifest = load_objects(args.file)
    # the images: a bad reference is bad input; one not stored is a warning
    # (start-up: imported with the verb that needs it)
    from minipod.cli.up import warn_images
    from minipod.runtime.images import resolve_images, template_pod

    pods = [*manifest.pods, *map(template_pod, manifest.workloads)]
    warn_images(pods, resolve_images(pods, args.file))
    for pod in manifest.pods:
        print(f"pod/{pod.name} valid (namespace {pod.namespace}, "
              f"{len(pod.spec.init_containers)} init, {len(pod.spec.containers)} containers)")
    for workload in manifest.workloads:
        print(f"{workload.kind.lower()}.apps/{workload.name} valid (namespace "
              f"{workload.namespace}, {workload.replicas} replicas)")
    for service in manifest.services:
        ports = len(service.ports)
        print(f"service/{service.name} valid (namespace {service.namespace}, {service.type}, "
              f"{ports} port{'s' if ports != 1 else ''})")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    if args.detach:
        # start-up: imported with the verb that needs it
        from minipod.cli.up import up_detached

        if args.pod_pids_limit is not None:
            raise SpecError("--pod-pids-limit: a background supervisor's is "
                            "$MINIPOD_POD_PIDS_LIMIT, as it was when it started")

        backoff = args.backoff
        return up_detached(args.file, f"{backoff.initial}s:{backoff.maximum}s"
                           if backoff is not None else None)
    # start-up: imported with the verb that needs it
    from minipod.server import systemd

    systemd.ensure_scope()  # under systemd: in a delegated scope, before the rest loads
    # start-up: imported with the verb that needs it
    from minipod.cli.up import up

    return up(args.file, echo_logs=not args.no_logs, backoff=args.backoff,
              pod_pids_limit=args.pod_pids_limit)


def cmd_daemon(_args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.server.daemon import run_as_unit

    return run_as_unit()


def cmd_recover(_args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.cli.up import recover

    return recover()


if __name__ == "__main__":
    sys.exit(main())
