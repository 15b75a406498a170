"""The analyses bundle the CLI and the reports use: sensitivity, unknowns, prompt first and costs, as one record."""

from __future__ import annotations

import json

from advisor.analyses.bundle import Analyses, analyse_depth, render_text, report_sections
from advisor.analyses.costs import estimate_costs, parse_costs
from advisor.engine import recommend

NO_GAP = {"knowledge_change": "static", "external_knowledge": "none", "style_adaptation": "none"}
COSTS = {"queries_per_day": 5000, "tokens_per_query": 800, "price_per_1k_tokens": 0.002, "fine_tuning_cost": 300}


def test_bundle_with_unknowns_prompt_first_and_costs(default_compiled):
    rec = recommend(default_compiled, NO_GAP)
    depth = analyse_depth(default_compiled, rec, estimate_costs(parse_costs(COSTS), rec.answers), perturbations=100)
    assert isinstance(depth, Analyses)
    assert depth.sensitivity.perturbations == 100 and depth.sensitivity.summary.startswith("Stable in")
    assert depth.prompt_first.applies is True
    assert depth.unknowns is not None and depth.unknowns.ask_next[0].question in rec.unknown
    assert depth.costs is not None and depth.costs.rows[0].approach == "rag"
    data = depth.json_fields()
    assert list(data) == ["sensitivity", "prompt_first", "unknowns", "costs"]
    assert list(data["sensitivity"]) == ["recommendation", "smallest_flip", "stability", "perturbations", "spread",
                                         "seed", "alternatives", "summary"]
    assert list(data["unknowns"]) == ["decided", "could_become", "example", "ask_next"]
    assert list(data["unknowns"]["ask_next"][0]) == ["question", "flip_share", "mean_margin_change", "flips_to",
                                                     "reason"]
    assert list(data["costs"]) == ["currency", "queries_per_day", "price_per_1k_tokens", "retraining_per_month",
                                   "training_per_month", "rows", "break_even", "assumptions", "guessed"]  # no chart
    again = Analyses.model_validate(json.loads(json.dumps(data)))  # plain data that reads back
    assert again.json_fields() == data and again.costs is not None and again.costs.chart_svg() == ""
    text = render_text(depth)
    assert "Robustness: Stable in" in text and "Why few-shot prompting first:" in text
    assert "Estimated cost a month" in text
    assert f"Why {rec.ask_next} first: " in text  # the question named once, in the recommendation's text
    sections = report_sections(depth)
    assert sections["cost_chart"].startswith("<svg") and sections["cost_chart"] == depth.costs.chart_svg()
    assert sections["costs"] is depth.costs and sections["prompt_first"].applies


def test_bundle_without_costs_or_unknowns(default_compiled):
    answers = {**NO_GAP, "external_knowledge": "most", "hallucination_cost": "high", "traceability": "required",
               "cost_pressure": "low", "ml_expertise": "none", "labeled_examples": "none",
               "data_sensitivity": "internal", "latency_budget": "seconds"}
    rec = recommend(default_compiled, answers)
    depth = analyse_depth(default_compiled, rec)
    assert depth.costs is None and depth.unknowns is None
    assert "costs" not in depth.json_fields() and "unknowns" not in depth.json_fields()
    assert depth.prompt_first.applies is False
    text = render_text(depth)
    assert "prompting first" not in text and "Estimated cost" not in text
    sections = report_sections(depth)
    assert sections["prompt_first"] is None and sections["costs"] is None and sections["cost_chart"] == ""
    assert report_sections(None) == {"unknowns": None, "robustness": None, "prompt_first": None,
                                     "prompt_first_why": "", "costs": None, "cost_chart": ""}
