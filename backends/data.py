"""Load the user's documents and question/answer pairs, and split the pairs; no models involved.

Light module (standard library only), so every input can be checked before any model is loaded.
"""

from __future__ import annotations

import hashlib
import logging
import random
import warnings
from html.parser import HTMLParser
from pathlib import Path

from advisor.backends.base import Document, QAPair
from advisor.datafiles import parse_json
from advisor.errors import InputError, did_you_mean

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES

_SKIPPED_TAGS = {"script", "style", "noscript", "template", "head"}
_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
    "ol", "p", "pre", "section", "table", "td", "th", "title", "tr", "ul",
}


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML page: script/style dropped, blocks on their own lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._title: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIPPED_TAGS:
            self._skip += 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIPPED_TAGS and self._skip:
            self._skip -= 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        elif not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML page (title first), one block a line, whitespace tidied."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    body = "\n".join(line for line in lines if line)
    title = " ".join("".join(parser._title).split())
    if title and not body.startswith(title):
        body = f"{title}\n{body}" if body else title
    return body


def _skip(path: Path, why: str) -> None:
    warnings.warn(f"skipping {path}: {why}", stacklevel=3)  # the CLI shows it as one 'warning:' line


def read_document(path: Path, doc_id: str) -> Document | None:
    """One document from a file, or None (with a warning naming it) when it is empty, binary or undecodable."""
    raw = path.read_bytes()
    if not raw.strip():
        _skip(path, "it is empty")
        return None
    if b"\x00" in raw[:8192]:
        _skip(path, "it looks binary (it holds NUL bytes)")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _skip(path, f"it is not UTF-8 text (byte {exc.start})")
        return None
    if path.suffix.lower() in HTML_SUFFIXES:
        text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        _skip(path, "it holds no text")
        return None
    return Document(id=doc_id, text=text, sha256=hashlib.sha256(raw).hexdigest())


def load_documents(folder: str | Path) -> list[Document]:
    """Every .txt, .md and .html document under folder (recursive), id = posix path relative to it, sorted."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise InputError(f"documents folder {folder} does not exist")
    if not root.is_dir():
        raise InputError(f"documents folder {folder} is not a folder")
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise InputError(f"documents folder {folder} holds no {', '.join(SUFFIXES)} files")
    documents = [doc for p in files if (doc := read_document(p, p.relative_to(root).as_posix())) is not None]
    if not documents:
        raise InputError(f"documents folder {folder} holds no usable document (all {len(files)} files were skipped)")
    return documents


def _optional_text(record: dict, key: str, where: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: '{key}' must be a string, got {type(value).__name__}")
    return value.strip() or None


SPLITS = ("train", "test")


def _short(text: str, limit: int = 40) -> str:
    """A value cut for an error message, on one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _references(record: dict, where: str) -> tuple[str, ...]:
    """The pair's reference answers: 'answer' (one string) or 'answers' (a non-empty list of strings)."""
    if "answer" in record and "answers" in record:
        raise InputError(f"{where}: give either 'answer' (one reference) or 'answers' (a list), not both")
    if "answers" in record:
        refs = record["answers"]
        if not isinstance(refs, list) or not refs:
            raise InputError(f"{where}: 'answers' must be a non-empty list of strings")
        for i, ref in enumerate(refs):
            if not isinstance(ref, str) or not ref.strip():
                raise InputError(f"{where}: answers[{i}] must be a non-empty string, got {type(ref).__name__}")
        return tuple(dict.fromkeys(ref.strip() for ref in refs))
    value = record.get("answer")
    if value is None:
        raise InputError(f"{where}: missing 'answer' (expected a non-empty string, or 'answers': a list of them)")
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: 'answer' must be a non-empty string")
    return (value.strip(),)


def load_pairs(path: str | Path, documents: list[Document] | None = None) -> list[QAPair]:
    """Question/answer pairs from a JSON Lines file; with documents, every `source` must name one of them."""
    path = Path(path).expanduser()
    if not path.is_file():
        problem = "does not exist" if not path.exists() else "is not a file"
        raise InputError(f"pairs file {path} {problem}")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"pairs file {path} is not UTF-8 text (byte {exc.start})") from None
    ids = {doc.id for doc in documents} if documents is not None else None
    pairs: list[QAPair] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = parse_json(line, where)  # nesting bounded before parsing
        except InputError as exc:
            detail = str(exc).removeprefix(f"{where}: ")
            raise InputError(
                f"{where}: not valid JSON ({detail}); expected one object a line like "
                '{"question": "...", "answer": "..."}'
            ) from None
        if not isinstance(record, dict):
            raise InputError(
                f"{where}: expected a JSON object with 'question' and 'answer', got {type(record).__name__}"
            )
        question = record.get("question")
        if question is None:
            raise InputError(f"{where}: missing 'question' (expected a non-empty string)")
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"{where}: 'question' must be a non-empty string")
        references = _references(record, where)
        source = _optional_text(record, "source", where)
        if source is not None and ids is not None and source not in ids:
            raise InputError(
                f"{where}: source '{source}' is no document in the documents folder{did_you_mean(source, ids)}"
            )
        paraphrase = _optional_text(record, "paraphrase", where)
        split = _optional_text(record, "split", where)
        if split is not None and split not in SPLITS:
            raise InputError(f"{where}: 'split' must be one of {', '.join(SPLITS)}, got '{_short(split)}'")
        pairs.append(
            QAPair(
                question.strip(),
                references[0],
                source,
                paraphrase,
                number,
                references if "answers" in record else (),
                split,
            )
        )
    if not pairs:
        raise InputError(f"pairs file {path} holds no question/answer pairs")
    return pairs


def split_pairs(pairs: list[QAPair], test_fraction: float, seed: int) -> tuple[list[QAPair], list[QAPair]]:
    """Shuffle with seed and hold out round(n * test_fraction) pairs (at least 1); same seed, same split.

    When pairs carry a `split`, that split is kept as given (pairs without one train) and the fraction is unused.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"--test-fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    if len(pairs) < 2:
        raise InputError(f"need at least 2 question/answer pairs to hold some out for evaluation, got {len(pairs)}")
    if any(p.split for p in pairs):
        train = [p for p in pairs if p.split != "test"]
        test = [p for p in pairs if p.split == "test"]
        if not train or not test:
            raise InputError(
                "the pairs' 'split' fields leave no pair for "
                + ("training" if not train else "testing")
                + ': mark some pairs "train" and some "test"'
            )
        return train, test
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_test = min(len(pairs) - 1, max(1, round(len(pairs) * test_fraction)))
    test_idx = set(order[:n_test])
    train = [p for i, p in enumerate(pairs) if i not in test_idx]
    test = [pairs[i] for i in order[:n_test]]
    return train, test
