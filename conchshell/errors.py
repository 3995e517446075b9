"""User-facing errors: one line naming the file or key, exit status 2, no traceback."""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable


class ConchError(Exception):
    """A problem with the user's input (a file, a parameter): reported as one line, exit 2."""


EXIT_USER_ERROR = 2


def report_errors(main: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a command's main(): a ConchError becomes one line on stderr and exit status 2.

    `--debug` on the command line, or CONCHSHELL_DEBUG=1, re-raises so the traceback shows.
    """

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        debug = "--debug" in sys.argv or os.environ.get("CONCHSHELL_DEBUG") == "1"
        if "--debug" in sys.argv:
            sys.argv.remove("--debug")
        try:
            return int(main(*args, **kwargs) or 0)
        except ConchError as err:
            if debug:
                raise
            print(f"error: {err}", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper
