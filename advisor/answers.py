"""Answers files (YAML or JSON, contract version 1): read, check against a rule base, save."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from advisor.atomic import write_text
from advisor.datafiles import parse_data, read_text_file
from advisor.errors import InputError, did_you_mean
from advisor.modelfiles import read_model_file
from advisor.models import UNKNOWN, AnswersFile
from advisor.text import show

__all__ = ["answer_choices", "check_answers", "check_question", "dump_answers", "explain_document", "load_answers",
           "load_partial_answers", "normalise_answers", "normalise_value", "save_answers"]

if TYPE_CHECKING:
    from advisor.models import RuleBase


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def check_question(key: Any, questions: Collection[str], where: str = "") -> str:
    """A question id checked against the rule base's; InputError naming the questions (and a close one) if unknown."""
    if key not in questions:
        raise InputError(
            f"{_prefix(where)}unknown question {show(key)}{did_you_mean(str(key), questions)}; "
            f"the questions are: {', '.join(questions)}"
        )
    return key


def normalise_value(qid: str, raw: Any, allowed: Sequence[str], where: str = "") -> str:
    """The one answer rule: text, trimmed and lower-cased (None or blank = 'unknown'), one of `allowed` or 'unknown'.

    `where` names the place in messages (a file and field, `--set '...'`); InputError when the value is refused.
    """
    if raw is None:
        return UNKNOWN
    if not isinstance(raw, str):
        raise InputError(
            f"{_prefix(where)}{qid}: {show(raw)} is not text; allowed values: {', '.join(allowed)}, unknown"
            + (" (quote YAML words like no/off)" if isinstance(raw, bool) else "")
        )
    value = raw.strip().lower() or UNKNOWN
    if value != UNKNOWN and value not in allowed:
        raise InputError(
            f"{_prefix(where)}{qid}: unknown value {show(raw)}{did_you_mean(value, allowed)}; "
            f"allowed values: {', '.join(allowed)}, unknown"
        )
    return value


Choices = Mapping[str, tuple[Sequence[str], "str | None"]]


def answer_choices(rulebase: RuleBase) -> dict[str, tuple[tuple[str, ...], str | None]]:
    """{question: (allowed values, default)} in rule-base order: what `check_answers` checks against."""
    return {q.id: (tuple(v.value for v in q.values), q.default) for q in rulebase.questions}


def check_answers(answers: Mapping[str, Any], choices: Choices, where: str = "") -> dict[str, str]:
    """Check ids and values (`normalise_value`); return {question: value or 'unknown'} for every question.

    Missing answers are 'unknown', except questions outside the contract with a default, which take it.
    """
    out: dict[str, str] = {}
    for key, raw in answers.items():
        check_question(key, choices, where)
        out[key] = normalise_value(key, raw, choices[key][0], where)
    return {qid: out.get(qid, default or UNKNOWN) for qid, (_, default) in choices.items()}


def normalise_answers(answers: Mapping[str, Any], rulebase: RuleBase, where: str) -> dict[str, str]:
    """Check answers against a rule base (`check_answers`); {question: value or 'unknown'} for every question."""
    return check_answers(answers, answer_choices(rulebase), where)


EXPECTED = "an answers file is a mapping with 'version: 1' and the answers under 'answers:' (docs/formats.md)"


def looks_like(data: Any, questions: Collection[str] = ()) -> str | None:
    """What parsed data that is not an answers file looks like, as a phrase; None when it looks like one.

    The plausible mistakes: the answers without their `answers:` wrapper, a case library, a rule base, a
    validation.json or build metrics given where an answers file belongs.
    """
    if not isinstance(data, dict) or "answers" in data:
        return None
    keys = [str(k) for k in data]
    top_questions = [k for k in keys if k in questions]
    if top_questions:
        return (f"it holds question ids at the top level ({', '.join(top_questions[:3])}"
                f"{', ...' if len(top_questions) > 3 else ''}): put them under 'answers:', with 'version: 1' beside it")
    if "cases" in data:
        return "it looks like a case library (it has 'cases:'); score it with 'advisor cases FILE'"
    if "questions" in data and ("approaches" in data or "factors" in data):
        return "it looks like a rule base (it has 'questions:'); give it with --rules FILE"
    if "best_measured" in data or "recommended" in data:
        return ("it looks like a validation run's validation.json; report on it with "
                "'advisor report ANSWERS --validation DIR'")
    if "approach" in data and ("retrieval" in data or "baseline" in data):
        return "it looks like a build's metrics.json"
    return None


def looks_like_pairs(text: str) -> bool:
    """Whether text is JSON Lines of objects with a `question` (a pairs file), judged on its first lines."""
    lines = [line for line in text.splitlines()[:5] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        return all(isinstance(o := json.loads(line), dict) and "question" in o for line in lines)
    except ValueError:
        return False


def explain_document(exc: InputError, data: Any, text: str | None, name: str, rulebase: RuleBase | None) -> InputError:
    """The error to show for a document that is not an answers file: what it looks like and what was expected,
    or `exc` itself when it looks like nothing else."""
    if text is not None and looks_like_pairs(text):
        return InputError(f"{name}: this is question/answer pairs (JSON Lines, one object a line), not an answers "
                          f"file; give pairs to 'advisor validate --qa' or 'advisor build --qa'; {EXPECTED}")
    questions = [q.id for q in rulebase.questions] if rulebase is not None else []
    found = looks_like(data, questions)
    if found is None:
        return exc
    return InputError(f"{name}: not an answers file: {found}" + ("" if "'answers:'" in found else f"; {EXPECTED}"))


def load_answers(path: str | os.PathLike, rulebase: RuleBase) -> tuple[AnswersFile, dict[str, str]]:
    """Read an answers file; return the file model and the checked answers for every question.

    A file that is something else (pairs, a case library, a rule base, answers without `answers:`) is refused
    with what it looks like and what an answers file is.
    """
    from advisor.modelfiles import check_model

    text = read_text_file(path, "answers file")
    try:
        data = parse_data(text, str(path), json_format=str(path).lower().endswith(".json"), what="answers file")
    except InputError as exc:
        raise explain_document(exc, None, text, str(path), rulebase) from None
    try:
        model = check_model(data, AnswersFile, str(path), "answers file")
    except InputError as exc:
        raise explain_document(exc, data, None, str(path), rulebase) from None
    return model, normalise_answers(model.answers, rulebase, f"{path}: answers")


def load_partial_answers(path: str | os.PathLike, rulebase: RuleBase) -> tuple[dict[str, str], str | None]:
    """The answers a saved (maybe partial) answers file holds, checked, and its project; ({}, None) if none."""
    if not os.path.lexists(path):
        return {}, None
    model = read_model_file(path, AnswersFile, "answers file")
    checked = normalise_answers(model.answers, rulebase, f"{path}: answers")
    return {q: checked[q] for q in checked if q in model.answers}, model.project


def dump_answers(answers: Mapping[str, str], project: str | None = None) -> str:
    """YAML text of an answers file (version 1) in the given question order."""
    data: dict[str, Any] = {"version": 1}
    if project:
        data["project"] = project
    data["answers"] = dict(answers)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def save_answers(path: str | os.PathLike, answers: Mapping[str, str], project: str | None = None) -> Path:
    """Write an answers file atomically (YAML, or JSON when the name ends in .json)."""
    if str(path).lower().endswith(".json"):
        data: dict[str, Any] = {"version": 1, **({"project": project} if project else {}), "answers": dict(answers)}
        return write_text(path, json.dumps(data, indent=2) + "\n")
    return write_text(path, dump_answers(answers, project))
