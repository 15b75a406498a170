"""The answer-matching rule against a person: the hand-labelled responses of real runs (data/README.md).

These pin the rule's agreement so that a change to it cannot quietly make it read answers worse: no
response a reader marked correct on the sample is scored wrong, and on every part of the set it agrees with
the reader at least as well as `contains` and token F1 and no worse than when it was measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.backends.agreement import ALL, GRADERS, Agreement, LabelledAnswer, agreement, read_labels
from advisor.errors import InputError
from advisor.matching import RULE_LABEL

DATA = Path(__file__).parent / "data"
LABELS = DATA / "answer_labels.jsonl"
ROOT = Path(__file__).resolve().parents[2]
COVID = ROOT.parent / "shared" / "data" / "covid-qa" / "qa.jsonl"
# What the rule measured when the set was labelled (accuracy, kappa), rounded down: it must not fall below.
FLOOR = {ALL: (0.97, 0.89), "sample": (0.98, 0.93), "covid-qa": (0.95, 0.64)}


@pytest.fixture(scope="module")
def labels() -> list[LabelledAnswer]:
    return read_labels(LABELS)


@pytest.fixture(scope="module")
def rows(labels) -> dict[tuple[str, str], Agreement]:
    return {(r.grader, r.part): r for r in agreement(labels)}


def test_the_set_covers_the_arms_of_both_sources_with_both_verdicts(labels):
    assert len(labels) >= 200
    every = {"untouched", "prompt", "rag", "fine-tuning"}
    arms = {"sample": every | {"hybrid"}, "covid-qa": every}
    for source, expected in arms.items():
        assert expected <= {item.arm for item in labels if item.source == source}, source
        assert {True, False} == {item.label for item in labels if item.source == source}
    assert any(item.kind == "paraphrase" for item in labels)


def test_no_response_a_reader_marked_correct_on_the_sample_is_scored_wrong(labels, rows):
    assert rows[(RULE_LABEL, "sample")].missed == 0


@pytest.mark.parametrize("part", [ALL, "sample", "covid-qa"])
def test_the_rule_agrees_with_the_reader_at_least_as_well_as_contains_and_token_f1(rows, part):
    rule = rows[(RULE_LABEL, part)]
    for other in GRADERS:
        if other == RULE_LABEL:
            continue
        theirs = rows[(other, part)]
        assert rule.accuracy >= theirs.accuracy, (other, part)
        assert rule.kappa is not None and (theirs.kappa is None or rule.kappa >= theirs.kappa), (other, part)
    accuracy, kappa = FLOOR[part]
    assert rule.accuracy >= accuracy and rule.kappa >= kappa, rule


def test_any_grader_plugs_in_and_no_verdict_is_left_out_of_the_scores(labels):
    def cautious(question, references, response):
        """A stand-in for an LLM judge that answers for half the set and fails on the rest."""
        return None if len(response) % 2 else any(r.lower() in response.lower() for r in references)

    always = agreement(labels, {"always correct": lambda q, r, s: True, "cautious": cautious})
    whole = {(r.grader, r.part): r for r in always}
    assert whole[("always correct", ALL)].accuracy == pytest.approx(
        sum(item.label for item in labels) / len(labels), abs=1e-4)
    assert whole[("always correct", ALL)].kappa == 0.0
    part = whole[("cautious", ALL)]
    assert 0 < part.graded < part.items == len(labels)


def test_a_bad_line_is_named(tmp_path):
    bad = tmp_path / "labels.jsonl"
    row = {"question": "q", "references": ["a"], "response": "a", "arm": "rag", "source": "sample", "label": "perhaps"}
    bad.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError, match=r"labels.jsonl:1.*label"):
        read_labels(bad)


def test_every_labelled_pair_comes_from_the_data_it_names(labels):
    """The sample's lines are the bundled pairs; COVID-QA's are checked where the data set is present."""
    sample = [json.loads(line) for line in (ROOT / "sample" / "qa.jsonl").read_text().splitlines() if line.strip()]
    asked = {(p["question"], p["answer"]) for p in sample} | {(p.get("paraphrase"), p["answer"]) for p in sample}
    for item in labels:
        if item.source == "sample":
            assert (item.question, item.references[0]) in asked, item.question


def test_covid_qa_lines_come_from_covid_qa(labels):
    if not COVID.is_file():
        pytest.skip(f"COVID-QA is not at {COVID}")
    pairs = {(p["question"], p["answer"]) for p in map(json.loads, COVID.read_text().splitlines()) if p}
    for item in labels:
        if item.source == "covid-qa":
            assert (item.question, item.references[0]) in pairs, item.question
