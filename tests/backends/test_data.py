"""Loading documents and pairs, and splitting pairs: every bad input is an InputError saying where."""

from __future__ import annotations

import gzip
import json
import warnings

import pytest

from advisor.backends.data import describe_documents, html_to_text, load_documents, load_pairs, split_pairs
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


def test_empty_binary_and_other_files_are_skipped_with_a_warning_naming_them(corpus_dir, tiny_doc_texts):
    (corpus_dir / "empty.md").write_text("  \n", encoding="utf-8")
    (corpus_dir / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (corpus_dir / "packed.txt").write_bytes(gzip.compress(b"a compressed text " * 50))
    (corpus_dir / "image.png").write_bytes(b"\x89PNG")
    with pytest.warns(UserWarning) as caught:
        docs = load_documents(corpus_dir)
    messages = [str(w.message) for w in caught]
    assert sorted(d.id for d in docs) == sorted(tiny_doc_texts)
    assert any("empty.md: it is empty" in m for m in messages)
    assert sum("binary" in m and ("blob.txt" in m or "packed.txt" in m) for m in messages) == 2, messages
    assert any("is not .txt" in m and "image.png" in m for m in messages)


LATIN = "Le Café Müller à Zürich ouvre à 7 h 40; sa spécialité est la crème brûlée aux noisettes."


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16", "utf-8-sig"])
def test_documents_in_other_encodings_are_decoded_and_named(tmp_path, encoding):
    (tmp_path / "cafe.txt").write_bytes((LATIN + (" “Björk” – 5 €." if encoding == "cp1252" else "")).encode(encoding))
    (tmp_path / "plain.md").write_text("Plain text.", encoding="utf-8")
    docs = load_documents(tmp_path)
    assert docs[0].text.startswith(LATIN)
    named = {"latin-1": "cp1252", "utf-8-sig": "utf-8"}.get(encoding, encoding)
    assert [d.encoding for d in docs] == [named, "utf-8"]
    decoded = "" if named == "utf-8" else f" (decoded as {named}: cafe.txt; the rest UTF-8)"
    assert describe_documents(docs) == f"2 documents{decoded}"


def test_short_latin1_words_read_as_latin1_not_as_a_lookalike_code_page(tmp_path):
    for n, word in enumerate(["café", "Zürich", "à la carte", "Müller"]):
        (tmp_path / f"{n}.txt").write_bytes(word.encode("latin-1"))
    assert [d.text for d in load_documents(tmp_path)] == ["café", "Zürich", "à la carte", "Müller"]


def test_text_in_a_non_latin_code_page_keeps_its_code_page(tmp_path):
    (tmp_path / "ru.txt").write_bytes("Паром отправляется в семь часов сорок минут каждый день.".encode("cp1251"))
    (tmp_path / "pl.txt").write_bytes("Zażółć gęślą jaźń. Wczoraj w Łodzi padał śnieg nad Wisłą.".encode("cp1250"))
    docs = {d.id: d for d in load_documents(tmp_path)}
    assert docs["ru.txt"].text.startswith("Паром") and docs["ru.txt"].encoding == "cp1251"
    assert docs["pl.txt"].text.startswith("Zażółć") and docs["pl.txt"].encoding == "cp1250"


def test_missing_or_empty_folder_or_nothing_readable_is_one_input_error_saying_what_was_found(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_documents(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has nothing readable: it is empty"):
        load_documents(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.md").write_text("", encoding="utf-8")
    (bad / "scan.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)))
    (bad / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one error, no warnings before it
        with pytest.raises(InputError) as caught:
            load_documents(bad)
    assert str(caught.value) == (
        f"documents folder {bad} has nothing readable: 1 empty (a.md); 1 binary (photo.txt); "
        "1 of another type (scan.pdf); give text documents (.txt, .md, .markdown, .html, .htm), in any text encoding")


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
