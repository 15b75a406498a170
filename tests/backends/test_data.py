"""Loading documents and pairs, and splitting pairs: every bad input is an InputError saying where."""

from __future__ import annotations

import json

import pytest

from advisor.backends.data import html_to_text, load_documents, load_pairs, split_pairs
from advisor.errors import InputError


def test_documents_are_found_recursively_with_posix_ids_and_hashes(corpus_dir, tiny_doc_texts):
    docs = load_documents(corpus_dir)
    assert [d.id for d in docs] == sorted(tiny_doc_texts)
    assert all(len(d.sha256) == 64 for d in docs)
    bakery = next(d for d in docs if d.id == "places/bakery.md")
    assert "saffron knots" in bakery.text


def test_html_text_is_extracted_without_script_style_or_tags(corpus_dir):
    page = next(d for d in load_documents(corpus_dir) if d.id.endswith(".html"))
    assert "34 metres tall" in page.text and "Odo Farlane" in page.text
    assert "secret" not in page.text and "color" not in page.text and "<" not in page.text
    assert page.text.splitlines()[0] == "Grennick Lighthouse"


def test_html_entities_and_blocks():
    assert html_to_text("<p>Fish &amp; chips</p><p>second</p>") == "Fish & chips\nsecond"


def test_empty_binary_and_undecodable_files_are_skipped_with_a_warning_naming_them(corpus_dir, tiny_doc_texts):
    (corpus_dir / "empty.md").write_text("  \n", encoding="utf-8")
    (corpus_dir / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (corpus_dir / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (corpus_dir / "image.png").write_bytes(b"\x89PNG")  # not a document type: ignored quietly
    with pytest.warns(UserWarning) as caught:
        docs = load_documents(corpus_dir)
    messages = " ".join(str(w.message) for w in caught)
    assert "empty.md" in messages and "blob.txt" in messages and "latin.txt" in messages
    assert sorted(d.id for d in docs) == sorted(tiny_doc_texts)


def test_missing_or_empty_folder_or_no_usable_document_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_documents(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no"):
        load_documents(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.md").write_text("", encoding="utf-8")
    with pytest.warns(UserWarning), pytest.raises(InputError, match="no usable document"):
        load_documents(tmp_path / "bad")


def test_pairs_load_with_blank_lines_paraphrases_and_extra_fields(tmp_path, corpus_dir):
    path = tmp_path / "qa.jsonl"
    path.write_text('\n{"question": " Q1 ", "answer": "A1", "source": "clubs/chess.txt", "tag": 3}\n\n'
                    '{"question": "Q2", "answer": "A2", "paraphrase": "Q2 again", "source": null}\n', encoding="utf-8")
    pairs = load_pairs(path, load_documents(corpus_dir))
    assert [(p.question, p.answer, p.source, p.paraphrase, p.line) for p in pairs] == [
        ("Q1", "A1", "clubs/chess.txt", None, 2), ("Q2", "A2", None, "Q2 again", 4)]


@pytest.mark.parametrize("line, expected", [
    ('{"question": "Q", "answer": ', "not valid JSON"),
    ('["Q", "A"]', "expected a JSON object"),
    ('{"answer": "A"}', "missing 'question'"),
    ('{"question": "Q"}', "missing 'answer'"),
    ('{"question": "Q", "answer": 42}', "'answer' must be a non-empty string"),
    ('{"question": "  ", "answer": "A"}', "'question' must be a non-empty string"),
    ('{"question": "Q", "answer": "A", "source": 7}', "'source' must be a string"),
])
def test_each_bad_line_names_file_and_line(tmp_path, line, expected):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "Q0", "answer": "A0"}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_pairs(path)
    assert f"{path}:3" in str(caught.value) and expected in str(caught.value)


def test_unknown_source_names_file_line_and_suggests_the_closest_document(tmp_path, corpus_dir):
    path = tmp_path / "qa.jsonl"
    path.write_text(
        json.dumps({"question": "Q", "answer": "A", "source": "places/bakery.txt"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as caught:
        load_pairs(path, load_documents(corpus_dir))
    assert f"{path}:1" in str(caught.value) and "did you mean 'places/bakery.md'" in str(caught.value)


def test_missing_or_empty_pairs_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_pairs(tmp_path / "none.jsonl")
    (tmp_path / "blank.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no question/answer pairs"):
        load_pairs(tmp_path / "blank.jsonl")


def test_split_is_deterministic_disjoint_and_sized(tiny_pairs):
    train, test = split_pairs(tiny_pairs, 0.25, seed=3)
    assert (train, test) == split_pairs(tiny_pairs, 0.25, seed=3)
    assert len(test) == 2 and len(train) == 6
    assert {p.line for p in train}.isdisjoint({p.line for p in test})
    assert split_pairs(tiny_pairs, 0.25, seed=4)[1] != test or split_pairs(tiny_pairs, 0.25, seed=5)[1] != test


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_fractions_outside_zero_one(tiny_pairs, fraction):
    with pytest.raises(InputError, match="--test-fraction"):
        split_pairs(tiny_pairs, fraction, seed=0)


def test_fixture_writers_round_trip(tmp_path, corpus_factory, pairs_factory):
    folder = corpus_factory(tmp_path / "d", {"a.md": "alpha"})
    assert [d.id for d in load_documents(folder)] == ["a.md"]
    assert len(load_pairs(pairs_factory(tmp_path / "p.jsonl"))) == 8
