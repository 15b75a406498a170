"""Reports of a recommendation: a terminal summary, Markdown, and a self-contained HTML page (Jinja2).

Jinja2 is imported only when Markdown or HTML is rendered, so `advisor recommend --format json` stays light.
HTML is rendered with autoescaping on; Markdown escapes every expression through `finalize`, so whatever the
user wrote (project name, file names, answers) is escaped in both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor import charts
from advisor.atomic import write_text
from advisor.errors import InputError
from advisor.measures import ARM_LABELS, METRIC_LABELS
from advisor.models import APPROACHES, UNKNOWN
from advisor.references import cite, cited_works
from advisor.text import terminal_safe

if TYPE_CHECKING:
    from advisor.analyses.bundle import Analyses
    from advisor.engine import Recommendation
    from advisor.models import RuleBase

FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
METRICS = tuple(METRIC_LABELS)
KNOWLEDGE_METRICS = ("contains", "f1", "exact_match")  # the columns of runs made before metrics followed the task


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


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def format_for(path: str | os.PathLike) -> str:
    """'markdown' or 'html' from a file name's ending; InputError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: cannot tell the report format from the ending '{suffix or '(none)'}'; "
                         f"use one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


# ---------------------------------------------------------------- validation evidence


def load_validation(directory: str | os.PathLike) -> dict[str, Any]:
    """Read DIR/validation.json (written by `advisor validate`); InputError naming the file if missing or malformed."""
    path = Path(directory)
    if path.is_dir() or path.suffix.lower() != ".json":
        path = path / "validation.json"
    if not path.exists():
        raise InputError(f"validation file '{path}' not found (run 'advisor validate' to create it)")
    data = read_validation_file(path)
    data.setdefault("_file", str(path))
    return data


def read_validation_file(path: str | os.PathLike) -> dict[str, Any]:
    """A validation.json through the one reader, its rendered fields type-checked (ValidationRun); plain data."""
    from advisor.answers import check_model
    from advisor.datafiles import read_data_file
    from advisor.models import ValidationRun

    data = read_data_file(path, "validation file")
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object with 'approaches', found {type(data).__name__}")
    check_model(data, ValidationRun, str(path), "validation file")
    return data


def evidence_context(validation: Mapping[str, Any]) -> dict[str, Any]:
    """Plain rows and text for the Evidence section; tolerant of missing optional fields."""
    metric: str = validation["metric"] if validation.get("metric") in METRICS else "contains"
    reported = [str(m) for m in validation.get("metrics_reported") or KNOWLEDGE_METRICS if m in METRICS]
    columns = [metric] + [m for m in reported if m != metric]
    approaches = validation.get("approaches") or {}
    baseline = validation.get("baseline") if isinstance(validation.get("baseline"), Mapping) else None
    if baseline is None:
        baseline = next((a.get("baseline") for a in approaches.values()
                         if isinstance(a, Mapping) and isinstance(a.get("baseline"), Mapping)), None)
    rows = []
    if baseline:
        rows.append(_row(ARM_LABELS["untouched"], "baseline", {"status": "ok", **baseline}, columns))
    names = [a for a in ARM_LABELS if a in approaches and a != "untouched"] + \
        [a for a in approaches if a not in ARM_LABELS]
    for name in names:
        rows.append(_row(ARM_LABELS.get(name) or str(name), name,
                         approaches[name] if isinstance(approaches[name], Mapping) else {}, columns))
    chart_items = [(r["key"], r["metric_values"][metric]) for r in rows
                   if r["ok"] and isinstance(r["metric_values"][metric], (int, float))]
    chart = charts.bar_chart(chart_items, title=f"{METRIC_LABELS[metric]} on held-out inputs (higher is better)",
                             min_value=0.0, max_value=1.0, highlight=validation.get("best_measured"))
    comparisons = []
    for comp in validation.get("comparisons") or []:
        if not isinstance(comp, Mapping):
            continue
        raw = comp.get("ci95")
        ci = raw if isinstance(raw, (list, tuple)) and len(raw) == 2 else None
        comparisons.append({
            "a": str(comp.get("a", "?")), "b": str(comp.get("b", "?")), "metric": str(comp.get("metric", metric)),
            "difference": _num(comp.get("difference"), 3),
            "ci95": f"[{_num(ci[0], 3)}, {_num(ci[1], 3)}]" if ci else "–",
            "tie": bool(comp.get("tie")),
        })
    challenged = [
        {
            "question": str(c.get("question", "")),
            "answer": str(c.get("answer", "")),
            "evidence": str(c.get("evidence", "")),
        }
        for c in validation.get("challenged_answers") or []
        if isinstance(c, Mapping)
    ]
    agrees = validation.get("agrees")
    examples = []
    for ex in validation.get("examples") or []:
        if not isinstance(ex, Mapping) or not isinstance(ex.get("outputs"), Mapping):
            continue
        outputs = [
            {"arm": ARM_LABELS.get(str(arm), str(arm)), "text": str(o.get("text", "")), "score": _num(o.get("score"))}
            for arm, o in ex["outputs"].items()
            if isinstance(o, Mapping)
        ]
        refs = [str(r) for r in ex.get("references") or []]
        examples.append(
            {
                "input": str(ex.get("input", "")),
                "references": refs[:3],
                "more": max(0, len(refs) - 3),
                "outputs": outputs,
            }
        )
    retrieving = any(r["retrieval"] for r in rows)
    return {
        "columns": [{"key": m, "label": METRIC_LABELS[m]} for m in columns],
        "retrieving": retrieving,
        "examples": examples,
        "prompt_enough": validation.get("prompt_enough") is True,
        "file": validation.get("_file", ""),
        "metric": metric,
        "metric_reason": validation.get("metric_reason") or "",
        "recommended": validation.get("recommended") or "",
        "best_measured": validation.get("best_measured") or "",
        "agrees": agrees if isinstance(agrees, bool) else None,
        "questions": validation.get("questions"),
        "seed": validation.get("seed"),
        "test_fraction": validation.get("test_fraction"),
        "rows": rows,
        "chart": chart if chart_items else "",
        "verdict": str(validation.get("verdict") or ""),
        "comparisons": comparisons,
        "challenged": challenged,
        "next_steps": [str(s) for s in validation.get("next_steps") or []],
        "stages": [
            {"name": str(s.get("name", "")), "seconds": _num(s.get("seconds"), 1)}
            for s in validation.get("stages") or []
            if isinstance(s, Mapping)
        ],
    }


