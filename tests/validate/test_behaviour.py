"""Behaviour tasks: several references, tasks without documents, the metric picked by the task, the prompt arm,
the retrieval-or-generator diagnosis, and bad input refused before any model loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from advisor.backends import evidence
from advisor.backends.base import BuildSettings, QAPair, fit_max_new_tokens
from advisor.backends.data import load_pairs, split_pairs
from advisor.backends.fewshot import check_shots, default_shots, nearest
from advisor.backends.metrics import answer_in_context, choose_metric, score_all
from advisor.cli import main
from advisor.errors import InputError
from advisor.runrecords import AnswerRecord, ArmResult, Baseline, Retrieval, ValidationRun

ROOT = Path(__file__).resolve().parents[2]
STYLE = ROOT / "sample" / "style"
INTENTS = ["billing", "cancel", "shipping", "refund"]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _intent_pairs(n: int = 40) -> list[dict]:
    texts = {"billing": "why was my card charged twice", "cancel": "please stop my subscription",
             "shipping": "where is my parcel right now", "refund": "I want my money back for this"}
    return [{"question": f"{texts[INTENTS[i % 4]]} (ticket {i})", "answer": INTENTS[i % 4]} for i in range(n)]


# ---------------------------------------------------------------- pairs with several references


def test_a_pair_may_give_several_references_and_a_split(tmp_path):
    qa = _write(tmp_path / "qa.jsonl", [{"question": "q1", "answer": "a"},
                                        {"question": "q2", "answers": ["b", " c ", "b"], "split": "test"}])
    one, two = load_pairs(qa)
    assert one.references == ("a",) and one.split is None
    assert two.answer == "b" and two.references == ("b", "c") and two.split == "test"
    train, test = split_pairs([one, two], 0.3, 0)
    assert train == [one] and test == [two]


@pytest.mark.parametrize("row, message", [
    ({"question": "q", "answer": "a", "answers": ["a"]}, "qa.jsonl:1: give either 'answer' .* not both"),
    ({"question": "q", "answers": []}, "qa.jsonl:1: 'answers' must be a non-empty list of strings"),
    ({"question": "q", "answers": ["ok", 3]}, r"qa.jsonl:1: answers\[1\] must be a non-empty string, got int"),
    ({"question": "q", "answers": "a"}, "qa.jsonl:1: 'answers' must be a non-empty list"),
    ({"question": "q", "answer": "a", "split": "dev"}, "qa.jsonl:1: 'split' must be one of train, test, got 'dev'"),
])
def test_bad_references_are_refused_with_the_line(tmp_path, row, message):
    with pytest.raises(InputError, match=message):
        load_pairs(_write(tmp_path / "qa.jsonl", [row]))


# ---------------------------------------------------------------- the metric follows the task


def test_the_rule_picks_accuracy_for_labels_chrf_for_free_text_and_answer_match_or_f1_for_knowledge():
    labels = [QAPair(r["question"], r["answer"]) for r in _intent_pairs()]
    assert choose_metric(labels, has_documents=False).metric == "accuracy"
    assert choose_metric(labels, has_documents=False).reported == ("accuracy", "macro_f1", "exact_match")
    text = [QAPair(f"mr {i}", f"The place number {i} is a pub near the river.") for i in range(10)]
    task = choose_metric(text, has_documents=False)
    assert (task.kind, task.metric, task.reported) == ("text", "chrf", ("chrf", "bleu", "rouge_l", "f1"))
    facts = [QAPair(f"q{i}", f"{i} months") for i in range(10)]
    short = choose_metric(facts, has_documents=True)
    assert (short.metric, short.reported) == ("answer_match", ("answer_match", "contains", "f1", "exact_match"))
    assert "answer match rule" in short.reason and "65% = 65 percent" in short.reason
    long = [QAPair(f"q{i}", f"a long expert answer number {i} that runs over many words") for i in range(10)]
    assert choose_metric(long, has_documents=True).reported == ("f1", "answer_match", "contains", "exact_match")
    forced = choose_metric(text, has_documents=False, override="rouge_l")
    assert forced.metric == "rouge_l" and "--metric rouge_l was given (the rule would pick chrf" in forced.reason


def test_unknown_and_corpus_level_metrics_are_refused():
    with pytest.raises(InputError, match="unknown metric 'chrF2'.*did you mean 'chrf'"):
        choose_metric([QAPair("q", "a")], True, "chrF2")
    with pytest.raises(InputError, match="--metric bleu: it is a corpus-level score"):
        choose_metric([QAPair("q", "a")], True, "bleu")


def test_metrics_come_from_the_libraries_and_take_the_best_reference():
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF
    from sklearn.metrics import f1_score

    pairs = [QAPair("mr1", "Blue Spice is a coffee shop.", answers=("Blue Spice is a coffee shop.", "A cafe.")),
             QAPair("mr2", "The Punter is a pub by the river.")]
    predictions = ["A cafe.", "The Punter is a riverside pub."]
    rows, total = score_all(predictions, pairs, ("chrf", "bleu", "rouge_l"))
    assert rows[0]["chrf"] == pytest.approx(1.0)  # the best of its two references is an exact match
    expected = CHRF().sentence_score(predictions[1], [pairs[1].answer]).score / 100
    assert rows[1]["chrf"] == pytest.approx(expected)
    rouge = rouge_scorer.RougeScorer(["rougeL"]).score(pairs[1].answer, predictions[1])["rougeL"].fmeasure
    assert rows[1]["rouge_l"] == pytest.approx(rouge)
    bleu = BLEU().corpus_score(predictions, [[p.references[0] for p in pairs], ["A cafe.", None]]).score / 100
    assert total["bleu"] == pytest.approx(round(bleu, 4))
    labels = [QAPair("a", "billing"), QAPair("b", "cancel"), QAPair("c", "cancel"), QAPair("d", "refund")]
    guesses = ["Billing", "cancel", "refund", "refund"]
    rows, total = score_all(guesses, labels, ("accuracy", "macro_f1"))
    assert total["accuracy"] == 0.75
    gold = ["billing", "cancel", "cancel", "refund"]
    assert total["macro_f1"] == round(f1_score(gold, [g.lower() for g in guesses], average="macro"), 4)


def test_answer_in_context_needs_the_whole_short_answer_or_most_of_a_long_one():
    assert answer_in_context("The warranty runs 36 months from delivery.", ["36 months"])
    assert answer_in_context("The warranty runs thirty-six months from delivery.", ["36 months"])
    assert not answer_in_context("The warranty runs 36 weeks.", ["36 months"])
    long = "the virus binds the ACE2 receptor on epithelial cells of the lung"
    assert answer_in_context(
        "It is known that the virus binds the ACE2 receptor on the epithelial cells of the lung.", [long]
    )
    assert not answer_in_context("The virus spreads in droplets.", [long])


def test_answer_length_fits_the_references_with_the_old_default_as_floor():
    assert fit_max_new_tokens([QAPair("q", "36 months")]) == 32
    style = load_pairs(STYLE / "pairs.jsonl")
    assert 48 <= fit_max_new_tokens(style) <= 128


# ---------------------------------------------------------------- the prompt arm


def test_nearest_examples_are_one_matrix_product_and_put_the_closest_last():
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(500, 16)).astype(np.float32)
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    queries = pool[[3, 7]] + 0.01
    found = nearest(queries, pool, 4)
    for row, q in zip(found, queries):
        sims = pool @ q
        assert sorted(row) == sorted(np.argsort(-sims)[:4].tolist())
        assert [sims[i] for i in row] == sorted(sims[i] for i in row)  # least similar first
    assert found[0][-1] == 3 and found[1][-1] == 7


def test_the_number_of_demonstrations_follows_a_stated_rule_and_can_be_set():
    style = [p for p in load_pairs(STYLE / "pairs.jsonl") if p.split != "test"]
    assert 2 <= default_shots(style) <= 8
    short = [QAPair(f"q{i}", "a") for i in range(50)]
    assert default_shots(short) == 8 and default_shots(short[:3]) == 3
    assert check_shots(2, short) == 2
    with pytest.raises(InputError, match="--shots 60 is more than the 50 training pairs"):
        check_shots(60, short)


# ---------------------------------------------------------------- the evidence


class _Rec:
    recommendation = "fine-tuning"
    start_with = "fine-tuning"
    answers = {"style_adaptation": "strong"}


class _PromptFirst(_Rec):
    start_with = "prompt"
    answers = {"style_adaptation": "none", "external_knowledge": "none", "knowledge_change": "static"}


def _run(metric_scores: dict[str, list[float]], base: list[float], task_kind: str = "text",
         rec: type[_Rec] = _Rec) -> ValidationRun:
    task = choose_metric([QAPair(f"mr {i}", f"a sentence number {i} here") for i in range(len(base))], False)
    records = {
        a: [
            AnswerRecord.model_validate({
                "line": i + 1,
                "question": f"mr {i}",
                "gold": "g",
                "response": f"{a} out {i}",
                "chrf": s,
                "baseline_response": f"zero {i}",
                "baseline": {"chrf": b},
            })
            for i, (s, b) in enumerate(zip(scores, base))
        ]
        for a, scores in metric_scores.items()
    }
    results = {
        a: ArmResult(status="ok", answers={"chrf": sum(s) / len(s)},
                     baseline=Baseline(answers={"chrf": sum(base) / len(base)}))
        for a, s in metric_scores.items()
    }
    per_q = {a: {r.line: r.score("chrf") or 0.0 for r in rows} for a, rows in records.items()}
    base_q = {i + 1: b for i, b in enumerate(base)}
    return evidence.summarise(
        rec(),
        task,
        results,
        {"rag": "no documents", "hybrid": "no documents"},
        per_q,
        base_q,
        records,
        BuildSettings(),
        {"questions": len(base)},
    )


def test_when_prompting_ties_fine_tuning_the_verdict_says_examples_in_the_prompt_are_enough():
    n = 40
    out = _run({"prompt": [0.2 if i % 2 else 0.8 for i in range(n)], "fine-tuning": [0.52] * n}, [0.2] * n)
    assert out.best_measured == "prompt" and out.prompt_enough is True and out.agrees is False
    assert "Few-shot prompting is enough on this data" in (out.verdict or "")
    assert out.approaches["rag"].to_json() == {"status": "not_applicable", "reason": "no documents"}
    assert "style_adaptation" in {c.question for c in out.challenged_answers}
    ex = out.examples[0]
    assert set(ex.outputs) == {"untouched", "prompt", "fine-tuning"} and ex.input.startswith("mr ")


def test_when_the_questionnaire_said_prompting_first_and_prompting_measured_best_they_agree():
    n = 40
    out = _run({"prompt": [0.2 if i % 2 else 0.8 for i in range(n)], "fine-tuning": [0.52] * n}, [0.2] * n,
               rec=_PromptFirst)
    assert out.best_measured == "prompt" and out.start_with == "prompt" and out.recommended == "fine-tuning"
    assert out.agrees is True
    assert "start there, as the questionnaire said." in (out.verdict or "")
    assert "rather than with" not in (out.verdict or "")


def test_when_fine_tuning_beats_prompting_beyond_the_noise_the_verdict_agrees():
    n = 40
    out = _run({"prompt": [0.3] * n, "fine-tuning": [0.6 + 0.01 * (i % 5) for i in range(n)]}, [0.2] * n)
    assert out.best_measured == "fine-tuning" and out.agrees is True
    assert "agrees with the questionnaire's recommendation (fine-tuning)" in (out.verdict or "")


def test_the_diagnosis_names_the_generator_when_retrieval_found_the_answer():
    def arm(shown: float, used: float) -> ArmResult:
        return ArmResult(status="ok", retrieval=Retrieval(answer_in_context=shown, metric_when_in_context=used))

    found = evidence.retrieval_diagnosis({"rag": arm(0.8, 0.1), "hybrid": arm(0.3, 0.2)}, "contains")
    assert [d.weak_part for d in found] == ["generator", "retrieval"]
    not_lifted = evidence.retrieval_diagnosis({"rag": arm(0.9, 0.7)}, "f1", lifted=set())
    assert not_lifted[0].weak_part == "generator"  # in front of it, yet no better than the untouched model
    text = evidence._diagnosis_sentence(found[0])
    assert text == (
        "rag: retrieval puts the answer in front of the model 80% of the time; the generator's "
        "contains on those questions is 0.10"
    )


# ---------------------------------------------------------------- bad input before any model loads


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--approaches", "prompt,rag"], "--approaches rag: rag retrieves from documents: give --docs"),
        (["--metric", "chrF2"], "unknown metric 'chrF2'"),
        (["--shots", "500"], "--shots 500 is more than the 200 training pairs"),
    ],
)
def test_behaviour_validate_refuses_bad_options_before_any_model_loads(tmp_path, monkeypatch, extra, message):
    from advisor.backends import validate as v

    def no_models(*args, **kwargs):
        raise AssertionError("a model was loaded before the options were checked")

    monkeypatch.setattr(v, "load_models", no_models)
    result = CliRunner().invoke(
        main,
        [
            "validate",
            str(STYLE / "answers.yaml"),
            "--qa",
            str(STYLE / "pairs.jsonl"),
            "--out",
            str(tmp_path / "out"),
            *extra,
        ],
    )
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    import re

    assert re.search(message, result.output)
    assert not (tmp_path / "out").exists()


def test_quiet_build_draws_no_training_bar(tmp_path, monkeypatch):
    """`build fine-tuning --quiet` hands progress=False down to the training loop."""
    import advisor.backends.finetune as finetune

    seen = {}

    class Stop(Exception):
        pass

    def fake_train(*args, progress=True, **kwargs):
        seen["progress"] = progress
        raise Stop

    monkeypatch.setattr(finetune, "train_lora", fake_train)
    qa = _write(tmp_path / "qa.jsonl", _intent_pairs(24))
    result = CliRunner().invoke(
        main, ["build", "fine-tuning", "--qa", str(qa), "--out", str(tmp_path / "ft"), "--quiet"]
    )
    assert "Stop" in result.output  # the fake loop was reached, and told not to draw
    assert seen == {"progress": False}


# ---------------------------------------------------------------- a real label task, no flags


@pytest.mark.slow
def test_a_label_task_without_documents_gets_accuracy_and_macro_f1_without_any_flag(tmp_path):
    from advisor.backends.validate import validate

    answers = tmp_path / "answers.yaml"
    answers.write_text("version: 1\nanswers:\n  style_adaptation: strong\n  external_knowledge: none\n")
    qa = _write(tmp_path / "intents.jsonl", _intent_pairs(40))
    result = validate(
        answers,
        None,
        qa,
        tmp_path / "run",
        BuildSettings(max_new_tokens=4),
        approaches=["prompt"],
        progress=False,
        echo=lambda s: None,
    ).to_json()
    assert result["task"] == "labels" and result["metric"] == "accuracy"
    prompt = result["approaches"]["prompt"]
    assert prompt["status"] == "ok" and set(prompt["answers"]) == {"accuracy", "macro_f1", "exact_match"}
    assert result["approaches"]["rag"]["status"] == "not_applicable"
    # Four distinct phrasings, each with its label among the demonstrations: a few examples in the prompt suffice.
    assert prompt["answers"]["accuracy"] >= 0.75
    assert result["best_measured"] == "prompt"
    html = (tmp_path / "run" / "report.html").read_text()
    assert "macro-F1" in html and "Outputs side by side" in html and "not applicable: no documents" in html


def test_a_prompt_build_is_read_through_the_one_manifest_reader(tmp_path):
    from advisor.backends.fewshot import PromptBackend

    (tmp_path / "manifest.json").write_text(json.dumps({"approach": "prompt", "examples": 3}))
    with pytest.raises(InputError, match=r"manifest.json: shots: expected a whole number, got None"):
        PromptBackend.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"approach": "rag", "shots": 2}))
    with pytest.raises(InputError, match="holds a 'rag' build, not 'prompt'"):
        PromptBackend.load(tmp_path)
