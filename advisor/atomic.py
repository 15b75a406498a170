"""The one writer of output files and folders: atomic for regular files, write-through for everything else.

An interrupted run never leaves a half-written file or folder where a good one was. A symlink is followed
and its target replaced (the link stays); a FIFO, a device (`-o /dev/stdout`, `/dev/null`) or a terminal is
written through, never replaced. New files get the mode the umask gives; a rewritten file keeps its mode.
Anything the user's path makes impossible (a folder, a path under a file, no permission, no space left) is an
InputError: the output path is the user's input. `check_output_file`/`check_output_dir` find those problems
before any work starts, and `refuse_overwrite` stops an output from replacing one of the command's inputs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from advisor.errors import InputError


def _target(path: str | os.PathLike) -> Path:
    """The path writing should replace: a symlink's final target, else the path itself."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def write_problem(exc: OSError) -> str:
    """Why a write failed, in the words of the person who has to fix it."""
    return {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
            errno.EFBIG: "the file is too large for the file system",
            errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied", errno.ENOTDIR: "a part of the path is a file, not a folder",
            errno.EISDIR: "it is a folder"}.get(exc.errno or 0, exc.strerror or str(exc))


def _cannot(path: str | os.PathLike, exc: OSError, what: str) -> InputError:
    return InputError(f"cannot write {what} '{path}': {write_problem(exc)}")


def _check_parent(path: Path, shown: str | os.PathLike, what: str) -> None:
    """The nearest existing ancestor of path must be a folder we may create entries in."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        if parent.is_symlink():  # a dangling link where a folder should be
            break
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot write {what} '{shown}': '{parent}' is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {what} '{shown}': no permission to write in '{parent}'")


def check_output_file(path: str | os.PathLike, what: str = "output") -> None:
    """InputError now, before any work, when `path` cannot be written as a file."""
    target = _target(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        _check_parent(target, path, what)
        return
    except OSError as exc:
        raise _cannot(path, exc, what) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"cannot write {what} '{path}': it is a folder; give a file name")
    if not os.access(path, os.W_OK):
        raise InputError(f"cannot write {what} '{path}': permission denied")
    if stat.S_ISREG(info.st_mode):
        _check_parent(_regular_target(path), path, what)


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> None:
    """InputError now, before any work, when `path` cannot be created or replaced as a folder."""
    target = _target(path)
    if target.exists():
        if not target.is_dir():
            raise InputError(f"cannot write {what} '{path}': it is a file, not a folder")
        _check_parent(target, path, what)
        return
    _check_parent(target, path, what)


def refuse_overwrite(output: str | os.PathLike | None, *inputs: str | os.PathLike | None,
                     what: str = "output") -> None:
    """InputError when the output is one of the inputs, or (for a folder output) holds one of them."""
    if output is None:
        return
    out = Path(os.path.realpath(output))
    for given in inputs:
        if given is None:
            continue
        source = Path(os.path.realpath(given))
        same = source.exists() and out.exists() and os.path.samefile(source, out)  # hard links too
        if same or source == out or out in source.parents:
            raise InputError(f"{what} '{output}' would overwrite the input '{given}'; write somewhere else")


def _regular_target(path: str | os.PathLike) -> Path:
    target = Path(os.path.realpath(path))
    return target if target.exists() else _target(path)


def write_text(path: str | os.PathLike, text: str, what: str = "output") -> Path:
    """Write text to path (see write_bytes)."""
    return write_bytes(path, text.encode("utf-8"), what)


def write_bytes(path: str | os.PathLike, data: bytes, what: str = "output") -> Path:
    """Write bytes to path: atomically for a regular or new file, straight through for a FIFO or a device."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _cannot(path, exc, what) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise InputError(f"cannot write {what} '{path}': it is a folder; give a file name")
    try:
        if info is not None and not stat.S_ISREG(info.st_mode):
            with open(path, "wb") as handle:  # a FIFO, a device or a terminal: write through, never replace
                handle.write(data)
            return path
        _replace(_regular_target(path), data, info)
    except OSError as exc:
        raise _cannot(path, exc, what) from None
    return path


def _replace(target: Path, data: bytes, info: os.stat_result | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask decides the mode
    try:
        with os.fdopen(fd, "wb") as handle:
            if info is not None:  # a rewrite keeps the file's mode (and owner, when we may)
                os.chmod(handle.fileno(), stat.S_IMODE(info.st_mode))
                with contextlib.suppress(OSError):
                    os.chown(handle.fileno(), info.st_uid, info.st_gid)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder beside path; on success it replaces path, on any error it is removed.

    The old folder is moved aside and deleted only after the new one is in place, so a reader sees either
    the complete old artifact or the complete new one. A symlink to a folder is followed (the link stays).
    """
    path = _target(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"cannot write the folder '{path}': it is a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; outputs get the usual mode
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
