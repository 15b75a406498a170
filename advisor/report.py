"""Reports of a recommendation: a terminal summary, Markdown, and a self-contained HTML page (Jinja2).

Jinja2 is imported only when Markdown or HTML is rendered, so `advisor recommend --format json` stays light.
HTML is rendered with autoescaping on; Markdown escapes every expression through `finalize`, so whatever the
user wrote (project name, file names, answers) is escaped in both.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor import charts
from advisor.atomic import write_text
from advisor.errors import InputError
from advisor.models import RECOMMENDABLE, UNKNOWN
from advisor.outcomes import PROMPT, PROMPT_HEADLINE, PROMPT_LABEL, PROMPT_SUMMARY
from advisor.references import cite, cited_works
from advisor.templating import html_code_spans, markdown_code_spans, template_environment
from advisor.text import terminal_safe

if TYPE_CHECKING:
    from advisor.runrecords import ArmResult, Example, Usage, ValidationRun
    from advisor.analyses.bundle import Analyses
    from advisor.analyses.whatif import WhatIf
    from advisor.engine import Recommendation
    from advisor.models import RuleBase

FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
KNOWLEDGE_METRICS = ("contains", "f1", "exact_match")  # the columns of runs made before metrics followed the task
ASK_NEXT = "Most informative question to answer next"  # the one wording, for `rec.ask_next` only


# ---------------------------------------------------------------- helpers


def _num(value: Any, digits: int = 2, suffix: str = "") -> str:
    """A number for a table cell; '–' when missing."""
    if isinstance(value, bool) or value is None:
        return "–"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value != value:  # NaN
            return "–"
        return f"{value:.{digits}f}{suffix}" if isinstance(value, float) else f"{value}{suffix}"
    return str(value)


def format_for(path: str | os.PathLike) -> str:
    """'markdown' or 'html' from a file name's ending; InputError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: cannot tell the report format from the ending '{suffix or '(none)'}'; "
                         f"use one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


# ---------------------------------------------------------------- validation evidence


def evidence_context(run: ValidationRun) -> dict[str, Any]:
    """Rows and text of the Evidence section, from a typed validation run."""
    from advisor.backends import arms
    from advisor.backends.metrics import METRICS
    from advisor.runrecords import ArmResult
    metric = run.metric if run.metric in METRICS else "contains"
    reported = [m for m in run.metrics_reported or KNOWLEDGE_METRICS if m in METRICS]
    columns = [metric] + [m for m in reported if m != metric]
    baseline = run.baseline or next((a.baseline for a in run.approaches.values() if a.baseline), None)
    rows = []
    if baseline:
        rows.append(_row(arms.BASELINE_LABEL, "baseline", ArmResult(status="ok", answers=baseline.answers),
                         columns))
    names = sorted(run.approaches, key=arms.cost_rank)  # cheapest first; arms no longer registered last
    rows += [_row(arms.label(name), name, run.approaches[name], columns) for name in names]
    if baseline and rows and rows[0]["key"] == "baseline":
        rows[0]["cells"].update(_usage_cells(baseline.usage))
    chart_items = [(r["key"], r["metric_value"]) for r in rows if r["ok"] and r["metric_value"] is not None]
    chart = charts.bar_chart(chart_items, title=f"{METRICS[metric].label} on held-out inputs (higher is better)",
                             min_value=0.0, max_value=1.0, highlight=run.best_measured)
    return {
        "columns": [{"key": m, "label": METRICS[m].label} for m in columns],
        "retrieving": any(r["retrieval"] for r in rows),
        "examples": [_example(ex) for ex in run.examples],
        "prompt_enough": run.prompt_enough,
        "metric": metric,
        "metric_reason": run.metric_reason or "",
        "recommended": (f"{PROMPT_LABEL} first, then {run.recommended}" if run.start_with == PROMPT
                        else run.recommended or ""),
        "best_measured": run.best_measured or "",
        "agrees": run.agrees,
        "questions": run.questions,
        "seed": run.seed,
        "test_fraction": run.test_fraction,
        "sample": sample_text(run),
        "rows": rows,
        "chart": chart if chart_items else "",
        "verdict": run.verdict or "",
        "comparisons": [
            {"a": c.a, "b": c.b, "metric": c.metric or metric, "difference": _num(c.difference, 3),
             "ci95": f"[{_num(c.ci95[0], 3)}, {_num(c.ci95[1], 3)}]" if c.ci95 else "–", "tie": c.tie}
            for c in run.comparisons
        ],
        "challenged": [{"question": c.question, "answer": c.answer, "evidence": c.evidence}
                       for c in run.challenged_answers],
        "next_steps": run.next_steps,
        "stages": [{"name": s.name, "seconds": _num(s.seconds, 1)} for s in run.stages],
        "usage": any(r["cells"]["tokens"] != "–" for r in rows),
        "judge": _judge(run),
        "answered_by": _answered_by(run),
        "model_warning": run.model_warning or "",
    }


