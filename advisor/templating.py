"""The one Jinja2 set-up of the reports and the web app's pages, and the escaping of what users wrote: HTML
autoescaped, Markdown escaped through `finalize`, so every page and report escapes the same way."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from advisor.text import terminal_safe

# `_` only where it could open or close emphasis: inside a word (snake_case) CommonMark never reads it as markup
_MD_SPECIAL = re.compile(r"([\\`*~\[\]|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")


class _Markdown(str):
    """Text already escaped for Markdown, which `escape_markdown` passes through unchanged."""


def escape_markdown(value: Any, code_spans: bool = False) -> str:
    """Escape text for Markdown (also inside tables), as one line with control characters shown as escapes.

    Markup (` * _ ~ [ ] | \\ and a leading #) is backslash-escaped and < > & become entities, so a backtick in
    what a user wrote never opens a code span. With `code_spans` (the rule base's own `commands`), a balanced
    `span` is kept as code, where nothing is markup and only the table's | is escaped.
    """
    if isinstance(value, _Markdown):
        return value
    text = terminal_safe(" ".join(("" if value is None else str(value)).split()))
    parts = []
    for n, part in enumerate(_CODE_SPAN.split(text) if code_spans else [text]):
        if n % 2:
            parts.append(part.replace("|", "\\|"))
        else:
            part = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            parts.append(_MD_SPECIAL.sub(r"\\\1", part))
    return re.sub(r"^#", r"\\#", "".join(parts))


def markdown_code_spans(value: Any) -> str:
    """Markdown filter: escape the text but keep its balanced `backticked` parts as code spans."""
    return _Markdown(escape_markdown(value, code_spans=True))


def html_code_spans(value: Any) -> Any:
    """HTML filter: escape the text, then show `backticked` parts as <code>."""
    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(value))))


def template_environment(package: str, folder: str = "", markdown: bool = False) -> Any:
    """A Jinja2 environment over a package's templates: HTML autoescaped, Markdown escaped through `finalize`.

    Shared by the reports and the web app's pages, so every page escapes what users wrote the same way.
    """
    import jinja2

    def load(name: str) -> str:
        base = resources.files(package)
        return (base.joinpath(folder) if folder else base).joinpath(name).read_text(encoding="utf-8")

    common: dict[str, Any] = {"loader": jinja2.FunctionLoader(load), "undefined": jinja2.StrictUndefined,
                              "trim_blocks": True, "lstrip_blocks": True}
    if markdown:
        return jinja2.Environment(autoescape=False, finalize=escape_markdown, keep_trailing_newline=True, **common)
    return jinja2.Environment(autoescape=True, **common)
