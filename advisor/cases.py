"""Case libraries: labelled scenarios checked against a rule base (how a rule base is tested and calibrated),
and measured cases added to them from validation runs (`case_from_validation`, `add_case`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.answers import normalise_answers
from advisor.modelfiles import read_model_file
from advisor.text import show
from advisor.engine import CompiledRules, Recommendation, recommend
from advisor.errors import InputError, did_you_mean
from advisor.models import RECOMMENDABLE, Case, CaseLibrary, RuleBase
from advisor.outcomes import PROMPT, PROMPT_LABEL

if TYPE_CHECKING:
    from advisor.runrecords import ValidationRun


@dataclass
class CaseReport:
    """How far a rule base agrees with a case library."""

    total: int
    agree: int
    confusion: dict[str, dict[str, int]]
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of cases where the recommendation is the expected approach (1.0 for an empty library)."""
        return self.agree / self.total if self.total else 1.0

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON: total, agree, accuracy, confusion (expected -> got -> count), disagreements."""
        return {
            "total": self.total,
            "agree": self.agree,
            "accuracy": round(self.accuracy, 4),
            "confusion": self.confusion,
            "disagreements": self.disagreements,
        }


def load_cases(path: str | os.PathLike, rulebase: RuleBase) -> CaseLibrary:
    """Read a case library and check every case's answers against the rule base; InputError names the case."""
    name = str(path)
    library = read_model_file(path, CaseLibrary, "case library")
    check_library(library, name)
    for i, case in enumerate(library.cases):
        normalise_answers(case.answers, rulebase, f"{name}: cases[{i}] ({case.name}).answers")
    return library


def check_library(library: CaseLibrary, name: str = "case library") -> None:
    """Problems the schema cannot see: duplicate case names (InputError naming both places)."""
    seen: dict[str, int] = {}
    for i, case in enumerate(library.cases):
        key = case.name.strip().lower()
        if key in seen:
            raise InputError(f"{name}: cases[{i}].name: duplicate case name '{case.name}' (also cases[{seen[key]}])")
        seen[key] = i


def case_warnings(library: CaseLibrary, name: str = "case library") -> list[str]:
    """Things worth fixing that do not stop a library from being checked: a case that says not why."""
    return [
        f"{name}: cases[{i}].why: case {show(case.name)} says not why it expects {case.expected} "
        f"(warning: the case is still checked)"
        for i, case in enumerate(library.cases) if not case.why.strip()
    ]


def verdict_for(case_expected: str, rec: Recommendation) -> str:
    """What a case's label is checked against: `prompt` against the verdict's start_with (few-shot prompting
    first, or an approach), an approach against the recommendation (the best of the three, as libraries written
    before `prompt` existed mean it)."""
    return rec.start_with if case_expected == PROMPT else rec.recommendation


def check_cases(compiled: CompiledRules, library: CaseLibrary) -> CaseReport:
    """Score every case; count agreements and build the confusion table (expected -> got).

    The table has a `prompt` row and column only when some case expects `prompt`.
    """
    labels = ([PROMPT] if any(c.expected == PROMPT for c in library.cases) else []) + list(RECOMMENDABLE)
    confusion = {a: dict.fromkeys(labels, 0) for a in labels}
    agree = 0
    disagreements = []
    for case in library.cases:
        answers = normalise_answers(case.answers, compiled.rulebase, case.name)
        rec = recommend(compiled, answers)
        got = verdict_for(case.expected, rec)
        confusion[case.expected][got] += 1
        if got == case.expected:
            agree += 1
        else:
            disagreements.append({
                "name": case.name,
                "expected": case.expected,
                "got": got,
                "why": case.why,
                "scores": rec.scores,
            })
    return CaseReport(total=len(library.cases), agree=agree, confusion=confusion, disagreements=disagreements)


# ---- measured cases from validation runs -------------------------------------------------------------


