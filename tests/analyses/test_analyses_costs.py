"""Cost estimate: hand-computed numbers, break-even, defaults from the answers, and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.analyses.costs import estimate_costs, load_costs, parse_costs, render_markdown
from advisor.errors import InputError

BASE = {"queries_per_day": 1000, "tokens_per_query": 1000, "price_per_1k_tokens": 0.01,
        "vector_store_per_month": 100, "fine_tuning_cost": 600, "retraining_per_month": 1}


def _rows(estimate):
    return {r["approach"]: r for r in estimate.rows}


def test_hand_computed_month():
    est = estimate_costs(parse_costs(BASE), {"knowledge_change": "monthly"})
    rows = _rows(est)
    # RAG: 1000 q/day * 30 days * (1000 + 1500 retrieved) tokens * 0.00001 + 100 store
    assert rows["rag"]["inference_per_month"] == 750.0 and rows["rag"]["total_per_month"] == 850.0
    # fine-tuning: 40% of 1000 tokens -> 30,000 * 400 * 0.00001 = 120, training 600 a month
    assert rows["fine-tuning"]["inference_per_month"] == 120.0 and rows["fine-tuning"]["total_per_month"] == 720.0
    # hybrid: (400 + 1500) tokens -> 570, + 100 store + 600 training
    assert rows["hybrid"]["total_per_month"] == 1270.0
    assert rows["prompt"]["total_per_month"] == 300.0
    # break-even: (600 - 100) / ((2500 - 400) * 0.00001 * 30) = 500 / 0.63
    assert est.break_even["queries_per_day"] == pytest.approx(793.7, abs=0.05)
    assert est.break_even["fine_tuning_cheaper"] == "above"
    assert "above 794 queries a day" in est.break_even["text"]


def test_hardware_pricing_and_retraining_default():
    data = {"queries_per_day": 100, "tokens_per_query": 500, "hardware_cost_per_hour": 3.6,
            "tokens_per_second": 1000, "fine_tuning_cost": 120}
    c = parse_costs(data)
    assert c.price_per_token == pytest.approx(1e-6)
    est = estimate_costs(c, {"knowledge_change": "weekly"})
    assert est.retraining_per_month == pytest.approx(52 / 12)
    assert est.training_per_month == pytest.approx(120 * 52 / 12)
    static = estimate_costs(c, {"knowledge_change": "static"})
    assert static.training_per_month == pytest.approx(120 / 12)  # first run spread over 12 months
    assert any("fully used" in a for a in est.assumptions)


def test_never_and_always_cheaper():
    cheap_training = estimate_costs(parse_costs({**BASE, "fine_tuning_cost": 0, "vector_store_per_month": 50}))
    assert cheap_training.break_even["fine_tuning_cheaper"] == "always"
    pricey_tuned = estimate_costs(parse_costs({**BASE, "fine_tuned_price_factor": 10}))
    assert pricey_tuned.break_even["fine_tuning_cheaper"] == "never"
    assert pricey_tuned.break_even["queries_per_day"] is None


def test_every_assumption_is_listed_and_missing_training_cost_is_flagged():
    est = estimate_costs(parse_costs({"queries_per_day": 10, "tokens_per_query": 100, "price_per_1k_tokens": 1}))
    text = " ".join(est.assumptions)
    for word in ("30 days", "1500 retrieved tokens", "40%", "Training", "Vector store", "Hybrid", "Not included",
                 "fine_tuning_cost was not given"):
        assert word in text
    assert "| rag |" in render_markdown(est.to_record())
    assert "lines" not in est.to_dict() and est.to_record().chart_svg() == est.chart_svg()
    svg = est.chart_svg()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert ">you<" in svg and ">break-even<" not in svg  # fine-tuning is cheaper at any volume here
    assert ">break-even<" in estimate_costs(parse_costs(BASE)).chart_svg()


@pytest.mark.parametrize(
    "data, message",
    [
        ({**BASE, "queries_per_day": -5}, "costs.queries_per_day: must not be negative"),
        ({**BASE, "tokens_per_query": "lots"}, "costs.tokens_per_query: must be a number"),
        ({**BASE, "tokens_per_query": True}, "costs.tokens_per_query: must be a number"),
        (
            {**BASE, "price_per_1k_token": 1},
            "costs.price_per_1k_token: unknown field (did you mean 'price_per_1k_tokens'?)",
        ),
        ({k: v for k, v in BASE.items() if k != "queries_per_day"}, "costs.queries_per_day: missing"),
        ({**BASE, "tokens_per_second": 10}, "not both"),
        ({**BASE, "training_budget": 5}, "only one of them"),
        ({**BASE, "amortisation_months": 0}, "greater than 0"),
        ({**BASE, "currency": 5}, "costs.currency"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_bad_input(data, message):
    with pytest.raises(InputError) as err:
        parse_costs(data, "answers.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("answers.yaml: costs")


def test_load_from_answers_file(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(
        "version: 1\nanswers: {knowledge_change: daily}\ncosts:\n  queries_per_day: 10\n"
        "  tokens_per_query: 100\n  price_per_1k_tokens: 0.5\n  currency: EUR\n"
    )
    est = load_costs(path, {"knowledge_change": "daily"})
    assert est.to_dict()["currency"] == "EUR" and est.retraining_per_month == 30
    plain = tmp_path / "b.yaml"
    plain.write_text("version: 1\nanswers: {}\n")
    assert load_costs(plain, {}) is None
    bad = tmp_path / "c.yaml"
    bad.write_text("version: 1\ncosts:\n  queries_per_day: -1\n")
    with pytest.raises(InputError, match=r"c\.yaml: costs\.queries_per_day"):
        load_costs(bad, {})


@settings(max_examples=60, deadline=None)
@given(
    q=st.floats(0, 1e6),
    t=st.floats(1, 1e4),
    r=st.floats(0, 1e4),
    price=st.floats(1e-6, 1.0),
    store=st.floats(0, 1e4),
    train=st.floats(0, 1e5),
    share=st.floats(0.05, 1.0),
)
def test_break_even_is_where_costs_meet(q, t, r, price, store, train, share):
    est = estimate_costs(
        parse_costs(
            {
                "queries_per_day": q,
                "tokens_per_query": t,
                "price_per_1k_tokens": price,
                "retrieved_tokens_per_query": r,
                "vector_store_per_month": store,
                "fine_tuning_cost": train,
                "fine_tuned_token_share": share,
            }
        )
    )
    point = est.break_even["queries_per_day"]
    if point is not None and est.break_even["fine_tuning_cheaper"] == "above":
        exact = (est.training_per_month - store) / (30 * price / 1000 * (t + r - t * share))
        assert est.monthly("rag", exact) == pytest.approx(est.monthly("fine-tuning", exact), rel=1e-6, abs=1e-6)
        assert est.monthly("fine-tuning", exact * 2 + 1) <= est.monthly("rag", exact * 2 + 1) + 1e-6
    for name in ("rag", "fine-tuning", "hybrid"):  # more queries never cost less
        assert est.monthly(name, q + 10) >= est.monthly(name, q)
