"""The depth analyses of one answer set, bundled for the command line and the reports.

`analyse_depth` returns plain data (added to the recommendation JSON as `sensitivity`, `prompt_first` and,
when the answers file has a `costs:` section, `costs`); `render_text` prints it under the terminal summary;
`report_sections` turns it into what the report templates show (the cost chart as inline SVG).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from advisor.analyses.sensitivity import DEFAULT_PERTURBATIONS, DEFAULT_SEED, analyse_sensitivity
from advisor.engine import CompiledRules, Recommendation


def analyse_depth(
    compiled: CompiledRules,
    rec: Recommendation,
    costs: Any = None,
    perturbations: int = DEFAULT_PERTURBATIONS,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Sensitivity, prompt-first advice and (given a `costs.CostEstimate`) the cost estimate of a recommendation."""
    from advisor.analyses.adaptive import is_decided, rank_questions
    from advisor.analyses.promptfirst import prompt_first

    sens = analyse_sensitivity(compiled, rec.answers, n=perturbations, seed=seed)
    data = sens.to_dict()
    data["summary"] = sens.summary()
    out: dict[str, Any] = {
        "sensitivity": data,
        "prompt_first": prompt_first(rec.answers, rec.recommendation),
    }
    if rec.unknown:
        decision = is_decided(compiled, rec.answers)
        ranked = rank_questions(compiled, rec.answers)[:3]
        out["unknowns"] = {
            "decided": decision.decided,
            "could_become": decision.witness_recommendation,
            "example": decision.witness,
            "ask_next": [{**r.to_dict(), "reason": r.reason()} for r in ranked],
        }
    if costs is not None:
        out["costs"] = costs.to_dict()
        out["_cost_chart"] = costs.chart_svg()
    return out


def json_fields(depth: Mapping[str, Any]) -> dict[str, Any]:
    """The fields added to the recommendation JSON (private entries such as the chart left out)."""
    return {k: v for k, v in depth.items() if not k.startswith("_")}


def render_text(depth: Mapping[str, Any]) -> str:
    """The depth analyses as terminal lines (robustness, prompt first, cost)."""
    from advisor.analyses import costs as cost_module
    from advisor.analyses import promptfirst

    lines = ["", "Robustness: " + depth["sensitivity"]["summary"]]
    unknowns = depth.get("unknowns")
    if unknowns:
        if unknowns["decided"]:
            lines.append("The unknown answers cannot change the verdict, whatever they turn out to be.")
        else:
            lines.append(f"The unknown answers could still change the verdict (to {unknowns['could_become']}).")
        for r in unknowns["ask_next"][:1]:
            lines.append(f"Most informative question to answer next: {r['question']}: {r['reason']}.")
    advice = promptfirst.render_text(depth["prompt_first"])
    if advice:
        lines += ["", advice]
    if depth.get("costs"):
        lines += ["", cost_module.render_text(depth["costs"])]
    return "\n".join(lines) + "\n"


def report_sections(depth: Mapping[str, Any] | None) -> dict[str, Any]:
    """Template context: `robustness` (text and data), `prompt_first`, `costs` (rows, break-even, assumptions,
    chart)."""
    if not depth:
        return {"unknowns": None, "robustness": None, "prompt_first": None, "costs": None}
    costs = depth.get("costs")
    if costs:
        costs = {**costs, "chart": depth.get("_cost_chart", "")}
    advice = depth.get("prompt_first") or {}
    return {
        "unknowns": depth.get("unknowns"),
        "robustness": depth["sensitivity"],
        "prompt_first": advice if advice.get("applies") else None,
        "costs": costs,
    }
