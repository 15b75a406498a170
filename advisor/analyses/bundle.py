"""The analyses of one answer set, bundled as one typed record for the command line, the JSON and the reports.

`analyse_depth` returns an `Analyses` record (added to the recommendation JSON by `Analyses.json_fields()` as
`sensitivity`, `prompt_first`, `unknowns` when answers are unknown and `costs` when the answers file has a
`costs:` section); `render_text` prints it under the terminal summary; `report_sections` turns it into what the
report templates show (the cost chart drawn from the typed costs as inline SVG).
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict

from advisor.analyses.costs import CostEstimate, CostsOut
from advisor.analyses.promptfirst import PromptFirstOut
from advisor.analyses.sensitivity import DEFAULT_PERTURBATIONS, DEFAULT_SEED, SensitivityOut, analyse_sensitivity
from advisor.engine import CompiledRules, Recommendation


class AskNextOut(BaseModel):
    """An unknown question worth answering next, and why (`adaptive.QuestionValue` with its reason)."""

    model_config = ConfigDict(defer_build=True)
    question: str
    flip_share: float  # share of its values that would change the verdict
    mean_margin_change: float
    flips_to: dict[str, str]  # value -> approach it would recommend instead
    reason: str


class UnknownsOut(BaseModel):
    """Whether the unknown answers can still change the verdict, and which question to answer next."""

    model_config = ConfigDict(defer_build=True)
    decided: bool
    could_become: Optional[str]  # the verdict some answers to the unknown questions would give instead
    example: Optional[dict[str, str]]  # such answers
    ask_next: list[AskNextOut]  # the three most informative, best first


class Analyses(BaseModel):
    """The analyses of one verdict: robustness to the weights, few-shot prompting first, unknowns and costs."""

    model_config = ConfigDict(defer_build=True)
    sensitivity: SensitivityOut
    prompt_first: PromptFirstOut
    unknowns: Optional[UnknownsOut] = None  # only when some answers are unknown
    costs: Optional[CostsOut] = None  # only when the answers file has a `costs:` section

    def json_fields(self) -> dict[str, Any]:
        """The fields added to the recommendation JSON; `unknowns` and `costs` only when present."""
        absent = {name for name in ("unknowns", "costs") if getattr(self, name) is None}
        return self.model_dump(exclude=absent)


def analyse_depth(
    compiled: CompiledRules,
    rec: Recommendation,
    costs: CostEstimate | None = None,
    perturbations: int = DEFAULT_PERTURBATIONS,
    seed: int = DEFAULT_SEED,
) -> Analyses:
    """Sensitivity, few-shot prompting first, unknowns and (given a `costs.CostEstimate`) the cost estimate."""
    from advisor.analyses.adaptive import is_decided, rank_questions
    from advisor.analyses.promptfirst import prompt_first

    unknowns = None
    if rec.unknown:
        decision = is_decided(compiled, rec.answers)
        ranked = rank_questions(compiled, rec.answers)[:3]
        unknowns = UnknownsOut(
            decided=decision.decided,
            could_become=decision.witness_recommendation,
            example=decision.witness,
            ask_next=[AskNextOut.model_validate({**r.to_dict(), "reason": r.reason()}) for r in ranked],
        )
    return Analyses(
        sensitivity=analyse_sensitivity(compiled, rec.answers, n=perturbations, seed=seed).to_record(),
        prompt_first=prompt_first(rec.answers, rec.recommendation, rec.start_with),
        unknowns=unknowns,
        costs=costs.to_record() if costs is not None else None,
    )


def render_text(analyses: Analyses) -> str:
    """The analyses as terminal lines (robustness, unknowns, prompt first, cost)."""
    from advisor.analyses import costs as cost_module
    from advisor.analyses import promptfirst

    lines = ["", "Robustness: " + analyses.sensitivity.summary]
    unknowns = analyses.unknowns
    if unknowns:
        if unknowns.decided:
            lines.append("The unknown answers cannot change the verdict, whatever they turn out to be.")
        else:
            lines.append(f"The unknown answers could still change the verdict (to {unknowns.could_become}).")
        for r in unknowns.ask_next[:1]:  # the recommendation's ask_next, named above with its text
            lines.append(f"Why {r.question} first: {r.reason}.")
    advice = promptfirst.render_text(analyses.prompt_first)
    if advice:
        lines += ["", advice]
    if analyses.costs:
        lines += ["", cost_module.render_text(analyses.costs)]
    return "\n".join(lines) + "\n"


def report_sections(analyses: Analyses | None) -> dict[str, Any]:
    """Template context: `unknowns`, `robustness`, `prompt_first` (only when it applies) and `prompt_first_why`,
    `costs` and
    `cost_chart` (inline SVG drawn from the costs, '' without them)."""
    from advisor.analyses import promptfirst

    if analyses is None:
        return {"unknowns": None, "robustness": None, "prompt_first": None, "prompt_first_why": "", "costs": None,
                "cost_chart": ""}
    advice = analyses.prompt_first
    return {
        "unknowns": analyses.unknowns,
        "robustness": analyses.sensitivity,
        "prompt_first": advice if advice.applies else None,
        "prompt_first_why": promptfirst.render_text(advice),
        "costs": analyses.costs,
        "cost_chart": analyses.costs.chart_svg() if analyses.costs else "",
    }


def depth_for(compiled: CompiledRules, rec: Recommendation, answers_path: str | None, perturbations: int = 500,
              seed: int = 0, raw_costs: Any = None) -> Analyses:
    """The depth analyses of a recommendation; the cost estimate from `raw_costs` (the answers file's `costs:`)."""
    estimate = None
    if raw_costs is not None:
        from advisor.analyses.costs import estimate_costs, parse_costs

        estimate = estimate_costs(parse_costs(raw_costs, str(answers_path or "answers")), rec.answers)
    return analyse_depth(compiled, rec, estimate, perturbations=perturbations, seed=seed)
