"""The shared evaluation: exact metric values on hand-made strings, bootstrap, and evaluate() on a fake backend."""

from __future__ import annotations

import json

import pytest

from advisor.backends.base import Answer, Backend, BuildSettings, Hit, QAPair
from advisor.backends.baselines import baseline_answers
from advisor.backends.evaluation import evaluate, format_table, read_answers, retrieval_scores
from advisor.backends.statistics import bootstrap_ci, percentile
from advisor.backends.metrics import contains, exact_match, normalize_answer, token_f1


def test_normalisation_drops_case_punctuation_articles_and_spaces():
    assert normalize_answer("  The Merrow-Lark, an OLD ferry!  ") == "merrow lark old ferry"


@pytest.mark.parametrize("prediction, gold, em, f1, has", [
    ("Odo Farlane", "odo farlane.", 1.0, 1.0, 1.0),
    ("The keeper is Odo Farlane", "Odo Farlane", 0.0, 2 * (2 / 4) * 1 / (2 / 4 + 1), 1.0),
    ("Farlane", "Odo Farlane", 0.0, 2 * 1 * 0.5 / 1.5, 0.0),
    ("34 metres tall", "34 metres", 0.0, 0.8, 1.0),
    ("I don't know.", "07:40", 0.0, 0.0, 0.0),
    ("", "Thursdays", 0.0, 0.0, 0.0),
    ("Thursdays only", "thursday", 0.0, 0.0, 0.0),  # whole words only
])
def test_exact_values_of_each_metric(prediction, gold, em, f1, has):
    assert exact_match(prediction, gold) == em
    assert token_f1(prediction, gold) == pytest.approx(f1)
    assert contains(prediction, gold) == has


def test_f1_counts_repeated_tokens_once_each():
    assert token_f1("green green green", "green light") == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_percentiles_interpolate():
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)
    assert percentile([], 50) == 0.0


