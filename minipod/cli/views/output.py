"""How the views' text reaches the terminal, and how their errors do."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable

from minipod.api.errors import MinipodError

EXIT_FAILURE = 1


class ViewError(MinipodError):
    """An error printed as is, without "error: " (kubectl's "Error from server ...")."""


def write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


Handler = Callable[[argparse.Namespace], int]


def handled(handler: Handler) -> Handler:
    """ViewError lines are printed as they are; a closed pipe (`| head`) is no error."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ViewError as e:
            print(str(e), file=sys.stderr)
            return EXIT_FAILURE
        except BrokenPipeError:
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            return 0

    run.__doc__ = handler.__doc__
    return run

