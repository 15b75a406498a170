"""The web app's safety belt: security headers on every response, a bounded request body, hashed inline styles.

Pages load nothing but their own files (Content-Security-Policy `default-src 'self'`); a report page, which
carries its CSS and SVG inline so that it stays one self-contained file, gets a policy that allows exactly its
own inline styles by hash and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import AsyncIterator
from typing import Any

MAX_BODY_BYTES = 1024 * 1024  # an answers document is a few hundred bytes
DRAIN_BYTES = 64 * 1024 * 1024  # read (and drop) this much of a too-large body so the client gets the 413

PAGE_CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}

_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
_STYLE_ATTR = re.compile(r"""\sstyle="([^"]*)"|\sstyle='([^']*)'""", re.I)


class BodyTooLarge(Exception):
    """The request body is over the limit (HTTP 413)."""


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def document_csp(page: str) -> str:
    """A policy for a self-contained HTML document: its own <style> blocks and style attributes, by hash; no scripts."""
    hashes = {_hash(block) for block in _STYLE_BLOCK.findall(page)}
    hashes |= {_hash(html.unescape(a or b)) for a, b in _STYLE_ATTR.findall(page)}
    styles = " ".join(sorted(hashes)) + " 'unsafe-hashes'" if hashes else "'none'"
    return (f"default-src 'none'; style-src {styles}; img-src 'self' data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


async def read_body(stream: AsyncIterator[bytes], declared_length: str | None, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, at most `limit` bytes held in memory; BodyTooLarge beyond that (after draining a bounded
    rest)."""
    too_large = declared_length is not None and declared_length.isdigit() and int(declared_length) > limit
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            too_large = True
        if too_large:
            chunks.clear()
            if size > DRAIN_BYTES:
                break
            continue
        chunks.append(chunk)
    if too_large:
        raise BodyTooLarge(
            f"request body: larger than the limit of {limit // 1024} KB; an answers document is a few hundred bytes"
        )
    return b"".join(chunks)


class SecurityHeaders:
    """ASGI middleware: adds the page CSP (unless the response set its own) and the other safety headers."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                headers += [(k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