def sample_text(run: ValidationRun) -> str:
    """What the numbers were measured on, in one sentence: how many held-out inputs were answered (of how many),
    how the split was made, the training pairs, and what retrieval was scored on when that differs."""
    answered, held = run.questions, run.held_out
    if answered is not None and held is not None and answered < held:
        parts = [f"Answers scored on {answered} of {held} held-out inputs (--eval-limit)"]
    else:
        parts = [f"Held-out inputs: {_num(answered if answered is not None else held, 0)}"]
    if run.split_pinned:
        parts.append("held-out pairs fixed by their split field")
    elif run.test_fraction is not None:
        parts.append(f"test fraction {run.test_fraction:g}")
    if run.seed is not None:
        parts.append(f"seed {run.seed}")
    if run.train_pairs is not None:
        parts.append(f"{run.train_pairs} pairs for training")
    text = ", ".join(parts)
    scored = {a.retrieval.questions for a in run.approaches.values() if a.ok and a.retrieval and a.retrieval.questions}
    if scored and scored != {answered}:
        text += (f"; retrieval (recall@k, MRR) on {', '.join(str(n) for n in sorted(scored))} held-out inputs, "
                 "since it needs no generation")
    return text + "."


def _judge(run: ValidationRun) -> dict[str, str] | None:
    """The optional LLM judge's line: who judged, the share of each arm's responses it called correct, the note."""
    if run.judge is None:
        return None
    blocks = ([("untouched", run.baseline.judge)] if run.baseline is not None else []) + \
        [(name, arm.judge) for name, arm in run.approaches.items() if arm.ok]
    from advisor.backends.arms import label

    shares = [f"{label(name)} {_num(score.correct)}" for name, score in blocks
              if score is not None and score.correct is not None]
    usages = [score.usage for _, score in blocks if score is not None and score.usage is not None]
    costs = [u.cost for u in usages if u.cost is not None]
    spent = f" Judging cost {money(sum(costs), usages[0].currency)}." if costs else ""
    return {"who": f"{run.judge.model} at {run.judge.host}, rubric v{run.judge.rubric_version}",
            "shares": ", ".join(shares) or "no verdicts", "note": run.judge.note + spent}


def _answered_by(run: ValidationRun) -> list[dict[str, str]]:
    """Which model answered which arms, grouped: 'MODEL at HOST' (an endpoint) or 'MODEL (in-process, cpu)'."""
    from advisor.backends.arms import BASELINE, label

    who: dict[str, list[str]] = {}
    if run.baseline is not None and run.baseline.answered_by is not None:
        who.setdefault(run.baseline.answered_by.describe(), []).append(label(BASELINE))
    for name, arm in run.approaches.items():
        if arm.ok and arm.answered_by is not None:
            who.setdefault(arm.answered_by.describe(), []).append(label(name))
    return [{"model": model, "arms": ", ".join(names)} for model, names in who.items()]


def money(value: float | None, currency: str | None) -> str:
    """An amount with enough digits for small ones ('0.0123 USD'); '–' when unknown."""
    if value is None:
        return "–"
    digits = 2 if value >= 10 else 4 if value >= 0.01 else 6
    return f"{value:.{digits}f} {currency or ''}".strip()