def _read_validation(path: str | os.PathLike) -> tuple[ValidationRun, Path]:
    from advisor.runrecords import load_validation, validation_path

    run = load_validation(path)
    where = validation_path(path)
    best = run.evidence_favours
    field = "favoured" if "favoured" in run.model_fields_set else "best_measured"
    labels = (PROMPT, *RECOMMENDABLE)  # a run whose evidence favoured few-shot prompting is a `prompt` case
    if run.best_measured is None:
        raise InputError(f"{where}: best_measured: no arm was measured (every one failed), so the run names no "
                         "approach to add as a case; fix the failed arms and re-run 'advisor validate'")
    if best is None and run.inconclusive:
        raise InputError(f"{where}: the run is inconclusive (no approach beat the untouched model beyond the noise), "
                         "so it labels no case; measure on more pairs first")
    if best not in labels:
        raise InputError(
            f"{where}: {field}: {show(best)} is not one of {', '.join(labels)}"
            + did_you_mean(str(best), labels)
        )
    return run, where


def case_from_validation(
    validation: str | os.PathLike, rulebase: RuleBase, answers: str | os.PathLike | None = None, name: str | None = None
) -> Case:
    """A measured case {name, expected, why, answers, source} from a validation run: its label is the arm the
    evidence favours (`favoured`; `best_measured` in runs written before it).

    The answers come from `answers` (an answers file), else from the run itself (an 'answers' mapping of
    question ids or an 'answers_file' path beside it); InputError when neither is there.
    """
    from advisor.answers import load_answers

    run, vpath = _read_validation(validation)
    project = None
    if answers is not None:
        model, checked = load_answers(answers, rulebase)
        project = model.project
    elif run.answers_file:
        model, checked = load_answers(vpath.parent / run.answers_file, rulebase)
        project = model.project
    elif run.answers:
        checked = normalise_answers(run.answers, rulebase, f"{vpath}: answers")
    else:
        raise InputError(f"{vpath}: the run does not record its answers; pass the answers file with --answers")
    best = run.evidence_favours
    metrics = [
        f"{approach}: {', '.join(f'{k} {v:.2f}' for k, v in arm.answers.items())}"
        for approach, arm in run.approaches.items()
        if arm.answers
    ]
    shown = f"{PROMPT_LABEL} ({best})" if best == PROMPT else best
    why = f"measured: the validation run favoured {shown}" + (f" ({'; '.join(metrics)})" if metrics else "")
    if run.recommended is not None:
        why += f"; the advisor had recommended {run.recommended}"
    return Case.model_validate({"name": name or f"measured: {project or vpath.parent.name or vpath.name}",
                                "expected": best, "why": why, "answers": dict(checked), "source": [str(vpath)]})


def add_case(cases_path: str | os.PathLike, case: Case, rulebase: RuleBase) -> Path:
    """Append a case to a case library file (created when missing) in its own format; InputError on duplicates.

    A JSON library stays JSON; a YAML library is edited round-trip (ruamel.yaml), so its comments, order
    and quoting stay. The result is read back through the usual reader before it replaces the file.
    """
    from advisor.atomic import write_text
    from advisor.datafiles import parse_data, read_data_file, read_text_file

    path = Path(cases_path)
    as_json = path.suffix.lower() == ".json"
    new = case.model_dump(mode="json")
    if not os.path.lexists(path):
        data: dict[str, Any] = {"version": 1, "cases": [new]}
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n" if as_json else _dump_yaml_round_trip(data)
    else:
        library = load_cases(path, rulebase)
        for existing in library.cases:
            if existing.name.strip().lower() == case.name.strip().lower():
                raise InputError(f"{path}: a case named {show(case.name)} is already there; give another --name")
        data = read_data_file(path, "case library")
        data = {**data, "cases": [*data.get("cases", []), new]}
        if as_json:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        else:
            text = _append_round_trip(read_text_file(path, "case library"), new)
    if parse_data(text, str(path), json_format=as_json, what="case library") != data:
        raise InputError(f"{path}: cannot add the case without changing what the library holds; add it by hand")
    library = CaseLibrary.model_validate(data)
    check_library(library, str(path))
    return write_text(path, text, "case library")


def _round_trip_yaml() -> Any:
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 110
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _dump_yaml_round_trip(data: Any) -> str:
    import io

    buffer = io.StringIO()
    _round_trip_yaml().dump(data, buffer)
    return buffer.getvalue()


def _append_round_trip(text: str, case: dict[str, Any]) -> str:
    """The YAML library's text with one more case, everything else (comments included) kept."""
    rt = _round_trip_yaml()
    document = rt.load(text)
    document["cases"].append(case)
    import io

    buffer = io.StringIO()
    rt.dump(document, buffer)
    return buffer.getvalue()