def test_bootstrap_ci_is_repeatable_and_brackets_the_difference():
    a = [1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    b = [0.0] * 8
    ci = bootstrap_ci(a, b, n=500, seed=1)
    assert ci == bootstrap_ci(a, b, n=500, seed=1)
    assert ci.difference == 0.75 and ci.low <= 0.75 <= ci.high and ci.low > 0 and not ci.tie
    same = bootstrap_ci([0.5, 0.0, 1.0], [0.0, 0.5, 1.0], n=200, seed=0)
    assert same.difference == pytest.approx(0.0) and same.tie
    with pytest.raises(ValueError):
        bootstrap_ci([1.0], [1.0, 0.0])


class FakeBackend(Backend):
    """Answers with a canned text per question; retrieves a fixed document."""

    approach = "rag"
    retrieves = True

    def __init__(self, settings, replies, docs):
        super().__init__(settings)
        self.replies, self.docs = replies, docs

    def build(self, documents, train, out):
        return {}

    @classmethod
    def load(cls, out, settings=None):
        raise NotImplementedError

    def answer_many(self, questions):
        return [Answer(self.replies.get(q, "no idea"), ["a.md"], seconds=0.1) for q in questions]

    def retrieve(self, question, k):
        return [Hit(d, 0, "", 1.0) for d in self.docs.get(question, [])][:k]


class FakeGenerator:
    name = "fake-generator"

    def __init__(self):
        self.asked: list[str] = []

    def chat(self, conversations, max_new_tokens=32, batch_size=8):
        self.asked += [c[-1]["content"] for c in conversations]
        return ["closed book guess"] * len(conversations)


PAIRS = [
    QAPair("Q1", "Odo Farlane", "a.md", "Q1 reworded", 1),
    QAPair("Q2", "34 metres", "b.md", None, 2),
    QAPair("Q3", "Thursdays", "c.md", None, 3),
    QAPair("Q4", "07:40", None, None, 4),
]


def test_retrieval_is_scored_by_document_id_over_every_pair_with_a_source():
    backend = FakeBackend(BuildSettings(), {}, {"Q1": ["a.md", "x.md"], "Q2": ["x.md", "b.md"], "Q3": ["x.md"]})
    assert retrieval_scores(backend, PAIRS, 2) == {"k": 2, "questions": 3, "recall_at_k": 0.6667, "mrr": 0.5}
    assert retrieval_scores(backend, PAIRS, 1)["recall_at_k"] == 0.3333


def test_evaluate_returns_the_contract_shape_and_writes_per_question_records(tmp_path):
    settings = BuildSettings(eval_limit=2, k=2)
    backend = FakeBackend(settings, {"Q1": "It is Odo Farlane.", "Q2": "34 metres", "Q1 reworded": "Farlane"},
                          {"Q1": ["a.md"], "Q2": ["b.md"], "Q3": ["c.md"]})
    generator = FakeGenerator()
    measured = evaluate(backend, PAIRS, settings, baseline_generator=generator, out=tmp_path, progress=False,
                        baseline_cache=tmp_path / "cache", build_seconds=1.5)
    metrics = measured.to_json()  # what metrics.json holds
    assert measured.retrieval is not None and measured.retrieval.recall_at_k == 1.0
    assert metrics["approach"] == "rag" and metrics["questions"] == 2
    assert metrics["retrieval"] == {"k": 2, "questions": 3, "recall_at_k": 1.0, "mrr": 1.0}
    assert metrics["answers"] == {"answer_match": 1.0, "contains": 1.0, "exact_match": 0.5,
                                  "f1": round((2 * 0.5 * 1 / 1.5 + 1) / 2, 4)}
    assert metrics["baseline"]["answers"] == {"answer_match": 0.0, "contains": 0.0, "exact_match": 0.0, "f1": 0.0}
    assert metrics["baseline"]["usage"]["answers"] == 2 and "answered_by" not in metrics["baseline"]
    assert metrics["answered_by"] == {"kind": "local", "model": settings.generator, "device": "cpu"}
    assert metrics["usage"]["answers"] == 2 and "prompt_tokens" not in metrics["usage"]  # the fake counts none
    # Reworded questions beside the same questions as written (Q1 only: the one answered pair with a rewording).
    assert metrics["paraphrase"] == {"questions": 1, "answers": {"answer_match": 0.0, "contains": 0.0,
                                                                 "exact_match": 0.0, "f1": 0.6667},
                                     "original": {"answer_match": 1.0, "contains": 1.0, "exact_match": 0.0,
                                                  "f1": 0.6667}}
    assert "memorisation" not in metrics  # no training pairs given: nothing was trained on them
    assert metrics["latency_ms"]["p50"] == 100.0 and metrics["build_seconds"] == 1.5
    assert metrics["models"]["generator"] == settings.generator
    records = read_answers(tmp_path)
    assert [r.question for r in records] == ["Q1", "Q2"]
    assert records[0].response == "It is Odo Farlane." and records[0].score("contains") == 1.0
    assert records[0].baseline_response == "closed book guess" and records[0].sources == ["a.md"]
    assert records[0].baseline_score("contains") == 0.0
    assert [r.question for r in read_answers(tmp_path, "paraphrase")] == ["Q1 reworded"]
    table = format_table(measured)
    assert "held-out questions" in table and "recall@2 (3)" in table and "answer match reworded (1)" in table


def test_a_trained_arm_is_asked_its_own_training_questions_as_written_and_reworded(tmp_path):
    trained = [QAPair("T1", "Hale", None, "T1 reworded", 11), QAPair("T2", "Moss", None, "T2 reworded", 12),
               QAPair("T3", "Fen", None, None, 13)]
    backend = FakeBackend(BuildSettings(eval_limit=2), {"T1": "Hale", "T2": "Moss", "T2 reworded": "Moss"}, {})
    measured = evaluate(backend, PAIRS, baseline_generator=False, out=tmp_path, progress=False, trained=trained)
    check = measured.memorisation
    assert check is not None and check.questions == 2  # T3 has no rewording
    assert check.original["contains"] == 1.0 and check.reworded["contains"] == 0.5
    assert [r.question for r in read_answers(tmp_path, "trained")] == ["T1", "T2"]
    assert [r.response for r in read_answers(tmp_path, "trained_paraphrase")] == ["no idea", "Moss"]
    assert [r.question for r in read_answers(tmp_path)] == ["Q1", "Q2"]  # the held-out records are untouched


def test_baseline_answers_are_cached_and_only_new_questions_generated(tmp_path):
    settings = BuildSettings(max_new_tokens=8)
    generator = FakeGenerator()
    assert baseline_answers(["Q1", "Q2"], settings, generator, tmp_path) == ["closed book guess"] * 2
    assert baseline_answers(["Q2", "Q3"], settings, generator, tmp_path) == ["closed book guess"] * 2
    assert generator.asked == ["Q1", "Q2", "Q3"]
    (cache,) = tmp_path.glob("baseline-*.json")
    assert json.loads(cache.read_text())["generator"] == "fake-generator"
    other = BuildSettings(max_new_tokens=16)
    baseline_answers(["Q1"], other, generator, tmp_path)
    assert generator.asked[-1] == "Q1" and len(list(tmp_path.glob("baseline-*.json"))) == 2
