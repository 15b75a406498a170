"""Checks of the bundled sample project's data; no models are loaded."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import yaml

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
DOCS = SAMPLE / "docs"
QA = SAMPLE / "qa.jsonl"
ANSWERS = SAMPLE / "answers.yaml"
DOC_SUFFIXES = {".md", ".txt", ".html"}

# The answers contract, format version 1 (shared/contract/answers.md).
CONTRACT = {
    "knowledge_change": ["static", "yearly", "monthly", "weekly", "daily", "realtime"],
    "external_knowledge": ["none", "some", "most"],
    "style_adaptation": ["none", "light", "strong"],
    "hallucination_cost": ["low", "medium", "high", "critical"],
    "traceability": ["none", "preferred", "required"],
    "cost_pressure": ["low", "medium", "high"],
    "ml_expertise": ["none", "some", "strong"],
    "labeled_examples": ["none", "tens", "hundreds", "thousands"],
    "data_sensitivity": ["public", "internal", "regulated"],
    "latency_budget": ["relaxed", "seconds", "subsecond"],
}


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def document_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", text)
        text = re.sub(r"(?s)<!--.*?-->", " ", text)
        text = re.sub(r"(?s)<[^>]+>", " ", text)
        text = html.unescape(text)
    return text


def documents() -> dict[str, Path]:
    return {
        p.relative_to(DOCS).as_posix(): p
        for p in sorted(DOCS.rglob("*"))
        if p.is_file() and p.suffix in DOC_SUFFIXES
    }


def load_pairs() -> list[dict]:
    pairs = []
    for number, line in enumerate(QA.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"qa.jsonl line {number} is blank"
        try:
            pair = json.loads(line)
        except json.JSONDecodeError as exc:  # pragma: no cover - failure path
            pytest.fail(f"qa.jsonl line {number} is not JSON: {exc}")
        assert isinstance(pair, dict), f"qa.jsonl line {number} is not an object"
        pair["_line"] = number
        pairs.append(pair)
    return pairs


PAIRS = load_pairs()


def test_every_line_has_question_answer_source():
    for pair in PAIRS:
        for key in ("question", "answer", "source"):
            value = pair.get(key)
            assert isinstance(value, str) and value.strip(), f"line {pair['_line']}: missing {key}"
        extra = set(pair) - {"question", "answer", "source", "paraphrase", "_line"}
        assert not extra, f"line {pair['_line']}: unexpected fields {extra}"


def test_enough_pairs_and_paraphrases():
    assert len(PAIRS) >= 60
    paraphrased = [p for p in PAIRS if "paraphrase" in p]
    assert len(paraphrased) >= 30
    for pair in paraphrased:
        assert isinstance(pair["paraphrase"], str) and pair["paraphrase"].strip()
        assert normalise(pair["paraphrase"]) != normalise(pair["question"]), f"line {pair['_line']}"


def test_answers_are_short():
    for pair in PAIRS:
        assert 1 <= len(pair["answer"].split()) <= 5, f"line {pair['_line']}: {pair['answer']!r}"


def test_no_duplicate_questions():
    seen: dict[str, int] = {}
    for pair in PAIRS:
        for text in (pair["question"], pair.get("paraphrase")):
            if text is None:
                continue
            key = normalise(text)
            assert key not in seen, f"line {pair['_line']} repeats line {seen[key]}: {text!r}"
            seen[key] = pair["_line"]


def test_sources_exist():
    docs = documents()
    for pair in PAIRS:
        assert pair["source"] in docs, f"line {pair['_line']}: no document {pair['source']!r}"


def test_answers_appear_verbatim_in_source():
    docs = documents()
    texts = {doc_id: normalise(document_text(path)) for doc_id, path in docs.items()}
    for pair in PAIRS:
        assert normalise(pair["answer"]) in texts[pair["source"]], (
            f"line {pair['_line']}: {pair['answer']!r} not in {pair['source']}"
        )


def test_every_document_is_referenced():
    used = {pair["source"] for pair in PAIRS}
    unused = set(documents()) - used
    assert not unused, f"documents without a pair: {sorted(unused)}"


def test_corpus_shape():
    docs = documents()
    assert 10 <= len(docs) <= 14
    suffixes = {path.suffix for path in docs.values()}
    assert suffixes == DOC_SUFFIXES
    assert any("/" in doc_id for doc_id in docs), "expected documents in subfolders"
    words = {doc_id: len(document_text(path).split()) for doc_id, path in docs.items()}
    for doc_id, count in words.items():
        assert 250 <= count <= 600, f"{doc_id}: {count} words"
    assert sum(words.values()) <= 6000


def test_html_document_is_a_real_page():
    for doc_id, path in documents().items():
        if path.suffix == ".html":
            raw = path.read_text(encoding="utf-8").lower()
            for tag in ("<html", "<head", "<body", "<title"):
                assert tag in raw, f"{doc_id}: missing {tag}"
            assert "<" not in document_text(path), f"{doc_id}: markup left after stripping"


def test_answers_file_follows_contract():
    data = yaml.safe_load(ANSWERS.read_text(encoding="utf-8"))
    assert data["version"] == 1
    assert isinstance(data.get("project"), str) and "Marrowind" in data["project"]
    answers = data["answers"]
    assert set(answers) == set(CONTRACT), "all ten core questions are answered"
    for question, value in answers.items():
        assert value in CONTRACT[question], f"{question}: {value!r} not in {CONTRACT[question]}"
