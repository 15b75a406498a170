"""How well each way of scoring a knowledge answer agrees with a person who read it.

A grader is any function from (question, references, response) to True (correct), False (incorrect) or None
(no verdict: a judge that failed or answered off-format). `agreement` scores graders against a labelled set
(`LabelledAnswer` lines, read by `read_labels`) with scikit-learn's accuracy and Cohen's kappa, overall and
per part (the `source` of each line: the sample project, COVID-QA). The LLM-free graders are `GRADERS`;
an LLM judge is one more entry in the mapping passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from advisor import matching
from advisor.backends.metrics import contains, token_f1

Grader = Callable[[str, Sequence[str], str], Optional[bool]]
# Token F1 gives a score, not a verdict: at or above this it counts as correct (SQuAD's usual reading of
# "mostly overlapping"). Stated here so the table compares like with like.
F1_CORRECT = 0.5
ALL = "all"


class LabelledAnswer(BaseModel):
    """One real response from a validation run, marked correct or not by a person who read it."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    references: list[str] = Field(min_length=1)
    response: str
    arm: str = Field(min_length=1)
    source: str = Field(min_length=1)
    kind: Literal["answer", "paraphrase"] = "answer"
    label: bool
    note: str = ""


@dataclass(frozen=True)
class Agreement:
    """One grader on one part of the labelled set: how often it agrees with the reader, and how it errs."""

    grader: str
    part: str
    items: int
    graded: int  # items the grader gave a verdict on; accuracy and kappa are over these
    accuracy: float
    kappa: float | None  # None where it is undefined (one class only on both sides)
    missed: int  # the reader marked it correct, the grader did not
    false_accepts: int  # the grader counted it correct, the reader did not


def _contains(question: str, references: Sequence[str], response: str) -> bool:
    return max(contains(response, ref) for ref in references) == 1.0


def _token_f1(question: str, references: Sequence[str], response: str) -> bool:
    return max(token_f1(response, ref) for ref in references) >= F1_CORRECT


def _answer_match(question: str, references: Sequence[str], response: str) -> bool:
    return matching.answer_match(response, references, question) == 1.0


GRADERS: dict[str, Grader] = {
    "contains": _contains,
    f"token F1 >= {F1_CORRECT}": _token_f1,
    matching.RULE_LABEL: _answer_match,
}


def read_labels(path: Path) -> list[LabelledAnswer]:
    """The labelled set, one JSON object a line; a bad line is an InputError naming the line and the field."""
    from advisor.datafiles import parse_json
    from advisor.modelfiles import check_model

    with open(path, encoding="utf-8") as handle:
        return [check_model(parse_json(text, f"{path}:{n}"), LabelledAnswer, f"{path}:{n}", "labelled answer")
                for n, text in enumerate(handle, 1) if text.strip()]


def _score(name: str, part: str, truth: Sequence[bool], verdicts: Sequence[bool | None]) -> Agreement:
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    pairs = [(t, v) for t, v in zip(truth, verdicts) if v is not None]
    gold, said = [t for t, _ in pairs], [v for _, v in pairs]
    accuracy = float(accuracy_score(gold, said)) if pairs else 0.0
    kappa = None
    if len(set(gold) | set(said)) > 1:
        value = float(cohen_kappa_score(gold, said, labels=[False, True]))
        kappa = None if value != value else value  # nan when one side has a single class and chance is perfect
    return Agreement(name, part, len(truth), len(pairs), round(accuracy, 4),
                     None if kappa is None else round(kappa, 4),
                     sum(1 for t, v in pairs if t and not v), sum(1 for t, v in pairs if v and not t))


def agreement(labels: Sequence[LabelledAnswer], graders: Mapping[str, Grader] | None = None) -> list[Agreement]:
    """Every grader's agreement with the labels, over all of them and over each part (source), in that order."""
    graders = GRADERS if graders is None else graders
    parts = [ALL, *dict.fromkeys(item.source for item in labels)]
    rows = []
    for name, grade in graders.items():
        verdicts = [grade(item.question, item.references, item.response) for item in labels]
        for part in parts:
            chosen = [i for i, item in enumerate(labels) if part == ALL or item.source == part]
            rows.append(_score(name, part, [labels[i].label for i in chosen], [verdicts[i] for i in chosen]))
    return rows


def format_agreement(rows: Sequence[Agreement]) -> str:
    """A Markdown table: one line per grader and part."""
    lines = ["| grader | part | items | accuracy | Cohen's kappa | missed (reader: correct) | false accepts |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        kappa = "–" if r.kappa is None else f"{r.kappa:.3f}"
        graded = f"{r.items}" if r.graded == r.items else f"{r.graded} of {r.items}"
        lines.append(f"| {r.grader} | {r.part} | {graded} | {r.accuracy:.3f} | {kappa} | {r.missed} | "
                     f"{r.false_accepts} |")
    return "\n".join(lines)
