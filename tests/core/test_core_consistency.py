"""Say one thing: no output contradicts itself, the rule base's own notes, or the docs.

Each test pins one place where the advisor used to say two things at once (a no-gap verdict headlined "RAG"
with index-refresh steps, two different questions to answer next, a rule base `rules check` refused while
`recommend --rules` used it, a status written twice, a report that mixed sample sizes without saying so...).
"""

from __future__ import annotations

import itertools
import json
import random
import re

import pytest
import yaml
from click.testing import CliRunner
from tests.support.cli import assert_input_error
from tests.support.core import SUPPORT, VALIDATION

from advisor import cli
from advisor.analyses.adaptive import AdaptiveSession
from advisor.analyses.bundle import analyse_depth
from advisor.analyses.bundle import render_text as depth_text
from advisor.cases import check_cases
from advisor.engine import recommend
from advisor.models import CONTRACT_QUESTIONS, RECOMMENDABLE, UNKNOWN, CaseLibrary, RecommendationOut
from advisor.report import render_html, render_markdown, render_text
from advisor.rulebase import default_rules_text
from advisor.runrecords import ValidationRun

MEASURABLE_INPUTS = 30  # advisor.samplesize's one rule (checked in test_one_sample_size_rule)
NO_GAP = {"knowledge_change": "static", "external_knowledge": "none", "style_adaptation": "none"}
OTHERS = [q for q in CONTRACT_QUESTIONS if q not in NO_GAP]


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False, **kwargs)


