"""The draft's LLM-free checks, passage spreading, the drafted pairs file and the evidence's provenance: no models."""

from __future__ import annotations

import json

import pytest

from advisor.backends.base import Document
from advisor.backends.chunking import Chunk
from advisor.backends.data import load_pairs
from advisor.backends.draftchecks import (
    answer_in_passage, copies_passage, foreign_names, gives_answer, near_duplicate, parse_reply, text_check,
)
from advisor.backends.draftfile import pairs_origin, read_drafted
from advisor.backends.drafting import Candidate, PassageRecord, _kept_pairs, focus_sentences, spread
from advisor.backends.evidence import verdict
from advisor.errors import InputError
from advisor.runrecords import PairsOrigin, ValidationRun, provenance_sentence

PASSAGE = ("Staff at headquarters receive a lunch stipend of EUR 9 per working day, loaded onto the badge and "
           "usable at the canteen and two nearby cafés. Passwords must be at least 14 characters long.")


def test_a_preamble_is_dropped_never_stored_as_the_question():
    parsed = parse_reply("Sure! Here is a question about the passage:\n\n**Question:** How long must a password "
                         "be?\nAnswer: at least 14 characters.")
    assert parsed is not None
    assert parsed.question == "How long must a password be?"
    assert parsed.answer == "at least 14 characters"
    assert parsed.preamble.startswith("Sure!")


@pytest.mark.parametrize("reply", [
    "Here are some questions you could ask about the passage.",  # a preamble alone (llama_index #16745)
    "Question: What is not covered by warranty?",  # no answer
    "Question: Tell me about passwords\nAnswer: 14",  # not a question
    "Answer: 14\nQuestion: How long must a password be?",  # answer before its question
])
def test_replies_without_a_question_and_its_answer_are_unparsed(reply):
    assert parse_reply(reply) is None
    assert text_check(parse_reply(reply), PASSAGE) == "unparsed"


def test_each_check_removes_what_it_names_and_a_good_pair_passes():
    def check(question, answer):
        return text_check(parse_reply(f"Question: {question}\nAnswer: {answer}"), PASSAGE)

    assert check("How much is the daily lunch stipend at headquarters?", "EUR 9 per working day") is None
    assert check("How long?", "14") == "length"
    assert check("How much is the daily lunch stipend at headquarters?", "EUR 12") == "answer_not_in_passage"
    assert check("Staff at headquarters receive a lunch stipend of EUR 9 per working day, loaded onto what?",
                 "the badge") == "copies_passage"
    assert check("Is the lunch stipend EUR 9 per working day?", "EUR 9") == "gives_answer"
    assert check("How much lunch stipend do staff at the Halden office receive?", "EUR 9") == "foreign_names"


def test_the_answer_may_differ_by_a_spelling_and_the_bounds_are_the_stated_ones():
    assert answer_in_passage("nine euros", PASSAGE)  # the answer-matching rule: nine = 9, euros = EUR
    assert answer_in_passage("14 charcters", PASSAGE)  # a typo: rapidfuzz partial_ratio >= 90
    assert not answer_in_passage("16 characters", PASSAGE)
    assert not copies_passage("How long must a password be at headquarters?", PASSAGE)
    assert gives_answer("Must passwords be 14 characters long?", "14 characters")
    assert foreign_names("How long must a Marrowind password be?", PASSAGE) == ["Marrowind"]
    assert near_duplicate("How long must a password be?", ["how long must passwords be?"])
    assert not near_duplicate("How much is the lunch stipend?", ["How long must a password be?"])


def _chunks(doc: str, count: int) -> list[Chunk]:
    text = " ".join(["word"] * 25)
    return [Chunk(doc, i, text, i * 200, i * 200 + len(text), 30) for i in range(count)]


def test_passages_are_spread_over_the_documents_deterministically_not_the_first_n():
    chunks = _chunks("a.md", 6) + _chunks("b.md", 2) + _chunks("c.md", 3)
    chunks.append(Chunk("d.md", 0, "too short to ask about", 0, 22, 5))
    order = spread(chunks, seed=3)
    assert order == spread(chunks, seed=3)
    assert {c.doc_id for c in order[:3]} == {"a.md", "b.md", "c.md"}  # one of each document first
    assert "d.md" not in {c.doc_id for c in order}  # under MIN_PASSAGE_WORDS
    assert len(order) == 11 and order != chunks[:11]
    assert spread(chunks, seed=4) != order