def _usage_cells(usage: Usage | None) -> dict[str, str]:
    """Tokens in / out per answer, cost per 1,000 answers and answers per second, for the evidence table."""
    if usage is None:
        return {"tokens": "–", "cost": "–", "rate": "–", "ended": ""}
    tokens = "–"
    if usage.prompt_tokens_per_answer is not None and usage.completion_tokens_per_answer is not None:
        tokens = f"{usage.prompt_tokens_per_answer:.0f} / {usage.completion_tokens_per_answer:.0f}"
    ended = ", ".join(part for part in (f"{usage.empty} empty" if usage.empty else "",
                                        f"{usage.cut} cut by the token limit" if usage.cut else "") if part)
    return {"tokens": tokens, "cost": money(usage.cost_per_1000_answers, usage.currency),
            "rate": _num(usage.answers_per_second, 2), "ended": ended}


def _example(ex: Example) -> dict[str, Any]:
    from advisor.backends.arms import label as arm_label

    return {
        "input": ex.input,
        "references": ex.references[:3],
        "more": max(0, len(ex.references) - 3),
        "outputs": [{"arm": arm_label(arm), "text": o.text, "score": _num(o.score)}
                    for arm, o in ex.outputs.items()],
    }


def _reason(reason: str | None) -> str:
    """Why an arm did not apply, without the status the row already shows (runs before this wrote it twice)."""
    text = reason or ""
    return text[len("not applicable: "):] if text.startswith("not applicable: ") else text


def _row(label: str, key: str, arm: ArmResult, columns: list[str]) -> dict[str, Any]:
    from advisor.runrecords import Latency, Retrieval

    retrieval = arm.retrieval or Retrieval()
    latency = arm.latency_ms or Latency()
    return {
        "scores": [_num(arm.answers.get(m)) for m in columns],
        "metric_value": arm.answers.get(columns[0]),
        "retrieval": arm.retrieval is not None,
        "in_context": _num(retrieval.answer_in_context),
        "label": label,
        "key": key,
        "ok": arm.ok,
        "status": arm.state,
        "error": arm.error or _reason(arm.reason),
        "cells": {
            "recall": _num(retrieval.recall_at_k),
            "k": retrieval.k,
            "mrr": _num(retrieval.mrr),
            "p50": _num(latency.p50, 0),
            "p95": _num(latency.p95, 0),
            "build": _num(arm.build_seconds, 1),
            "memory": _num(arm.peak_memory_mb, 0),
            **_usage_cells(arm.usage),
        },
    }


# ---------------------------------------------------------------- context


