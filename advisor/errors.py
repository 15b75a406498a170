"""Errors the command line turns into exit status 2 (bad input) with one clear message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InputError(Exception):
    """Something the user gave (a file, an answer, an option) is wrong; the message says where and what to do."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an error's message (its type's name when it has none), for a one-line report."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return " (did you mean 'x'?)" for the closest choice, or "" when none is close."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