def _row(label: str, key: str, data: Mapping[str, Any], columns: list[str]) -> dict[str, Any]:
    status = str(data.get("status") or ("ok" if data.get("answers") else "missing"))
    answers: Mapping[str, Any] = data["answers"] if isinstance(data.get("answers"), Mapping) else {}
    metric_values = {m: answers.get(m) for m in METRICS}
    retrieval: Mapping[str, Any] = data["retrieval"] if isinstance(data.get("retrieval"), Mapping) else {}
    return {
        "scores": [_num(answers.get(m)) for m in columns],
        "retrieval": bool(retrieval),
        "in_context": _num(retrieval.get("answer_in_context")),
        "label": label,
        "key": key,
        "ok": status == "ok",
        "status": status,
        "error": str(data.get("error") or data.get("reason") or ""),
        "metric_values": metric_values,
        "cells": {
            "contains": _num(answers.get("contains")),
            "f1": _num(answers.get("f1")),
            "exact_match": _num(answers.get("exact_match")),
            "recall": _num(retrieval.get("recall_at_k")),
            "k": retrieval.get("k"),
            "mrr": _num(retrieval.get("mrr")),
            "p50": _num(_get(data, "latency_ms", "p50"), 0),
            "p95": _num(_get(data, "latency_ms", "p95"), 0),
            "build": _num(data.get("build_seconds"), 1),
            "memory": _num(data.get("peak_memory_mb"), 0),
            "questions": _num(data.get("questions"), 0),
        },
    }


# ---------------------------------------------------------------- context


