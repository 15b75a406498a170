"""Load the user's documents and question/answer pairs, and split the pairs; no models involved.

Light module (standard library and charset-normalizer), so every input can be checked before any model is loaded.
Documents need not be UTF-8: a byte-order mark, else UTF-8, else the encoding charset-normalizer detects, decides
how a file is read, and the build summary names the files not read as UTF-8. Binary files are skipped by name.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import random
import warnings
from html.parser import HTMLParser
from pathlib import Path

from advisor.backends.base import Document, QAPair
from advisor.datafiles import parse_json
from advisor.errors import InputError, did_you_mean

REVIEWS = ("unreviewed", "accepted", "edited", "rejected")  # a drafted pair's review (see backends/draftfile.py)

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


# UTF-32 first: its little-endian mark begins with UTF-16's
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# Exports from Windows and older Unix tools: among equally clean readings, the one people most likely meant
_PREFERRED = "cp1252"


def decode(raw: bytes) -> tuple[str, str] | None:
    """(text, encoding) of a document's bytes, or None when they are not text in any encoding we can tell.

    A byte-order mark decides; else UTF-8; else the reading charset-normalizer finds cleanest. It cannot tell
    the single-byte Latin code pages apart on short text (Latin-1 'à' reads as cp1250 'ŕ' just as cleanly), so
    among the cleanest readings Windows-1252, which also reads every printable Latin-1 file, wins.
    """
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding), encoding.removesuffix("-sig")
            except UnicodeDecodeError:
                return None
    if b"\x00" in raw[:8192]:  # no text encoding without a BOM puts NUL bytes in text
        return None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    readings = from_bytes(raw)
    best = readings.best()
    if best is None:
        return None
    clean = [r for r in readings if r.chaos <= best.chaos]
    encoding = _PREFERRED if any(_PREFERRED in r.could_be_from_charset for r in clean) else best.encoding
    try:
        return raw.decode(encoding), encoding
    except UnicodeDecodeError:
        return str(best), best.encoding


def read_document(path: Path, doc_id: str) -> Document | str:
    """One document from a file, or why it was skipped: a key of _WHY."""
    raw = path.read_bytes()
    if not raw.strip():
        return "empty"
    decoded = decode(raw)
    if decoded is None:
        return "binary"
    text, encoding = decoded
    if path.suffix.lower() in HTML_SUFFIXES:
        text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return "without text"
    return Document(id=doc_id, text=text, sha256=hashlib.sha256(raw).hexdigest(), encoding=encoding)


_WHY = {"empty": "it is empty", "binary": "it is binary, not text in any encoding we can detect",
        "without text": "it holds no text"}
_OTHER = "of another type"


def _listed(names: list[str], limit: int = 5) -> str:
    """Names for a one-line message: the first `limit`, then how many more."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def load_documents(folder: str | Path) -> list[Document]:
    """Every .txt, .md and .html document under folder (recursive), id = posix path relative to it, sorted.

    Files of other types are skipped with one warning naming them; a folder with nothing readable is an
    InputError naming the folder and what it holds.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise InputError(f"documents folder {folder} does not exist")
    if not root.is_dir():
        raise InputError(f"documents folder {folder} is not a folder")
    found = sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    wanted = ", ".join(SUFFIXES)
    documents: list[Document] = []
    skipped: dict[str, list[str]] = {}  # reason -> names
    for path in found:
        name = path.relative_to(root).as_posix()
        read = read_document(path, name) if path.suffix.lower() in SUFFIXES else _OTHER
        if isinstance(read, Document):
            documents.append(read)
        else:
            skipped.setdefault(read, []).append(name)
    if not documents:
        held = "; ".join(f"{len(names)} {why} ({_listed(names)})" for why, names in skipped.items())
        raise InputError(f"documents folder {folder} has nothing readable: "
                         f"{held or 'it is empty'}; give text documents ({wanted}), in any text encoding")
    for why, names in skipped.items():
        if why == _OTHER:
            warnings.warn(f"skipping {len(names)} file{'s' * (len(names) > 1)} in {folder} that "
                          f"{'are' if len(names) > 1 else 'is'} not {wanted}: {_listed(names)}", stacklevel=2)
            continue
        for name in names:  # the CLI shows each as one 'warning:' line
            warnings.warn(f"skipping {root / name}: {_WHY[why]}", stacklevel=2)
    return documents


def describe_documents(documents: list[Document]) -> str:
    """'3 documents' and, when some were not UTF-8, which were decoded how: for a build's summary."""
    by_encoding: dict[str, list[str]] = {}
    for doc in documents:
        if doc.encoding != "utf-8":
            by_encoding.setdefault(doc.encoding, []).append(doc.id)
    text = f"{len(documents)} document{'s' * (len(documents) != 1)}"
    if by_encoding:
        text += " (" + "; ".join(f"decoded as {enc}: {_listed(ids)}" for enc, ids in sorted(by_encoding.items()))
        text += "; the rest UTF-8)" if sum(map(len, by_encoding.values())) < len(documents) else ")"
    return text


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
    rejected = 0
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
        review = record.get("review")
        if review is not None and review not in REVIEWS:
            raise InputError(f"{where}: 'review' must be one of {', '.join(REVIEWS)}, got '{_short(str(review))}'")
        if review == "rejected":  # a person rejected this drafted pair: kept in the file, never used
            rejected += 1
            continue
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
        unrejected = " a person did not reject" if rejected else ""
        raise InputError(f"pairs file {path} holds no question/answer pairs{unrejected}")
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