def report_context(
    rec: Recommendation,
    rulebase: RuleBase,
    *,
    project: str | None = None,
    answers_file: str | None = None,
    validation: ValidationRun | None = None,
    depth: Analyses | None = None,
    what_if: WhatIf | None = None,
) -> dict[str, Any]:
    """Everything a report template needs, as plain data (charts as SVG strings).

    `depth` is the `Analyses` of `advisor.analyses.bundle.analyse_depth` (robustness, prompt first, unknowns, costs);
    `what_if` is the `advisor.analyses.whatif.WhatIf` of `recommend --set`, when answers were changed.
    """
    questions = {q.id: q for q in rulebase.questions}
    factor_labels = {f.id: f.label or f.id for f in rulebase.factors}
    answers = [
        {
            "id": qid,
            "text": questions[qid].text if qid in questions else qid,
            "value": value,
            "unknown": value == UNKNOWN,
        }
        for qid, value in rec.answers.items()
    ]
    flips = [
        {**flip.model_dump(by_alias=True),
         "text": questions[flip.question].text if flip.question in questions else flip.question}
        for flip in rec.flips
    ]
    head = headline(rec, rulebase)
    score_chart = charts.bar_chart(
        [(a, rec.scores[a]) for a in RECOMMENDABLE],
        title="Scores (0 to 1)",
        min_value=0.0,
        max_value=1.0,
        highlight=rec.recommendation,
    )
    factor_chart = charts.grouped_bar_chart(
        [factor_labels.get(f.id, f.id) for f in rec.factors],
        {a: [f.pull(a) for f in rec.factors] for a in RECOMMENDABLE},
        title="Each factor's pull (weighted; right favours, left counts against)",
        value_format="+.2f",
    )
    factors = [
        {
            **f.model_dump(by_alias=True),
            "label": factor_labels.get(f.id, f.id),
            "citations": cite(rulebase, f.source),
            "answer_text": ", ".join(f"{q} = {v}" for q, v in f.answers.items()),
        }
        for f in rec.factors
    ]
    rules = [{**r.model_dump(by_alias=True), "citations": cite(rulebase, r.source)} for r in rec.rules]
    return {
        "project": project or "",
        "answers_file": answers_file or "",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rec": rec,
        "label": head["label"],
        "summary": head["summary"],
        "fallback": head["fallback"],
        "confidence": f"{rec.confidence:.2f}",
        "confidence_word": confidence_word(rec.confidence),
        "scores": [
            {"name": a, "score": rec.scores[a], "raw": rec.raw_scores[a], "top": a == rec.recommendation}
            for a in RECOMMENDABLE
        ],
        "factors": factors,
        "rules": rules,
        "references": cited_works(c for row in factors + rules for c in row["citations"]),
        "notes": rec.notes,
        "flips": flips,
        "answers": answers,
        "extra_questions": [
            {"id": q.id, "text": q.text, "help": " ".join(q.help.split()), "value": rec.answers.get(q.id, UNKNOWN),
             "at_default": rec.answers.get(q.id) == q.default}
            for q in rulebase.questions if q.default is not None
        ],
        "unknown": rec.unknown,
        "ask_next": rec.ask_next,
        "ask_next_text": questions[rec.ask_next].text if rec.ask_next in questions else "",
        "ask_next_label": ASK_NEXT,
        "next_steps": rec.next_steps,
        "rules_name": rulebase.name,
        "score_chart": score_chart,
        "factor_chart": factor_chart,
        "evidence": evidence_context(validation) if validation is not None else None,
        "what_if": what_if,
        **_depth_sections(depth),
    }


def _depth_sections(depth: Analyses | None) -> dict[str, Any]:
    from advisor.analyses.bundle import report_sections

    return report_sections(depth)


def headline(rec: Recommendation, rulebase: RuleBase) -> dict[str, str]:
    """What the verdict says first, the same in every output: `label` and `summary` of the outcome to start
    with, and `fallback`, the best of the three approaches, when that outcome is few-shot prompting ('' else)."""
    info = rulebase.approaches.get(rec.recommendation)
    approach = info.label if info else rec.recommendation
    if rec.start_with == PROMPT:
        return {"label": PROMPT_HEADLINE, "summary": PROMPT_SUMMARY, "fallback": approach}
    return {"label": approach, "summary": info.summary if info else "", "fallback": ""}


def confidence_text(confidence: float) -> str:
    """Confidence as every output shows it: a score from 0 to 1 and its word, never a percentage (it is a
    reasoned heuristic, not a probability)."""
    return f"{confidence:.2f} ({confidence_word(confidence)})"


def confidence_word(confidence: float) -> str:
    """A plain word for a confidence value."""
    if confidence >= 0.75:
        return "high"
    if confidence >= 0.45:
        return "moderate"
    return "low"


# ---------------------------------------------------------------- rendering

def _environment(kind: str) -> Any:
    env = template_environment("advisor.reports", markdown=kind != "html")
    env.filters["num"] = _num
    env.filters["code"] = html_code_spans if kind == "html" else markdown_code_spans
    env.filters["signed"] = lambda v: f"{v:+.2f}"
    return env


def render_markdown(rec: Recommendation, rulebase: RuleBase, **kwargs: Any) -> str:
    """The Markdown report (user text escaped)."""
    context = report_context(rec, rulebase, **kwargs)
    return _environment("markdown").get_template("report.md.j2").render(**context)


def render_html(rec: Recommendation, rulebase: RuleBase, **kwargs: Any) -> str:
    """The single self-contained HTML page: inline CSS and SVG, no external fetches, autoescaped."""
    from markupsafe import Markup

    context = report_context(rec, rulebase, **kwargs)
    for key in ("score_chart", "factor_chart"):
        context[key] = Markup(context[key])
    if context["evidence"] and context["evidence"]["chart"]:
        context["evidence"]["chart"] = Markup(context["evidence"]["chart"])
    context["cost_chart"] = Markup(context["cost_chart"])
    context["css"] = Markup(resources.files("advisor.reports").joinpath("report.css").read_text(encoding="utf-8"))
    return _environment("html").get_template("report.html.j2").render(**context)