def _no_gap_answer_sets(n=120, seed=0):
    """Complete answer sets with neither a knowledge nor a behaviour gap, the other answers random."""
    rng = random.Random(seed)
    gaps = itertools.product(("static", "yearly"), ("none",), ("none", "light"))
    out = []
    for change, external, style in gaps:
        for _ in range(n // 4):
            answers = {q: rng.choice(CONTRACT_QUESTIONS[q]) for q in OTHERS}
            out.append({**answers, "knowledge_change": change, "external_knowledge": external,
                        "style_adaptation": style})
    return out


# ---------------------------------------------------------------- few-shot prompting first


def test_no_gap_headlines_few_shot_prompting_never_rag_with_index_steps(compiled, rulebase):
    seen = set()
    for answers in _no_gap_answer_sets():
        rec = recommend(compiled, answers)
        seen.add(rec.recommendation)
        assert rec.start_with == "prompt" and rec.recommendation in RECOMMENDABLE  # the contract's field stays
        text = render_text(rec, rulebase)
        headline = text.splitlines()[0]
        assert headline == "Recommendation: Few-shot prompting first", headline
        steps = text.split("Next steps:")[1]
        assert "index" not in steps.lower() and "documents in one folder" not in steps
        assert "evaluation set" in steps and f"{MEASURABLE_INPUTS} or more" in steps
        assert any(note.startswith("Neither a knowledge gap") for note in rec.notes)  # the rule's own note agrees
        data = rec.to_dict()
        RecommendationOut.model_validate(data)
        assert data["start_with"] == "prompt" and data["recommendation"] == rec.recommendation
    assert "rag" in seen  # the case the issue found: the best of the three is RAG, yet nothing is to be retrieved


def test_a_gap_keeps_the_approach_as_the_outcome(compiled, rulebase, support_answers):
    rec = recommend(compiled, support_answers)
    assert rec.start_with == rec.recommendation == "rag"
    assert render_text(rec, rulebase).splitlines()[0] == "Recommendation: RAG (retrieval-augmented generation)"


def test_reports_and_json_say_the_same_outcome(compiled, rulebase):
    answers = {**NO_GAP, "hallucination_cost": "high", "traceability": "required", "labeled_examples": "none"}
    rec = recommend(compiled, answers)
    assert rec.start_with == "prompt"
    md = render_markdown(rec, rulebase)
    html = render_html(rec, rulebase)
    assert "**Recommendation: Few-shot prompting first**" in md
    assert "<h1>Recommendation: Few-shot prompting first</h1>" in html
    for report in (md, html):
        assert "Next steps for Few-shot prompting first" in report
        assert "Refresh the index" not in report
    label = rulebase.approaches[rec.recommendation].label
    assert f"the best of the three approaches: **{label}**" in md


def test_case_library_accepts_prompt_and_old_labels_keep_their_meaning(compiled, write):
    library = CaseLibrary.model_validate({"version": 1, "cases": [
        {"name": "style-free FAQ on public facts", "expected": "prompt", "why": "no gap", "answers": NO_GAP},
        {"name": "same, labelled by its best of three", "expected": recommend(compiled, NO_GAP).recommendation,
         "why": "the best of the three", "answers": NO_GAP},
        {"name": "support desk", "expected": "rag", "why": "handbook", "answers": SUPPORT},
    ]})
    report = check_cases(compiled, library)
    assert report.agree == 3 and report.confusion["prompt"]["prompt"] == 1
    old = CaseLibrary.model_validate({"version": 1, "cases": [library.cases[2].model_dump()]})
    assert list(check_cases(compiled, old).confusion) == list(RECOMMENDABLE)  # no prompt row for old libraries
    path = write("cases.yaml", library.model_dump())
    result = invoke("cases", path, "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["agree"] == 3


def test_add_validation_takes_a_run_that_favoured_prompting(tmp_path, write):
    run = write("run/validation.json", {**VALIDATION, "best_measured": "prompt", "prompt_enough": True,
                                        "answers": dict(NO_GAP)})
    library = tmp_path / "cases.yaml"
    result = invoke("add-validation", run.parent, "--to", library, "--name", "measured FAQ")
    assert result.exit_code == 0, result.output
    assert "(expected prompt)" in result.output
    case = yaml.safe_load(library.read_text())["cases"][0]
    assert case["expected"] == "prompt" and "few-shot prompting (prompt) did best" in case["why"]
    checked = invoke("cases", library, "--format", "json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["agree"] == 1
    bad = write("bad/validation.json", {**VALIDATION, "best_measured": "promt"})
    assert_input_error(invoke("add-validation", bad.parent, "--to", tmp_path / "c2.yaml"),
                       "best_measured: 'promt' is not one of prompt, rag, fine-tuning, hybrid", "did you mean 'prompt'")


# ---------------------------------------------------------------- one question to answer next


def test_every_output_names_one_question_to_answer_next(compiled, rulebase):
    rng = random.Random(7)
    questions = list(CONTRACT_QUESTIONS)
    for _ in range(150):
        known = rng.sample(questions, rng.randint(0, len(questions) - 1))
        answers = {q: rng.choice(CONTRACT_QUESTIONS[q]) for q in known}
        rec = recommend(compiled, answers)
        depth = analyse_depth(compiled, rec, perturbations=0)
        assert depth.unknowns is not None and rec.ask_next == depth.unknowns.ask_next[0].question, answers
        text = render_text(rec, rulebase) + depth_text(depth)
        named = set(re.findall(r"Most informative question to answer next: (\w+)", text))
        named |= set(re.findall(r"Why (\w+) first: ", text))
        assert named == {rec.ask_next}, (answers, named)


def test_ask_adaptive_starts_with_the_same_question(compiled):
    everything_unknown = {q: UNKNOWN for q in compiled.question_ids}
    assert AdaptiveSession(compiled).next_question() == recommend(compiled, everything_unknown).ask_next
    replies = "\n" * 12
    output = invoke("ask", "--adaptive", input=replies).output
    question = next(q for q in compiled.rulebase.questions if q.id == recommend(compiled, {}).ask_next)
    assert f"Question 1 of at most {len(compiled.question_ids)}: {question.text}" in output


# ---------------------------------------------------------------- rule bases: one validation


def _custom(write, mutate):
    data = yaml.safe_load(default_rules_text())
    mutate(data)
    return write("custom.yaml", data)


def test_rules_check_and_recommend_rules_agree(write, answers_file):
    def no_traceability(data):  # breaks the answers contract: a file answering traceability would be refused
        data["questions"] = [q for q in data["questions"] if q["id"] != "traceability"]

    broken = _custom(write, no_traceability)
    assert invoke("rules", "check", broken).exit_code == 2
    assert_input_error(invoke("recommend", answers_file, "--rules", broken), "contract question 'traceability'")

    def unsourced(data):  # a lint finding: scoring is unaffected
        data["rules"][0]["source"] = []

    usable = _custom(write, unsourced)
    checked = invoke("rules", "check", usable)
    assert checked.exit_code == 0 and "warning: " in checked.stderr and "names no source" in checked.stderr
    assert invoke("recommend", answers_file, "--rules", usable).exit_code == 0
    assert invoke("rules", "check", "--strict", usable).exit_code == 2


# ---------------------------------------------------------------- evidence as measured


def _run(**changes):
    data = json.loads(json.dumps(VALIDATION))
    data.update(changes)
    return ValidationRun.model_validate(data)


def test_a_status_is_said_once(compiled, rulebase, support_answers):
    rec = recommend(compiled, support_answers)
    for reason in ("not applicable: no documents", "no documents"):  # runs written before, and now
        run = _run()
        run.approaches["rag"] = run.approaches["rag"].model_validate({"status": "not_applicable", "reason": reason})
        for report in (render_markdown(rec, rulebase, validation=run), render_html(rec, rulebase, validation=run)):
            assert "not applicable: no documents" in report
            assert "not applicable: not applicable" not in report


def test_reports_say_how_the_held_out_set_was_made(compiled, rulebase, support_answers):
    rec = recommend(compiled, support_answers)
    pinned = _run(split_pinned=True, test_fraction=None, held_out=60, questions=60, train_pairs=200)
    limited = _run(questions=8, held_out=22, train_pairs=50)
    limited.approaches["rag"].retrieval.questions = 22
    for render in (render_markdown, render_html):
        text = render(rec, rulebase, validation=pinned)
        assert "held-out pairs fixed by their split field" in text and "test fraction" not in text
        text = render(rec, rulebase, validation=limited)
        assert "Answers scored on 8 of 22 held-out inputs (--eval-limit)" in text
        assert "retrieval (recall@k, MRR) on 22 held-out inputs" in text


def test_one_sample_size_rule():
    from advisor.backends.evidence import next_steps, verdict
    from advisor.samplesize import MEASURABLE_INPUTS as rule

    assert rule == MEASURABLE_INPUTS

    run = _run(questions=22, held_out=22, train_pairs=50, test_fraction=0.3, next_steps=[], verdict=None)
    steps = " ".join(next_steps(run))
    assert "60+" not in steps and f"Answer {MEASURABLE_INPUTS} or more held-out inputs" in steps
    assert "held out 22 of 72 pairs; give 100 or more pairs at --test-fraction 0.3 (28 more)" in steps
    assert f"({MEASURABLE_INPUTS} or more make them measurable)" in verdict(run)
    enough = _run(questions=MEASURABLE_INPUTS, held_out=MEASURABLE_INPUTS, train_pairs=70, next_steps=[])
    assert "more held-out inputs" not in " ".join(next_steps(enough)) and "only large" not in verdict(enough)
    rules = yaml.safe_load(default_rules_text())
    assert f"{MEASURABLE_INPUTS} or more real questions" in rules["approaches"]["rag"]["next_steps"][0]


# ---------------------------------------------------------------- query


def test_query_on_a_run_folder_names_the_pipelines_inside(tmp_path):
    for arm in ("prompt", "rag"):
        (tmp_path / "run" / arm).mkdir(parents=True)
        (tmp_path / "run" / arm / "manifest.json").write_text(json.dumps({"approach": arm}))
    result = invoke("query", tmp_path / "run", "How long is the warranty?")
    assert_input_error(result, "holds 2", f"{tmp_path / 'run' / 'prompt'}, {tmp_path / 'run' / 'rag'}")


# ---------------------------------------------------------------- one vocabulary, no percentages


def test_one_label_for_prompting_and_confidence_is_not_a_percentage(compiled, rulebase, write):
    costs = {"queries_per_day": 100, "tokens_per_query": 500, "price_per_1k_tokens": 0.01,
             "vector_store_per_month": 10, "fine_tuning_cost": 50}
    path = write("a.yaml", {"version": 1, "answers": {**NO_GAP, "traceability": "none"}, "costs": costs})
    outputs = [invoke("recommend", path, "--format", fmt).output for fmt in ("text", "markdown", "html", "json")]
    others = ("prompt only", "Prompt first", "prompt-first", "Prompting with a few good examples")
    for out in outputs:
        assert "few-shot prompting" in out.lower()
        for other in others:
            assert other not in out, other
    rec = recommend(compiled, {**NO_GAP, "traceability": "none"})
    pct = rf"{round(rec.confidence * 100)}%"
    for out in outputs[1:3]:
        assert f"{rec.confidence:.2f}" in out
        assert not re.search(rf"{pct}(</strong>)?\s*confidence|confidence\W{{0,20}}{pct}", out)
    what_if = invoke("recommend", path, "--set", "knowledge_change=monthly").output.split("What if")[1]
    after = recommend(compiled, {**NO_GAP, "traceability": "none", "knowledge_change": "monthly"})
    assert re.search(rf"confidence\s+{rec.confidence:.2f}\s+{after.confidence:.2f}", what_if), what_if
    assert re.search(r"start with\s+prompt\s+" + after.start_with, what_if) and "%" not in what_if


# ---------------------------------------------------------------- plausible mistakes


@pytest.mark.parametrize("given, says", [
    ("pairs", "this is question/answer pairs (JSON Lines, one object a line), not an answers file"),
    ("cases", "it looks like a case library"),
    ("rules", "it looks like a rule base"),
    ("unwrapped", "it holds question ids at the top level (knowledge_change, external_knowledge): put them under "
                  "'answers:'"),
])
def test_a_file_that_is_not_an_answers_file_is_named_for_what_it_is(given, says, write):
    paths = {
        "pairs": write("qa.jsonl", '{"question": "Q1?", "answer": "A1"}\n{"question": "Q2?", "answer": "A2"}\n'),
        "cases": write("cases.yaml", {"version": 1, "cases": []}),
        "rules": write("rules.yaml", default_rules_text()),
        "unwrapped": write("flat.yaml", {"knowledge_change": "weekly", "external_knowledge": "most"}),
    }
    assert_input_error(invoke("recommend", paths[given]), says)


# ---------------------------------------------------------------- one report path


def test_validate_writes_the_report_that_report_validation_writes(tmp_path, write, rulebase, compiled):
    from advisor.answers import load_answers
    from advisor.backends.validate import ValidationInputs, write_reports

    costs = {"queries_per_day": 100, "tokens_per_query": 500}
    answers_path = write("answers.yaml", {"version": 1, "project": "Acme", "answers": {"knowledge_change": "weekly"},
                                          "costs": costs})
    document, answers = load_answers(answers_path, rulebase)
    rec = recommend(compiled, answers)
    run_dir = write("run/validation.json", VALIDATION).parent
    inputs = ValidationInputs(rulebase, rec, document.project, None, {})  # the data are not read by the report
    inputs.document = document
    write_reports(run_dir, rec, inputs, ValidationRun.model_validate(VALIDATION), answers_path)
    for name in ("report.md", "report.html"):
        assert invoke("report", answers_path, "-o", tmp_path / name, "--validation", run_dir).exit_code == 0
        by_validate = (run_dir / name).read_text()
        by_report = (tmp_path / name).read_text()
        stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
        assert stamp.sub("", by_validate) == stamp.sub("", by_report)
        for section in ("Robustness", "Estimated cost a month", "Most informative question to answer next",
                        "Evidence: measured on your data"):
            assert section in by_validate, (name, section)