def test_focus_sentences_prefer_names_and_numbers_and_keep_passage_order():
    passage = ("This section is about food at work. Staff receive EUR 9 per day at the Canteen. "
               "Bring your own cup along, please.")
    assert focus_sentences(passage, 1) == ["Staff receive EUR 9 per day at the Canteen."]
    assert len(focus_sentences(passage, 5)) == 3


def _drafted(tmp_path, reviews):
    path = tmp_path / "drafted.jsonl"
    lines = [{"question": f"How many pods are in tower {i}?", "answer": "24 pods", "source": "a.md",
              "origin": "drafted", "span": [0, 10], "passage": "24 pods in", "review": r}
             for i, r in enumerate(reviews)]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_validate_reads_drafted_pairs_skips_rejected_ones_and_counts_reviews(tmp_path):
    path = _drafted(tmp_path, ["accepted", "rejected", "edited", "unreviewed"])
    pairs = load_pairs(path)
    assert [p.question for p in pairs] == ["How many pods are in tower 0?", "How many pods are in tower 2?",
                                           "How many pods are in tower 3?"]
    origin = pairs_origin(path, len(pairs))
    assert origin == PairsOrigin(drafted=3, reviewed=2, rejected=1, pairs=3)
    assert provenance_sentence(origin) == "Measured on 3 drafted pairs, 2 reviewed by a person."
    assert pairs_origin(tmp_path / "drafted.jsonl", 3) is not None
    people = tmp_path / "qa.jsonl"
    people.write_text('{"question": "Who?", "answer": "Ann"}\n', encoding="utf-8")
    assert pairs_origin(people, 1) is None


def test_all_rejected_or_a_bad_review_is_one_line(tmp_path):
    with pytest.raises(InputError, match="holds no question/answer pairs a person did not reject"):
        load_pairs(_drafted(tmp_path, ["rejected", "rejected"]))
    with pytest.raises(InputError, match=r"drafted.jsonl:1: 'review' must be one of unreviewed, accepted"):
        load_pairs(_drafted(tmp_path, ["maybe"]))
    with pytest.raises(InputError, match="not a drafted pair"):
        people = tmp_path / "qa.jsonl"
        people.write_text('{"question": "Who?", "answer": "Ann"}\n', encoding="utf-8")
        read_drafted(people)
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"question": "Who?", "answer": "Ann", "answer": "Bo", "origin": "drafted"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"twice.jsonl:1.*answer"):  # the guarded reader, as for every pairs file
        read_drafted(twice)


def test_the_verdict_says_the_pairs_were_drafted_and_warns_while_none_was_reviewed():
    run = ValidationRun(metric="answer_match", questions=22, best_measured="rag", recommended="rag", agrees=True,
                        approaches={"rag": {"status": "ok", "answers": {"answer_match": 0.5}}})
    assert "drafted" not in verdict(run)
    run.pairs_origin = PairsOrigin(drafted=40, reviewed=0, pairs=40)
    said = verdict(run)
    assert "Measured on 40 drafted pairs, 0 reviewed by a person." in said
    assert "None has been reviewed yet" in said
    run.pairs_origin = PairsOrigin(drafted=30, reviewed=30, rejected=4, pairs=40)
    said = verdict(run)
    assert "Measured on 30 drafted pairs (of 40 pairs; 10 written by people), 30 reviewed by a person." in said
    assert "None has been reviewed" not in said


def test_kept_pairs_carry_their_source_span_and_passage():
    doc = Document("a.md", "Intro. " + PASSAGE, "0")
    start = doc.text.index(PASSAGE)
    record = PassageRecord(doc_id="a.md", chunk_id=0, start=start, end=len(doc.text), seconds=1.0, candidates=[
        Candidate(reply="x", removed_by="unparsed"),
        Candidate(reply="y", question="How long must a password be?", answer="14 characters")])
    (pair,) = _kept_pairs([record], {"a.md": doc.text}, 5)
    assert pair.passage == PASSAGE and pair.span == (start, len(doc.text)) and pair.review == "unreviewed"
    assert json.loads(pair.line())["origin"] == "drafted"


def test_a_journal_whose_header_was_cut_resumes_nothing_instead_of_failing(tmp_path):
    from advisor.backends.drafting import _Journal

    journal = _Journal(tmp_path / "journal.jsonl", "abc")
    for header in ('{"key": "a', "[1, 2]\n", ""):
        journal.path.write_text(header, encoding="utf-8")
        assert journal.read() == []
    journal.start([])
    assert journal.read() == [] and journal.path.read_text(encoding="utf-8") == '{"key": "abc"}\n'
