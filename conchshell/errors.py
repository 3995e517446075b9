"""User-facing errors: one line naming the file or key, exit status 2, no traceback."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable


class ConchError(Exception):
    """A problem with the user's input (a file, a parameter): reported as one line, exit 2."""


EXIT_USER_ERROR = 2


def error_lines(err: BaseException | str) -> list[str]:
    """`error: ...` lines of a message: one per line of it (a list of problems is one problem per line)."""
    lines = [line.rstrip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    return [f"error: {line}" for line in lines]


def print_error(err: BaseException | str) -> None:
    """Print `error_lines(err)` to stderr without breaking a progress bar's line (tqdm.write when tqdm is loaded)."""
    tqdm = sys.modules.get("tqdm")
    for line in error_lines(err):
        if tqdm is not None:
            tqdm.tqdm.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)


def report_errors(main: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a command's main(): a ConchError becomes `error: ...` on stderr (one line; a list of problems
    one per line) and exit status 2.

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
            print_error(err)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper
