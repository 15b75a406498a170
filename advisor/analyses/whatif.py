"""What-if: change some answers, score again, and show what moved (verdict, factor pulls, rules fired).

`parse_sets(["knowledge_change=static", ...], compiled)` checks `--set` options; `what_if` scores both
answer sets and returns the difference as typed data (`WhatIf`: its `to_dict()` is the JSON), rendered by
`render_text` and the reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from advisor.answers import check_question, normalise_value
from advisor.engine import CompiledRules, Recommendation, recommend
from advisor.errors import InputError
from advisor.models import RECOMMENDABLE, UNKNOWN

_TINY = 1e-6


def parse_sets(items: Iterable[str], compiled: CompiledRules) -> dict[str, str]:
    """Parse QUESTION=VALUE strings against the rule base; InputError (exit 2) names the bad one."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise InputError(
                f"--set '{item}': expected QUESTION=VALUE, for example knowledge_change=static"
            )
        qid, _, value = (part.strip() for part in item.partition("="))
        where = f"--set '{item}'"
        check_question(qid, compiled.choices, where)
        allowed = compiled.values[compiled.question_index[qid]]
        if not value:  # on the command line an empty value is a slip; 'unknown' says unknown
            raise InputError(f"{where}: {qid}: unknown value ''; allowed values: {', '.join(allowed)}, unknown")
        value = normalise_value(qid, value, allowed, where)
        if qid in out and out[qid] != value:
            raise InputError(f"--set: '{qid}' is set twice ({out[qid]} and {value}); set it once")
        out[qid] = value
    return out


class AnswerChange(BaseModel):
    """One answer that `--set` changed."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)
    question: str
    from_: str = Field(validation_alias=AliasChoices("from", "from_"), serialization_alias="from")
    to: str


class FactorChange(BaseModel):
    """A factor whose pull changed: its pulls before and after, and the difference (after minus before)."""

    model_config = ConfigDict(defer_build=True)
    id: str
    label: str
    before: dict[str, float]
    after: dict[str, float]
    delta: dict[str, float]
    because: str


@dataclass
class WhatIf:
    """The verdict before and after some answers change, and what changed in the explanation."""

    before: Recommendation
    after: Recommendation
    changes: list[AnswerChange]
    factor_changes: list[FactorChange]
    rules_started: list[str]
    rules_stopped: list[str]

    @property
    def verdict_changed(self) -> bool:
        """Whether the recommended approach, or what to start with, differs."""
        return (self.before.recommendation, self.before.start_with) != (self.after.recommendation,
                                                                          self.after.start_with)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the JSON output (`what_if` field beside the new recommendation)."""
        return {
            "changes": [c.model_dump(by_alias=True) for c in self.changes],
            "before": {
                "recommendation": self.before.recommendation,
                "start_with": self.before.start_with,
                "scores": self.before.scores,
                "confidence": self.before.confidence,
            },
            "after": {
                "recommendation": self.after.recommendation,
                "start_with": self.after.start_with,
                "scores": self.after.scores,
                "confidence": self.after.confidence,
            },
            "verdict_changed": self.verdict_changed,
            "factor_changes": [f.model_dump() for f in self.factor_changes],
            "rules_started": self.rules_started,
            "rules_stopped": self.rules_stopped,
        }

    def render_text(self) -> str:
        """The comparison as text for the terminal."""
        return render_text(self)


def what_if(compiled: CompiledRules, answers: Mapping[str, str], changes: Mapping[str, str]) -> WhatIf:
    """Score answers and answers-with-changes; return both and the difference in factors and rules."""
    before = recommend(compiled, answers)
    new_answers = dict(before.answers)
    new_answers.update(changes)
    after = recommend(compiled, new_answers)
    changed = [
        AnswerChange(question=q, from_=before.answers.get(q, UNKNOWN), to=v)
        for q, v in changes.items()
        if before.answers.get(q, UNKNOWN) != v
    ]
    old_f = {f.id: f for f in before.factors}
    factor_changes: list[FactorChange] = []
    for f in after.factors:
        o = old_f.get(f.id)
        if o is None:
            continue
        delta = {a: round(f.pull(a) - o.pull(a), 3) + 0.0 for a in RECOMMENDABLE}
        if any(abs(d) > _TINY for d in delta.values()):
            factor_changes.append(FactorChange(id=f.id, label=f.label, before=o.pulls(), after=f.pulls(), delta=delta,
                                               because=f.because))
    old_rules = [r.id for r in before.rules]
    new_rules = [r.id for r in after.rules]
    return WhatIf(
        before=before,
        after=after,
        changes=changed,
        factor_changes=factor_changes,
        rules_started=[r for r in new_rules if r not in old_rules],
        rules_stopped=[r for r in old_rules if r not in new_rules],
    )


def _pull_word(delta: Mapping[str, float]) -> str:
    parts = [f"{a} {d:+.2f}" for a, d in delta.items() if abs(d) > _TINY]
    return ", ".join(parts)


def render_text(result: WhatIf) -> str:
    """Old and new verdict side by side, then the changed answers, factor pulls and rules."""
    b, a = result.before, result.after
    lines = ["What if " + ", ".join(f"{c.question}={c.to} (was {c.from_})" for c in result.changes) + "?"
             if result.changes else "What if: the --set values are the answers already given; nothing changes."]
    width = max(len("recommendation"), 12)
    lines.append("")
    lines.append(f"  {'':<{width}}  {'before':<12}  {'after':<12}")
    lines.append(f"  {'start with':<{width}}  {b.start_with:<12}  {a.start_with:<12}"
                 + ("  <- changed" if b.start_with != a.start_with else ""))
    lines.append(f"  {'recommendation':<{width}}  {b.recommendation:<12}  {a.recommendation:<12}"
                 + ("  <- changed" if b.recommendation != a.recommendation else ""))
    lines.append(f"  {'confidence':<{width}}  {b.confidence:<12.2f}  {a.confidence:<12.2f}")
    for name in RECOMMENDABLE:
        lines.append(f"  {name + ' score':<{width}}  {b.scores[name]:<12.2f}  {a.scores[name]:<12.2f}")
    lines.append("")
    if result.factor_changes:
        lines.append("Factors whose pull changed (after minus before):")
        for f in result.factor_changes:
            lines.append(f"  {f.label}: {_pull_word(f.delta)}")
    else:
        lines.append("No factor's pull changed.")
    if result.rules_started:
        lines.append("Rules that now fire: " + ", ".join(result.rules_started))
    if result.rules_stopped:
        lines.append("Rules that no longer fire: " + ", ".join(result.rules_stopped))
    if not result.rules_started and not result.rules_stopped:
        lines.append("The same combination rules fire.")
    return "\n".join(lines)


def apply_sets(compiled: CompiledRules, answers: dict[str, str], sets: Sequence[str]) -> WhatIf | None:
    """The what-if of `--set QUESTION=VALUE` options (None when there are none)."""
    if not sets:
        return None
    return what_if(compiled, answers, parse_sets(sets, compiled))
