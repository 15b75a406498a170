"""User text made safe to show: values quoted and capped in messages, control characters escaped on terminals.

Every message that echoes something a user wrote goes through `show`, and every line the command line prints
for a person goes through `one_line` (errors) or `terminal_safe` (reports), so a 5 MB reply, an alias bomb,
a newline or an ESC sequence never reaches the terminal whole.
"""

from __future__ import annotations

import re
from typing import Any

SHOWN_CHARS = 40  # longest user value echoed in a message
MESSAGE_CHARS = 600  # longest error line
ELLIPSIS = "…"

# C0 and C1 control characters (ESC, CR, BEL, CSI, ...), DEL, and lone surrogates that cannot be printed
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_LAYOUT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    char = match.group(0)
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char, f"\\x{ord(char):02x}" if ord(char) < 256
                                                   else f"\\u{ord(char):04x}")


def cap(text: str, limit: int = SHOWN_CHARS) -> str:
    """text cut to `limit` characters, ending in '…' when cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def brief(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A short rendering of any value, never building more than about `limit` characters (safe for alias bombs)."""
    import reprlib

    if isinstance(value, str):
        return value
    short = reprlib.Repr()
    short.maxstring = short.maxother = limit
    short.maxlevel, short.maxlist, short.maxdict, short.maxtuple, short.maxset = 2, 4, 4, 4, 4
    return short.repr(value)


def show(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A user-supplied value for a one-line message: 'text' quoted, other values as written; capped and escaped."""
    text = cap(_CONTROL.sub(_escape, brief(value, limit)), limit)
    return f"'{text}'" if isinstance(value, str) else text


def one_line(message: str, limit: int = MESSAGE_CHARS) -> str:
    """A message as one printable line: newlines and control characters escaped, capped at `limit`."""
    return cap(_CONTROL.sub(_escape, str(message)), limit)


def terminal_safe(text: str) -> str:
    """Text for a terminal or a Markdown file: line breaks and tabs kept, every other control character escaped."""
    return _CONTROL_BUT_LAYOUT.sub(_escape, text)
