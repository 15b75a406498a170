"""The one mapping from what went wrong to an exit status and one line on stderr, for every command.

2: bad input (InputError: a file, an option, an output path, a closed standard stream, standard output or
any other output on a full disk). 130: interrupted (Ctrl-C, SIGINT). 0: the reader of our output went away
(`| head`). 1: an internal fault, with the traceback only on request (--debug or ADVISOR_DEBUG=1). Messages are
one printable line, capped (`advisor.text`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
import traceback
import warnings
from collections.abc import Iterator
from typing import Any, NoReturn

import click

from advisor.atomic import write_problem
from advisor.errors import InputError
from advisor.text import one_line

BAD_INPUT, INTERRUPTED, FAULT = 2, 130, 1
# Errors of the place an output goes, not of the program: bad input (exit 2) wherever they happen
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


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


def _appending(fd: int) -> bool:
    """Whether fd was opened for appending (`>>`), where every write goes at the end whatever the offset says."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return False
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)


class _StdoutWriter(io.RawIOBase):
    """Standard output's file descriptor, written whole: a short write (a disk filling up) is retried until it
    fails, and the failure is an InputError naming standard output (Python's own unbuffered stdout, under
    PYTHONUNBUFFERED, drops what a short write leaves). When standard output is a regular file, a failed write
    cuts it back to what it held before the command, so nothing half-written is left there.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        info = os.fstat(fd)
        self._start: int | None = None  # where this command's output begins in a regular file
        if stat.S_ISREG(info.st_mode):
            self._start = info.st_size if _appending(fd) else os.lseek(fd, 0, os.SEEK_CUR)
        self._failed = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def _name(self) -> str:
        if self._start is None:
            return "standard output"
        try:
            return f"standard output '{os.readlink(f'/proc/self/fd/{self._fd}')}'"
        except OSError:
            return "standard output"

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view) and not self._failed:  # after a failure (reported once) the rest is dropped
            try:
                done += os.write(self._fd, view[done:])
            except BrokenPipeError:  # the reader went away: exit_statuses exits 0 without a word
                self._failed = True
                raise
            except OSError as exc:
                self._failed = True
                if self._start is not None:
                    with contextlib.suppress(OSError):
                        os.ftruncate(self._fd, self._start)
                raise InputError(f"cannot write {self._name()}: {write_problem(exc)}") from None
        return len(view)


def _checked_stdout() -> io.TextIOWrapper | None:
    """sys.stdout rebuilt over _StdoutWriter, or None when it is no real file (a test's capture)."""
    stream = sys.stdout
    try:
        fd = stream.fileno()
        writer = _StdoutWriter(fd)
    except (AttributeError, ValueError, OSError):
        return None
    return io.TextIOWrapper(io.BufferedWriter(writer), encoding=stream.encoding, errors=stream.errors,
                            line_buffering=bool(getattr(stream, "line_buffering", False)) or writer.isatty())


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
    stdout = sys.stdout
    try:
        check_stdout()
        checked = _checked_stdout()
        if checked is not None:
            stdout.flush()
            sys.stdout = checked
        yield
        sys.stdout.flush()  # here, so a full disk is reported like any other output error
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
        sys.stdout = stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        raise click.exceptions.Exit(0) from None
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            _fault(exc, debug)
        where = f" '{exc.filename}'" if exc.filename else ""
        _say(f"error: cannot write{where or ' an output'}: {write_problem(exc)}")
        raise click.exceptions.Exit(BAD_INPUT) from None
    except Exception as exc:  # an internal fault: one line, traceback only on request
        _fault(exc, debug)
    finally:
        warnings.showwarning = shown
        if sys.stdout is not stdout:
            with contextlib.suppress(Exception):  # what could not be written was reported above
                sys.stdout.flush()
            sys.stdout = stdout


def _fault(exc: Exception, debug: bool) -> NoReturn:
    """An internal fault: one line, the traceback only on request; exit 1."""
    if debug or os.environ.get("ADVISOR_DEBUG") == "1":
        traceback.print_exc()
    else:
        _say(f"error: internal fault: {type(exc).__name__}: {exc} "
             "(run with --debug or ADVISOR_DEBUG=1 for the traceback)")
    raise click.exceptions.Exit(FAULT) from None
