"""Reports: self-contained HTML, escaping of user text, the sections that matter, the Evidence section."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from advisor.answers import load_answers
from advisor.engine import recommend
from advisor.errors import InputError
from advisor.report import evidence_context, format_for, render_html, render_markdown, render_text, write_report
from advisor.templating import escape_markdown
from advisor.runrecords import ValidationRun, load_validation

from tests.support.core import VALIDATION

EVIL = "<script>alert(1)</script>"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _html(compiled, rulebase, answers, **kwargs):
    return render_html(recommend(compiled, answers), rulebase, **kwargs)


def test_html_is_self_contained(compiled, rulebase, support_answers):
    html = _html(compiled, rulebase, support_answers, validation=ValidationRun.model_validate(VALIDATION))
    collector = _Collector()
    collector.feed(html)
    tags = [t for t, _ in collector.tags]
    assert "style" in tags and "svg" in tags
    for tag, attrs in collector.tags:
        assert (
            tag not in ("link", "script", "iframe", "img") or tag == "img" and attrs.get("src", "").startswith("data:")
        )
        for name in ("src", "href"):
            value = attrs.get(name)
            if tag == "a" and name == "href":  # a link the reader may follow fetches nothing
                assert value.startswith(("#", "https://", "http://")), value
                continue
            assert value is None or not re.match(r"^(https?:)?//", value), (tag, name, value)
    assert "@import" not in html and "url(" not in html


def test_html_has_recommendation_flips_next_steps_and_answers(compiled, rulebase, support_answers):
    rec = recommend(compiled, support_answers)
    html = render_html(rec, rulebase, project="Acme")
    assert "Recommendation: RAG" in html
    assert f"<strong>{rec.confidence:.2f}</strong>" in html and f"{round(rec.confidence * 100)}%" not in html
    assert "What would change this recommendation" in html
    flip = rec.flips[0]
    assert flip.question in html and flip.to in html
    assert rec.next_steps[0].split(":")[0] in html
    assert "How often does the knowledge" in html  # the answers table
    assert html.count("<svg") >= 2  # scores and factor pulls


def test_user_text_is_escaped_in_html(compiled, rulebase, support_answers):
    html = _html(compiled, rulebase, support_answers, project=EVIL, answers_file=f"/tmp/{EVIL}.yaml")
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_user_text_is_escaped_in_markdown(compiled, rulebase, support_answers):
    md = render_markdown(
        recommend(compiled, support_answers), rulebase, project=f"{EVIL} | pipe", answers_file=f"a|b{EVIL}.yaml"
    )
    assert EVIL not in md and "<script" not in md
    assert "&lt;script&gt;" in md
    assert "a\\|b" in md  # a pipe would break the table


def test_escape_markdown():
    assert escape_markdown("a|b") == "a\\|b"
    assert escape_markdown("<b>") == "&lt;b&gt;"
    assert escape_markdown("# title") == "\\# title"
    assert escape_markdown("two\nlines") == "two lines"
    assert escape_markdown(None) == ""


def test_markdown_sections(compiled, rulebase, support_answers):
    md = render_markdown(recommend(compiled, support_answers), rulebase, project="Acme")
    for heading in (
        "# Acme: RAG, fine-tuning or hybrid?",
        "## Why: each factor's pull",
        "## What would change this recommendation",
        "## Next steps for",
        "## Your answers",
    ):
        assert heading in md
    assert "| knowledge_change | weekly |" in md.replace("knowledge\\_change", "knowledge_change") or "| weekly |" in md


def test_evidence_section_in_html(compiled, rulebase, support_answers):
    html = _html(compiled, rulebase, support_answers, validation=ValidationRun.model_validate(VALIDATION))
    section = html[html.index('id="evidence"') :]
    assert "disagree" in section
    assert "failed: out of memory while training &lt;adapter&gt;" in section
    assert "0.95" in section and "0.80" in section  # recall@k and MRR of rag
    assert "[0.050, 0.350]" in section  # the comparison's interval
    assert "closed-book F1 was 0.05" in section
    assert "Collect more held-out pairs" in section
    assert "baseline" in section
    assert "<svg" in section  # the metric chart


def test_evidence_section_in_markdown(compiled, rulebase, support_answers):
    run = ValidationRun.model_validate(VALIDATION)
    md = render_markdown(recommend(compiled, support_answers), rulebase, validation=run)
    assert "## Evidence: measured on your data" in md
    assert "**disagree**" in md
    assert "| fine-tuning | failed: out of memory while training &lt;adapter&gt; |" in md
    assert "| hybrid vs rag | contains | 0.200 | \\[0.050, 0.350\\] | no |" in md


def test_evidence_tolerates_missing_fields(compiled, rulebase, support_answers):
    minimal = ValidationRun.model_validate({"approaches": {"rag": {"status": "ok", "answers": {"contains": 0.5}}}})
    context = evidence_context(minimal)
    assert context["rows"][0]["scores"] == ["0.50", "–", "–"]  # contains, then f1 and exact match not measured
    assert context["rows"][0]["cells"]["recall"] == "–"
    html = _html(compiled, rulebase, support_answers, validation=minimal)
    assert "Evidence" in html
    assert render_markdown(recommend(compiled, support_answers), rulebase, validation=ValidationRun())


def test_load_validation(validation_dir, tmp_path):
    run = load_validation(validation_dir)
    assert run.best_measured == "hybrid" and run.approaches["fine-tuning"].state == "failed"
    assert load_validation(validation_dir / "validation.json").agrees is False
    with pytest.raises(InputError, match="not found"):
        load_validation(tmp_path / "missing")
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "validation.json").write_text(json.dumps([1, 2]))
    with pytest.raises(InputError, match="validation.json: the validation file must be a mapping, found list"):
        load_validation(tmp_path / "list")


def test_write_report_by_ending(compiled, rulebase, support_answers, tmp_path):
    rec = recommend(compiled, support_answers)
    assert write_report(tmp_path / "r.html", rec, rulebase).read_text().startswith("<!DOCTYPE html>")
    assert write_report(tmp_path / "r.md", rec, rulebase).read_text().startswith("# ")
    assert format_for("x.HTM") == "html"
    with pytest.raises(InputError, match="report format"):
        write_report(tmp_path / "r.txt", rec, rulebase)


def test_text_summary(compiled, rulebase, support_answers):
    text = render_text(recommend(compiled, support_answers), rulebase, project="Acme")
    assert text.startswith("Project: Acme\nRecommendation: RAG")
    assert "Confidence:" in text and "style_adaptation: light -> strong" in text


def test_text_summary_names_unknowns_and_the_question_to_answer_next(compiled, rulebase):
    text = render_text(recommend(compiled, {"knowledge_change": "weekly"}), rulebase)
    assert "Unknown answers" in text and "Most informative question to answer next: " in text


def test_report_from_an_answers_file(answers_file, rulebase, compiled):
    model, answers = load_answers(answers_file, rulebase)
    html = render_html(recommend(compiled, answers), rulebase, project=model.project, answers_file=str(answers_file))
    assert "Acme &lt;script&gt;" in html


def test_code_spans_in_next_steps_are_escaped(compiled, rulebase, support_answers):
    hostile = rulebase.model_copy(deep=True)
    hostile.approaches["rag"].next_steps = ["Run `<script>x</script>` now"]
    from advisor.engine import compile_rules

    html = render_html(recommend(compile_rules(hostile), support_answers), hostile)
    assert "<code>&lt;script&gt;x&lt;/script&gt;</code>" in html
    assert "<script>" not in html


def test_reports_explain_the_questions_outside_the_contract(compiled, rulebase, support_answers):
    """Left out, the two new questions are named with their help; answered, their answer is shown instead."""
    rec = recommend(compiled, support_answers)
    text = render_text(rec, rulebase)
    assert "Left at their neutral default" in text
    assert "knowledge_location: Where does the knowledge an answer needs come from at answer time?" in text
    markdown = render_markdown(rec, rulebase)
    assert "Questions outside the answers contract" in markdown
    assert "- knowledge_location (left at its neutral default): 'in_prompt': it arrives" in markdown
    answered = recommend(compiled, {**support_answers, "knowledge_location": "corpus", "style_kind": "tone"})
    html = render_html(answered, rulebase)
    assert '<ul class="plain" id="extra-questions">' in html and "(answered: corpus)" in html
    assert "(answered: tone)" in html and "Left at their neutral default" not in render_text(answered, rulebase)


def test_a_capped_confidence_is_said_in_every_report(compiled, rulebase):
    rec = recommend(compiled, {"external_knowledge": "none", "style_adaptation": "strong", "labeled_examples": "none"})
    assert rec.confidence_capped_by == "nothing_to_train_on"
    assert "The confidence is capped: rule nothing_to_train_on alone decides" in render_markdown(rec, rulebase)
    assert "capped: rule nothing_to_train_on alone decides this verdict" in render_html(rec, rulebase)
