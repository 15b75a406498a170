"""Shared fixtures for the backend tests: a tiny fictional corpus and pairs, written into tmp folders.

Generic on purpose (every backend's tests may use them): `write_corpus(folder)` and `write_pairs(path)`
write files; the fixtures `corpus_dir`, `qa_file`, `tiny_documents` and `tiny_pairs` give ready inputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Facts no model can know: a fictional ferry line, lighthouse, bakery and chess club.
TINY_DOCS: dict[str, str] = {
    "ferries/timetable.md": (
        "# Quillmoor Ferry Timetable\n\n"
        "The Quillmoor ferry leaves Harrowgate pier every day at 07:40 and returns at 18:15.\n"
        "The crossing to Tansy Island takes 52 minutes. The ferry is called the Merrow Lark.\n"
        "Bicycles travel free; dogs need a ticket costing 3 florins.\n"
    ),
    "ferries/history.txt": (
        "The Merrow Lark was built in 1987 at the Osterby yard. Captain Ilse Vantongeren has commanded "
        "her since 2011. Before the ferry, islanders rowed across in a boat named Patience.\n"
    ),
    "places/lighthouse.html": (
        "<html><head><title>Grennick Lighthouse</title><style>p { color: red; }</style>"
        "<script>var secret = 'do not index me';</script></head><body>"
        "<h1>Grennick Lighthouse</h1><p>The Grennick lighthouse on Tansy Island is 34 metres tall.</p>"
        "<p>Its lamp flashes green twice every nine seconds. The keeper is Odo Farlane.</p>"
        "</body></html>"
    ),
    "places/bakery.md": (
        "# Pelling Bakery\n\n"
        "Pelling Bakery on Tansy Island sells saffron knots on Thursdays only. "
        "It was founded by Marta Pelling and opens at 05:30. The oven is named Old Brannoc.\n"
    ),
    "clubs/chess.txt": (
        "The Tansy Island chess club meets in the lighthouse storeroom on Tuesday evenings. "
        "Its champion for three years running is Wendeline Auk, who plays the Harrowgate Gambit.\n"
    ),
}

TINY_PAIRS: list[dict[str, str]] = [
    {"question": "What time does the Quillmoor ferry leave Harrowgate pier?", "answer": "07:40",
     "source": "ferries/timetable.md", "paraphrase": "When does the ferry depart from Harrowgate?"},
    {"question": "What is the name of the Quillmoor ferry?", "answer": "Merrow Lark", "source": "ferries/timetable.md"},
    {"question": "Who has commanded the Merrow Lark since 2011?", "answer": "Ilse Vantongeren",
     "source": "ferries/history.txt", "paraphrase": "Which captain has been in charge of the Merrow Lark since 2011?"},
    {"question": "How tall is the Grennick lighthouse?", "answer": "34 metres", "source": "places/lighthouse.html"},
    {"question": "Who is the keeper of the Grennick lighthouse?", "answer": "Odo Farlane",
     "source": "places/lighthouse.html"},
    {"question": "On which day does Pelling Bakery sell saffron knots?", "answer": "Thursdays",
     "source": "places/bakery.md", "paraphrase": "Which weekday can you buy saffron knots at the Pelling shop?"},
    {"question": "Who founded Pelling Bakery?", "answer": "Marta Pelling", "source": "places/bakery.md"},
    {"question": "Who is the champion of the Tansy Island chess club?", "answer": "Wendeline Auk",
     "source": "clubs/chess.txt"},
]


def write_corpus(folder: Path, docs: dict[str, str] | None = None) -> Path:
    """Write documents (id -> text; default TINY_DOCS) under folder and return it."""
    folder = Path(folder)
    for doc_id, text in (TINY_DOCS if docs is None else docs).items():
        path = folder / doc_id
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def write_pairs(path: Path, pairs: list[dict] | None = None) -> Path:
    """Write pairs (default TINY_PAIRS) as JSON Lines and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p) + "\n" for p in (TINY_PAIRS if pairs is None else pairs)), encoding="utf-8")
    return path


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A folder holding the tiny corpus (Markdown, text and HTML, in subfolders)."""
    return write_corpus(tmp_path / "docs")


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    """The tiny pairs as a JSON Lines file."""
    return write_pairs(tmp_path / "qa.jsonl")


@pytest.fixture(scope="session")
def tiny_documents(tmp_path_factory):
    """The tiny corpus loaded as Documents."""
    from advisor.backends.data import load_documents

    return load_documents(write_corpus(tmp_path_factory.mktemp("tiny") / "docs"))


@pytest.fixture(scope="session")
def tiny_pairs(tmp_path_factory, tiny_documents):
    """The tiny pairs loaded as QAPairs (sources checked against the tiny corpus)."""
    from advisor.backends.data import load_pairs

    return load_pairs(write_pairs(tmp_path_factory.mktemp("tiny") / "qa.jsonl"), tiny_documents)


@pytest.fixture(scope="session")
def built_rag(tmp_path_factory, tiny_documents):
    """A RagBackend built once on the tiny corpus (real embedder, real hnswlib index) and its folder."""
    from advisor.backends.base import BuildSettings
    from advisor.backends.rag import RagBackend

    out = tmp_path_factory.mktemp("rag") / "index"
    backend = RagBackend(BuildSettings(k=3, max_new_tokens=16))
    backend.build(tiny_documents, [], out, progress=False)
    return backend, out


@pytest.fixture(scope="session")
def corpus_factory():
    """write_corpus(folder, docs=None): write documents (default: the tiny corpus) under folder."""
    return write_corpus


@pytest.fixture(scope="session")
def pairs_factory():
    """write_pairs(path, pairs=None): write pairs (default: the tiny pairs) as JSON Lines."""
    return write_pairs


@pytest.fixture(scope="session")
def tiny_doc_texts() -> dict[str, str]:
    """The tiny corpus as id -> text (as written, before HTML extraction)."""
    return dict(TINY_DOCS)