def report_context(
    rec: Recommendation,
    rulebase: RuleBase,
    *,
    project: str | None = None,
    answers_file: str | None = None,
    validation: Mapping[str, Any] | None = None,
    depth: Analyses | None = None,
    what_if: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a report template needs, as plain data (charts as SVG strings).

    `depth` is the `Analyses` of `advisor.analyses.bundle.analyse_depth` (robustness, prompt first, unknowns, costs);
    `what_if` is `advisor.analyses.whatif.WhatIf.to_dict()` when answers were changed with `recommend --set`.
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
    info = rulebase.approaches.get(rec.recommendation)  # type: ignore[call-overload]
    score_chart = charts.bar_chart(
        [(a, rec.scores[a]) for a in APPROACHES],
        title="Scores (0 to 1)",
        min_value=0.0,
        max_value=1.0,
        highlight=rec.recommendation,
    )
    factor_chart = charts.grouped_bar_chart(
        [factor_labels.get(f.id, f.id) for f in rec.factors],
        {a: [f.pull(a) for f in rec.factors] for a in APPROACHES},
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
        "label": info.label if info else rec.recommendation,
        "summary": info.summary if info else "",
        "confidence_pct": round(rec.confidence * 100),
        "confidence_word": confidence_word(rec.confidence),
        "scores": [
            {"name": a, "score": rec.scores[a], "raw": rec.raw_scores[a], "top": a == rec.recommendation}
            for a in APPROACHES
        ],
        "factors": factors,
        "rules": rules,
        "references": cited_works(c for row in factors + rules for c in row["citations"]),
        "notes": rec.notes,
        "flips": flips,
        "answers": answers,
        "unknown": rec.unknown,
        "ask_next": rec.ask_next,
        "ask_next_text": questions[rec.ask_next].text if rec.ask_next in questions else "",
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


def confidence_word(confidence: float) -> str:
    """A plain word for a confidence value."""
    if confidence >= 0.75:
        return "high"
    if confidence >= 0.45:
        return "moderate"
    return "low"


# ---------------------------------------------------------------- rendering

# `_` only where it could open or close emphasis: inside a word (snake_case) CommonMark never reads it as markup
_MD_SPECIAL = re.compile(r"([\\*~\[\]|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")


def escape_markdown(value: Any) -> str:
    """Escape text for Markdown (also inside tables), as one line with control characters shown as escapes.

    Outside `code spans`: markup (* _ ~ [ ] | \\ and a leading #) is backslash-escaped and < > & become
    entities. Inside a code span nothing is markup, so only the table's | is escaped.
    """
    text = terminal_safe(" ".join(("" if value is None else str(value)).split()))
    parts = []
    for n, part in enumerate(_CODE_SPAN.split(text)):
        if n % 2:
            parts.append(part.replace("|", "\\|"))
        else:
            part = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            parts.append(_MD_SPECIAL.sub(r"\\\1", part))
    return re.sub(r"^#", r"\\#", "".join(parts))


def _code_spans(value: Any) -> Any:
    """HTML filter: escape the text, then show `backticked` parts as <code>."""
    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(value))))


def template_environment(package: str, folder: str = "", markdown: bool = False) -> Any:
    """A Jinja2 environment over a package's templates: HTML autoescaped, Markdown escaped through `finalize`.

    Shared by the reports and the web app's pages, so every page escapes what users wrote the same way.
    """
    import jinja2

    def load(name: str) -> str:
        base = resources.files(package)
        return (base.joinpath(folder) if folder else base).joinpath(name).read_text(encoding="utf-8")

    common: dict[str, Any] = {"loader": jinja2.FunctionLoader(load), "undefined": jinja2.StrictUndefined,
                              "trim_blocks": True, "lstrip_blocks": True}
    if markdown:
        return jinja2.Environment(autoescape=False, finalize=escape_markdown, keep_trailing_newline=True, **common)
    return jinja2.Environment(autoescape=True, **common)


def _environment(kind: str) -> Any:
    env = template_environment("advisor.reports", markdown=kind != "html")
    env.filters["num"] = _num
    env.filters["code"] = _code_spans
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
    info = rulebase.approaches.get(rec.recommendation)  # type: ignore[call-overload]
    questions = {q.id: q for q in rulebase.questions}
    lines = []
    if project:
        lines.append(f"Project: {project}")
    lines.append(f"Recommendation: {info.label if info else rec.recommendation}")
    lines.append(f"Confidence:     {rec.confidence:.2f} ({confidence_word(rec.confidence)})")
    lines.append("Scores:         " + "   ".join(f"{a} {rec.scores[a]:.2f}" for a in APPROACHES))
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
            effect = ", ".join(f"{a} {r.pull(a):+.2f}" for a in APPROACHES if r.pull(a))
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
            lines.append(
                f"Answering '{rec.ask_next}' would sharpen the verdict most: {questions[rec.ask_next].text}"
                if rec.ask_next in questions
                else f"Answering '{rec.ask_next}' would sharpen it most."
            )
    if rec.next_steps:
        lines.append("")
        lines.append("Next steps:")
        lines.extend(f"  {i}. {step}" for i, step in enumerate(rec.next_steps, 1))
    return terminal_safe("\n".join(lines) + "\n")
