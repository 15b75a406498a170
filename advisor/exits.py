"""The one mapping from what went wrong to an exit status and one line on stderr, for every command.

2: bad input (InputError: a file, an option, an output path, a closed standard stream). 130: interrupted
(Ctrl-C, SIGINT). 0: the reader of our output went away (`| head`). 1: an internal fault, with the traceback
only on request (--debug or ADVISOR_DEBUG=1). Messages are one printable line, capped (`advisor.text`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import click

from advisor.errors import InputError
from advisor.text import one_line

BAD_INPUT, INTERRUPTED, FAULT = 2, 130, 1


def _say(message: str) -> None:
    with contextlib.suppress(Exception):  # stderr itself may be closed
        click.echo(one_line(message), err=True)


def check_stdout() -> None:
    """InputError when standard output is closed: whatever the command printed would be lost silently."""
    closed = InputError("standard output is closed; run with an open standard output (or --output FILE)")
    stream = sys.stdout
    if stream is None or getattr(stream, "closed", False):
        raise closed
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, OSError):  # not a real file (a test's capture): nothing to check
        return
    try:
        os.fstat(fd)
    except OSError:
        raise closed from None


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Warnings as one 'warning: ...' line on stderr, without the Python source line."""
    _say(f"warning: {message}")


@contextlib.contextmanager
def exit_statuses(debug: bool = False) -> Iterator[None]:
    """Run a command's body; turn its errors into click's exit of the right status, each with one line."""
    shown = warnings.showwarning
    if not debug:
        warnings.showwarning = _show_warning
    try:
        check_stdout()
        yield
    except InputError as exc:
        _say(f"error: {exc}")
        raise click.exceptions.Exit(BAD_INPUT) from None
    except (KeyboardInterrupt, click.exceptions.Abort):
        _say("interrupted")
        raise click.exceptions.Exit(INTERRUPTED) from None
    except click.exceptions.ClickException as exc:  # click prints usage errors itself; one safe line each
        exc.message = one_line(exc.message)  # type: ignore[misc]  # click's stubs mark it Final; it is a plain attribute
        raise
    except click.exceptions.Exit:
        raise
    except BrokenPipeError:  # the reader went away (e.g. `| head`): not a fault
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        raise click.exceptions.Exit(0) from None
    except Exception as exc:  # an internal fault: one line, traceback only on request
        if debug or os.environ.get("ADVISOR_DEBUG") == "1":
            traceback.print_exc()
        else:
            _say(f"error: internal fault: {type(exc).__name__}: {exc} "
                 "(run with --debug or ADVISOR_DEBUG=1 for the traceback)")
        raise click.exceptions.Exit(FAULT) from None
    finally:
        warnings.showwarning = shown
