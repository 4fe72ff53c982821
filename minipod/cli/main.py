"""The `minipod` command's entry point, and the fast path of the two commands
a pod's life is timed by: `minipod up -d FILE` and `minipod delete pod NAME...`.

When the background supervisor runs, both are one request on its control
socket, and the supervisor does the work it would do anyway: it validates the
manifest (the same SpecError, exit 2, nothing started), resolves the images
in the caller's MINIPOD_IMAGES, and starts or deletes. So this module, and
the socket's codec it uses (minipod/server/protocol.py), import only the C
halves of the standard library (_socket, _json): `import socket` and `import
json` alone would double the ~10 ms the interpreter needs to start. Anything
else (other options, no supervisor yet, not root, a pod that another
supervisor serves) goes to minipod.cli.parser, which does it all.
"""

# No `from __future__ import annotations` here: every annotation below is valid
# at run time, and the __future__ module is a tenth of a millisecond of the
# fast client's start-up (minipod/cli/main.py).
import os
import sys
import time

from minipod.kernel.paths import images_root
from minipod.server import protocol

DETACH = ("-d", "--detach")
POD = ("pod", "pods", "po")
# minipod.cli.up.APPLY_TIMEOUT: the deadline sent with `up -d` (MINIPOD_APPLY_TIMEOUT
# seconds, for a slow host or a test)
APPLY_TIMEOUT = float(os.environ.get("MINIPOD_APPLY_TIMEOUT") or 120)
ANSWER_MARGIN = 5.0  # seconds more for the answer to come back


class NoAnswer(Exception):
    """The supervisor took the request and did not answer in time."""


def main() -> int:
    argv = sys.argv[1:]
    code = fast(argv)
    if code is not None:
        return exit_now(code)
    # start-up: imported with the verb that needs it
    from minipod.cli.parser import main as full

    return full(argv)


def exit_now(code: int) -> int:
    """Exit with ``code`` at once, without the interpreter's teardown: freeing
    every module and object takes ~1.5 ms here, a tenth of the command, and
    the fast path leaves nothing behind that needs it (no atexit, no logging)
    but its buffered output, flushed here. If that flush fails (a reader
    gone), ``code`` is returned and the usual exit reports it, as it would
    have."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        return code
    os._exit(code)


def fast(argv: list[str]) -> int | None:
    """The exit code, or None when the full CLI must handle ``argv``."""
    if os.geteuid() != 0 or any(a in ("-h", "--help", "--debug") for a in argv):
        return None
    if len(argv) == 3 and argv[0] == "up" and sum(a in DETACH for a in argv[1:]) == 1:
        path = argv[2] if argv[1] in DETACH else argv[1]
        return None if path.startswith("-") else up_detached(path)
    if len(argv) >= 3 and argv[0] == "delete" and argv[1] in POD:
        parsed = delete_options(argv[2:])
        return None if parsed is None else delete_pods(*parsed)
    return None


def delete_options(  # noqa: PLR0912 - one loop over the words, as argparse reads them
        args: list[str]) -> tuple[list[str], str, int | None] | None:
    """(names, namespace, grace) of `delete pod` as minipod.cli.parser reads them
    (-n/--namespace, --grace-period, --now), or None for anything else."""
    names: list[str] = []
    namespace, grace, now = "default", None, False
    i = 0
    while i < len(args):
        arg, value = args[i], None
        if "=" in arg and arg.startswith("--"):
            arg, value = arg.split("=", 1)
        if arg in ("-n", "--namespace", "--grace-period"):
            if value is None:
                i += 1
                if i == len(args):
                    return None
                value = args[i]
            if arg == "--grace-period":
                if not value.lstrip("-").isdigit():
                    return None  # argparse says what is wrong with it
                grace = int(value)
            else:
                namespace = value
        elif arg == "--now" and value is None:
            now = True
        elif arg.startswith("-") or value is not None:
            return None
        else:
            names.append(arg)
        i += 1
    if not names or namespace.startswith("-"):
        return None
    # kubectl's rules (minipod.cli.delete.grace_of): 0 without --force is 1,
    # a negative period is the pod's own
    if now or grace == 0:
        return names, namespace, 1
    return names, namespace, None if grace is None or grace < 0 else grace


def up_detached(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, ValueError):
        return None  # the full CLI says what is wrong with the file
    try:
        answer = request({"op": "apply", "text": text, "source": path, "backoff": None,
                          "images": images_root(),
                          "deadline": time.monotonic() + APPLY_TIMEOUT},
                         APPLY_TIMEOUT + ANSWER_MARGIN)
    except NoAnswer as e:  # past its deadline the supervisor does nothing of it
        print(f"error: {e}: the request is cancelled, no pod of it was created "
              "(`minipod get pods` shows what runs)", file=sys.stderr)
        return 1
    if answer is None or answer.get("full"):
        return None  # no supervisor yet (the full CLI starts one), or another store
    for warning in _lines(answer, "warnings"):
        print(f"warning: {warning}", file=sys.stderr)
    if answer.get("ok"):
        for line in _lines(answer, "said"):
            print(line)
        return 0
    error = str(answer.get("error", "the supervisor refused"))
    if answer.get("code") == 2:
        for line in error.splitlines():  # one line per field error, as minipod.cli.parser
            print(f"error: {line}", file=sys.stderr)
        return 2
    print(f"error: {error}", file=sys.stderr)
    return 1


def delete_pods(names: list[str], namespace: str = "default", grace: int | None = None
                ) -> int | None:
    """Each pod the background supervisor serves is deleted by it; from the
    first one it does not know, the full CLI takes over (it finds the pod's own
    supervisor, or stops an orphan, or says it is not found)."""
    code = 0
    for i, name in enumerate(names):
        try:
            answer = request({"op": "delete", "namespace": namespace, "name": name,
                              "grace": grace}, None)
        except NoAnswer as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        if answer is not None and answer.get("deleting"):
            # another client's delete of it is under way: that one says
            # deleted, this one NotFound, as kubectl's second delete does
            print(f"error: {answer.get('error')}", file=sys.stderr)
            code = 1
            continue
        if answer is None or not answer.get("ok"):
            if i == 0:
                return None
            sys.stdout.flush()
            # start-up: imported with the verb that needs it
            from minipod.cli.parser import main as full

            rest = ["-n", namespace] + ([] if grace is None else [f"--grace-period={grace}"])
            return full(["delete", "pod", *names[i:], *rest]) or code
        print(f'pod "{name}" deleted')
    return code


def _lines(answer: dict[str, object], key: str) -> list[str]:
    value = answer.get(key)
    return [str(line) for line in value] if isinstance(value, list) else []


def request(message: dict[str, object], timeout: float | None) -> dict[str, object] | None:
    """One request to the background supervisor and its answer; None if none
    runs, or what came back is not an answer (the full CLI then finds out);
    NoAnswer if it took the request and said nothing for ``timeout`` seconds."""
    path = protocol.daemon_socket_path()
    try:
        return protocol.exchange(path, message, timeout)
    except TimeoutError:
        raise NoAnswer(f"no answer from the supervisor at {path} within "
                       f"{timeout:g} s") from None
    except (OSError, protocol.ProtocolError):
        return None