def render(rec: Recommendation, rulebase: RuleBase, fmt: str, **kwargs: Any) -> str:
    """Render in 'markdown' or 'html'."""
    return render_html(rec, rulebase, **kwargs) if fmt == "html" else render_markdown(rec, rulebase, **kwargs)


def write_report(path: str | os.PathLike, rec: Recommendation, rulebase: RuleBase, **kwargs: Any) -> Path:
    """Render the report in the format of the file's ending (.md or .html) and write it atomically."""
    return write_text(path, render(rec, rulebase, format_for(path), **kwargs))


def render_text(rec: Recommendation, rulebase: RuleBase, project: str | None = None) -> str:
    """A readable terminal summary (no Jinja2)."""
    head = headline(rec, rulebase)
    questions = {q.id: q for q in rulebase.questions}
    lines = []
    if project:
        lines.append(f"Project: {project}")
    lines.append(f"Recommendation: {head['label']}")
    if head["fallback"]:
        lines.append(f"                {head['summary']}")
        lines.append(f"If it falls short, the best of the three approaches: {head['fallback']}")
    lines.append(f"Confidence:     {confidence_text(rec.confidence)}"
                 + (" (in that choice among the three)" if head["fallback"] else ""))
    if rec.confidence_capped_by:
        lines.append(f"{'':<16}capped: rule {rec.confidence_capped_by} alone decides this verdict (see its note)")
    lines.append("Scores:         " + "   ".join(f"{a} {rec.scores[a]:.2f}" for a in RECOMMENDABLE))
    lines.append("")
    lines.append("Why (each factor's weighted pull: rag / fine-tuning / hybrid):")
    ranked = sorted(rec.factors, key=lambda f: -abs(f.pull(rec.recommendation)))
    for f in ranked:
        answer = ", ".join(f"{q}={v}" for q, v in f.answers.items())
        lines.append(f"  {f.label:<22} {answer:<28} {f.rag:+.2f} / {f.fine_tuning:+.2f} / {f.hybrid:+.2f}")
        if f.because:
            lines.append(f"  {'':<22} {f.because}")
    if rec.rules:
        lines.append("")
        lines.append("Combination rules that fired:")
        for r in rec.rules:
            effect = ", ".join(f"{a} {r.pull(a):+.2f}" for a in RECOMMENDABLE if r.pull(a))
            lines.append(f"  {r.id}: {r.because}" + (f" ({effect})" if effect else ""))
    for note in rec.notes:
        lines.append("")
        lines.append(f"Note: {note}")
    lines.append("")
    if rec.flips:
        lines.append("What would change this recommendation (one answer at a time):")
        for flip in rec.flips:
            lines.append(f"  {flip.question}: {flip.from_} -> {flip.to}  gives {flip.recommendation}")
    else:
        lines.append("No single changed answer would change this recommendation.")
    if rec.unknown:
        lines.append("")
        lines.append(f"Unknown answers (neutral, they lower the confidence): {', '.join(rec.unknown)}")
        if rec.ask_next:
            text = f" ({questions[rec.ask_next].text})" if rec.ask_next in questions else ""
            lines.append(f"{ASK_NEXT}: {rec.ask_next}{text}")
    defaulted = [q for q in rulebase.questions if q.default is not None and rec.answers.get(q.id) == q.default]
    if defaulted:
        lines.append("")
        lines.append("Left at their neutral default (outside the answers contract; answer them in the answers file "
                     f"or try 'recommend FILE --set {defaulted[0].id}={defaulted[0].values[-1].value}'):")
        lines.extend(f"  {q.id}: {q.text}" for q in defaulted)
    if rec.next_steps:
        lines.append("")
        lines.append("Next steps:")
        lines.extend(f"  {i}. {step}" for i, step in enumerate(rec.next_steps, 1))
    return terminal_safe("\n".join(lines) + "\n")
