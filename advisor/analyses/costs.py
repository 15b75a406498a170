"""Cost estimate per approach from the optional `costs:` section of an answers file.

```yaml
costs:
  queries_per_day: 2000          # the only field that must be given
  tokens_per_query: 800          # prompt + answer, without retrieved context
  price_per_1k_tokens: 0.002     # or: hardware_cost_per_hour + tokens_per_second
  retrieved_tokens_per_query: 1500
  vector_store_per_month: 50
  fine_tuning_cost: 400          # one training run
  retraining_per_month: 1        # default: from knowledge_change
```

Every field but `queries_per_day` has a default (`FIELDS`). Some defaults come from a study (the retrieved tokens,
the tuned model's token share); the others are guesses (`GUESSED`: the tokens and price of a query, the vector
store and a training run). A guess is marked as one next to the figures it feeds, and the break-even claim is
withheld while it rests on one: with training and the vector store at a guessed 0, "fine-tuning costs less at
any volume" would be an artefact of the defaults.

The model (every assumption is also listed in the output, `CostEstimate.assumptions`):

- a month is 30 days; price per token = price_per_1k_tokens / 1000, or hardware_cost_per_hour /
  (tokens_per_second * 3600) (hardware fully used);
- RAG: every prompt grows by retrieved_tokens_per_query (AWS Nova study: RAG about doubled tokens), plus the
  vector store;
- fine-tuning: the tuned model needs fine_tuned_token_share of the tokens (AWS Nova: over 60% fewer), priced
  at fine_tuned_price_factor times the base price, plus training: fine_tuning_cost per run, runs a month from
  retraining_per_month (default from how often the knowledge changes) but at least the first run spread
  over amortisation_months;
- hybrid: the tuned model with retrieval: the shortened prompt plus retrieved tokens, the vector store and
  the training;
- prompt (few-shot prompting): the base model with tokens_per_query, for comparison.

Break-even: the queries a day above which fine-tuning costs less a month than RAG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from advisor.errors import InputError, did_you_mean
from advisor.models import UNKNOWN
from advisor.text import show

DAYS_PER_MONTH = 30

# field: (default or None when it has none, what it means)
FIELDS: dict[str, tuple[float | None, str]] = {
    "queries_per_day": (None, "queries answered a day"),
    "tokens_per_query": (800.0, "prompt + answer tokens of one query without retrieved context"),
    "price_per_1k_tokens": (0.002, "price of 1,000 tokens (prompt and answer alike)"),
    "hardware_cost_per_hour": (None, "cost of the serving hardware an hour (instead of a token price)"),
    "tokens_per_second": (None, "tokens that hardware processes a second"),
    "retrieved_tokens_per_query": (1500.0, "context tokens retrieval adds to each prompt"),
    "vector_store_per_month": (0.0, "hosting the index a month"),
    "fine_tuning_cost": (0.0, "cost of one training run"),
    "training_budget": (None, "same as fine_tuning_cost"),
    "retraining_per_month": (None, "training runs a month after the first (default: from knowledge_change)"),
    "amortisation_months": (12.0, "months over which the first training run is spread"),
    "fine_tuned_token_share": (0.4, "share of tokens a fine-tuned model needs (AWS Nova: over 60% fewer)"),
    "fine_tuned_price_factor": (1.0, "price per token of the tuned model relative to the base model"),
}
# Defaults that are guesses, not measurements: marked as such wherever they feed a figure, and no break-even is
# claimed while one of them is in use.
GUESSED = ("tokens_per_query", "price_per_1k_tokens", "vector_store_per_month", "fine_tuning_cost")
TEXT_FIELDS = {"currency": "USD"}
MAX_VALUE = 1e12  # a trillion: products of a few such fields stay far from float overflow
POSITIVE = {"tokens_per_second", "amortisation_months", "fine_tuned_token_share", "fine_tuned_price_factor"}

RETRAINING_BY_CHANGE = {
    "static": 0.0,
    "yearly": 1 / 12,
    "monthly": 1.0,
    "weekly": 52 / 12,
    "daily": 30.0,
    "realtime": 30.0,
    UNKNOWN: 1.0,
}


@dataclass(frozen=True)
class Costs:
    """A checked `costs:` section (defaults filled in)."""

    queries_per_day: float
    tokens_per_query: float
    price_per_token: float
    price_source: str
    retrieved_tokens_per_query: float
    vector_store_per_month: float
    fine_tuning_cost: float
    retraining_per_month: float | None
    amortisation_months: float
    fine_tuned_token_share: float
    fine_tuned_price_factor: float
    currency: str = "USD"
    given: tuple[str, ...] = ()

    def guessed(self) -> list[str]:
        """The guessed defaults in use (fields of `GUESSED` not given), in `GUESSED` order."""
        given = set(self.given)
        if "training_budget" in given:
            given.add("fine_tuning_cost")
        if "hardware_cost_per_hour" in given:
            given.add("price_per_1k_tokens")
        return [f for f in GUESSED if f not in given]


def _how_to_write(text: str) -> str:
    """For text that reads as a number: how to write it so the file's reader sees a number."""
    try:
        number = float(text.replace("_", "").replace(",", ""))
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    written = repr(number)
    if "e" in written:  # the form every YAML reads as a number: a dot and a signed exponent, 1.0e+308
        mantissa, exponent = written.split("e")
        written = f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}"
    return f" (write it unquoted as a plain number: {written})"


def parse_costs(data: Any, where: str = "answers file") -> Costs:
    """Check a `costs:` mapping; InputError (exit 2) names `costs.<field>` for a bad, missing or unknown field."""
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: costs: must be a mapping of fields such as queries_per_day: 1000")
    allowed = [*FIELDS, *TEXT_FIELDS]
    values: dict[str, float] = {}
    currency = TEXT_FIELDS["currency"]
    for key, raw in data.items():
        key = str(key)
        if key not in allowed:
            raise InputError(
                f"{where}: costs.{key}: unknown field{did_you_mean(key, allowed)}; the fields are: {', '.join(allowed)}"
            )
        if key == "currency":
            if not isinstance(raw, str) or not raw.strip():
                raise InputError(f"{where}: costs.currency: must be text such as USD or EUR, got {show(raw)}")
            currency = raw.strip()
            continue
        if isinstance(raw, str):
            raise InputError(f"{where}: costs.{key}: must be a number ({FIELDS[key][1]}), got the text "
                             f"{show(raw)}{_how_to_write(raw)}")
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise InputError(f"{where}: costs.{key}: must be a number ({FIELDS[key][1]}), got {show(raw)}")
        too_large = f"{where}: costs.{key}: too large: must be at most {MAX_VALUE:.0e} (so every estimate stays a " \
                    "finite number), got "
        try:
            number = float(raw)
        except OverflowError:  # an integer beyond any float
            raise InputError(too_large + f"a number of {len(str(abs(raw)))} digits") from None
        if math.isnan(number) or (math.isinf(number) and number < 0):
            raise InputError(f"{where}: costs.{key}: must be a finite number, got {show(raw)}")
        if number < 0:
            raise InputError(f"{where}: costs.{key}: must not be negative, got {show(raw)}")
        if number > MAX_VALUE:
            raise InputError(too_large + show(raw))
        if key in POSITIVE and number == 0:
            raise InputError(f"{where}: costs.{key}: must be greater than 0, got {show(raw)}")
        values[key] = number
    if "queries_per_day" not in values:
        raise InputError(f"{where}: costs.queries_per_day: missing ({FIELDS['queries_per_day'][1]}); "
                         "add it to the costs section")
    hardware = "hardware_cost_per_hour" in values or "tokens_per_second" in values
    if "price_per_1k_tokens" in values and hardware:
        raise InputError(
            f"{where}: costs.price_per_1k_tokens: give either a token price or hardware_cost_per_hour with "
            "tokens_per_second, not both"
        )
    if "price_per_1k_tokens" in values:
        price, source = values["price_per_1k_tokens"] / 1000.0, "price_per_1k_tokens / 1000"
    elif hardware:
        for key in ("hardware_cost_per_hour", "tokens_per_second"):
            if key not in values:
                raise InputError(f"{where}: costs.{key}: missing; hardware pricing needs both "
                                 "hardware_cost_per_hour and tokens_per_second")
        price = values["hardware_cost_per_hour"] / (values["tokens_per_second"] * 3600.0)
        source = "hardware_cost_per_hour / (tokens_per_second × 3600)"
    else:
        price, source = float(FIELDS["price_per_1k_tokens"][0] or 0.0) / 1000.0, "price_per_1k_tokens / 1000"
    if "fine_tuning_cost" in values and "training_budget" in values:
        raise InputError(f"{where}: costs.training_budget: same as fine_tuning_cost; give only one of them")
    training = values.get("fine_tuning_cost", values.get("training_budget", FIELDS["fine_tuning_cost"][0]))

    def get(key: str) -> float:
        default = FIELDS[key][0]
        return values.get(key, default if default is not None else 0.0)

    return Costs(
        queries_per_day=values["queries_per_day"],
        tokens_per_query=get("tokens_per_query"),
        price_per_token=price,
        price_source=source,
        retrieved_tokens_per_query=get("retrieved_tokens_per_query"),
        vector_store_per_month=get("vector_store_per_month"),
        fine_tuning_cost=float(training or 0.0),
        retraining_per_month=values.get("retraining_per_month"),
        amortisation_months=get("amortisation_months"),
        fine_tuned_token_share=get("fine_tuned_token_share"),
        fine_tuned_price_factor=get("fine_tuned_price_factor"),
        currency=currency,
        given=tuple(sorted(values)),
    )


class CostRowOut(BaseModel):
    """One approach's monthly cost at the expected volume."""

    model_config = ConfigDict(defer_build=True)
    approach: str  # 'rag', 'fine-tuning', 'hybrid' or 'prompt' (few-shot prompting)
    tokens_per_query: float
    inference_per_month: float
    fixed_per_month: float
    total_per_month: float


class BreakEvenOut(BaseModel):
    """The queries a day where fine-tuning's monthly cost meets RAG's (None when the lines never cross)."""

    model_config = ConfigDict(defer_build=True)
    queries_per_day: Optional[float]
    # "unknown": not claimed, because it would rest on guessed defaults
    fine_tuning_cheaper: Literal["above", "below", "always", "never", "unknown"]
    text: str


class CostsOut(BaseModel):
    """The cost estimate as the recommendation JSON's `costs` field; `lines` (not in the JSON) draws the chart.

    Read back from JSON, `lines` is None and there is no chart: the JSON keeps only rounded figures.
    """

    model_config = ConfigDict(defer_build=True)
    currency: str
    queries_per_day: float
    price_per_1k_tokens: float
    retraining_per_month: float
    training_per_month: float
    rows: list[CostRowOut]
    break_even: BreakEvenOut
    assumptions: list[str]
    guessed: list[str] = Field(default_factory=list)  # "field = value": the guessed defaults the figures rest on
    # approach -> (cost of one query, fixed cost a month), unrounded
    lines: Optional[dict[str, tuple[float, float]]] = Field(default=None, exclude=True)

    def chart_svg(self) -> str:
        """An inline SVG chart of monthly cost against queries a day, marking this volume and the break-even
        ('' without `lines`)."""
        return cost_chart(self) if self.lines is not None else ""


@dataclass
class CostEstimate:
    """Monthly cost of each approach, the break-even volume and every assumption behind them."""

    costs: Costs
    retraining_per_month: float
    training_per_month: float
    rows: list[dict[str, Any]]
    break_even: dict[str, Any]
    assumptions: list[str] = field(default_factory=list)

    def to_record(self) -> CostsOut:
        """The typed record for the analyses bundle and the reports."""
        return CostsOut(
            currency=self.costs.currency,
            queries_per_day=self.costs.queries_per_day,
            price_per_1k_tokens=round(self.costs.price_per_token * 1000, 6),
            retraining_per_month=round(self.retraining_per_month, 4),
            training_per_month=round(self.training_per_month, 2),
            rows=[CostRowOut.model_validate(row) for row in self.rows],
            break_even=BreakEvenOut.model_validate(self.break_even),
            assumptions=self.assumptions,
            guessed=[f"{f} = {_default_text(f)}" for f in self.costs.guessed()],
            lines=_linear(self.costs, self.training_per_month),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (the record without the chart's lines)."""
        return self.to_record().model_dump()

    def monthly(self, approach: str, queries_per_day: float | None = None) -> float:
        """Monthly cost of an approach ('rag', 'fine-tuning', 'hybrid', 'prompt') at a daily volume."""
        q = self.costs.queries_per_day if queries_per_day is None else queries_per_day
        per_query, fixed = _linear(self.costs, self.training_per_month)[approach]
        return q * DAYS_PER_MONTH * per_query + fixed

    def render_text(self) -> str:
        """The estimate as a terminal table, with the break-even and the assumptions."""
        return render_text(self.to_record())

    def chart_svg(self) -> str:
        """An inline SVG chart of monthly cost against queries a day, marking this volume and the break-even."""
        return cost_chart(self.to_record())


def _linear(c: Costs, training_per_month: float) -> dict[str, tuple[float, float]]:
    """Per approach: (cost of one query, fixed cost a month)."""
    p, t, r = c.price_per_token, c.tokens_per_query, c.retrieved_tokens_per_query
    tuned_p, tuned_t = p * c.fine_tuned_price_factor, t * c.fine_tuned_token_share
    return {
        "rag": ((t + r) * p, c.vector_store_per_month),
        "fine-tuning": (tuned_t * tuned_p, training_per_month),
        "hybrid": ((tuned_t + r) * tuned_p, c.vector_store_per_month + training_per_month),
        "prompt": (t * p, 0.0),
    }


def estimate_costs(costs: Costs, answers: Mapping[str, Any] | None = None) -> CostEstimate:
    """Monthly cost per approach, break-even and assumptions; `answers` gives the retraining default."""
    change = str((answers or {}).get("knowledge_change") or UNKNOWN)
    if costs.retraining_per_month is not None:
        retrain, retrain_why = costs.retraining_per_month, "retraining_per_month as given"
    else:
        retrain = RETRAINING_BY_CHANGE.get(change, 1.0)
        retrain_why = f"from knowledge_change={change}"
    training = costs.fine_tuning_cost * max(retrain, 1.0 / costs.amortisation_months)
    lines = _linear(costs, training)
    tokens = {
        "rag": costs.tokens_per_query + costs.retrieved_tokens_per_query,
        "fine-tuning": costs.tokens_per_query * costs.fine_tuned_token_share,
        "hybrid": costs.tokens_per_query * costs.fine_tuned_token_share + costs.retrieved_tokens_per_query,
        "prompt": costs.tokens_per_query,
    }
    q = costs.queries_per_day
    rows = []
    for name, (per_query, fixed) in lines.items():
        inference = q * DAYS_PER_MONTH * per_query
        rows.append({
            "approach": name,
            "tokens_per_query": round(tokens[name], 1),
            "inference_per_month": round(inference, 2),
            "fixed_per_month": round(fixed, 2),
            "total_per_month": round(inference + fixed, 2),
        })
    cur = costs.currency
    guessed = costs.guessed()

    def guess(name: str) -> str:
        return " (a guess: not given)" if name in guessed else ""

    assumptions = [
        f"A month is {DAYS_PER_MONTH} days; {q:g} queries a day of {costs.tokens_per_query:g} tokens each"
        f"{guess('tokens_per_query')}.",
        f"Price per token: {costs.price_source} = {costs.price_per_token * 1000:.6g} {cur} per 1,000 tokens"
        + ("; the hardware is assumed fully used." if "hardware" in costs.price_source else
           f"{guess('price_per_1k_tokens')}."),
        f"RAG adds {costs.retrieved_tokens_per_query:g} retrieved tokens to each prompt "
        "(AWS Nova study: RAG about doubled the tokens).",
        f"A fine-tuned model needs {costs.fine_tuned_token_share:.0%} of the {costs.tokens_per_query:g} tokens "
        "(instructions and examples are learned; AWS Nova: over 60% fewer tokens, about half the latency), "
        f"at {costs.fine_tuned_price_factor:g} × the base price per token.",
        f"Training: {costs.fine_tuning_cost:g} {cur} a run{guess('fine_tuning_cost')}; {retrain:.3g} run(s) a month "
        f"({retrain_why}); at least the first run spread over {costs.amortisation_months:g} months: "
        f"{training:.2f} {cur} a month.",
        f"Vector store: {costs.vector_store_per_month:g} {cur} a month (RAG and hybrid)"
        f"{guess('vector_store_per_month')}.",
        "Hybrid: the fine-tuned model with retrieval (shortened prompt plus retrieved tokens, the vector store "
        "and the training).",
        "Prompt: few-shot prompting of the base model, tokens_per_query including its examples.",
        "Not included: engineering time, evaluation, embedding the documents once.",
    ]
    if "fine_tuning_cost" in guessed:
        assumptions.append("fine_tuning_cost was not given, so training counts as free: add it for a fair comparison.")
    return CostEstimate(
        costs=costs,
        retraining_per_month=retrain,
        training_per_month=training,
        rows=rows,
        break_even=break_even(lines, q, [f for f in guessed]),
        assumptions=assumptions,
    )


def _default_text(field_name: str) -> str:
    value = FIELDS[field_name][0]
    return f"{value:g}" if value is not None else "none"


def break_even(lines: Mapping[str, tuple[float, float]], queries_per_day: float,
               guessed: list[str] | None = None) -> dict[str, Any]:
    """Queries a day where fine-tuning's monthly cost meets RAG's, and on which side fine-tuning is cheaper.

    With `guessed` defaults in use (every one of them moves the break-even), no claim is made: the text says
    which fields to give.
    """
    if guessed:
        return {"queries_per_day": None, "fine_tuning_cheaper": "unknown",
                "text": f"No break-even between fine-tuning and RAG is stated: it would rest on guessed defaults "
                        f"({', '.join(guessed)}); give them in costs: to compare."}
    (rag_q, rag_fixed), (ft_q, ft_fixed) = lines["rag"], lines["fine-tuning"]
    slope = (rag_q - ft_q) * DAYS_PER_MONTH  # how much more RAG costs a month per extra query a day
    gap = ft_fixed - rag_fixed
    if abs(slope) < 1e-15:
        side = "always" if gap < 0 else "never"
        point = None
    else:
        point = gap / slope
        if slope > 0:
            side = "always" if point <= 0 else "above"
        else:
            side = "never" if point <= 0 else "below"
        if side in ("always", "never"):
            point = None
    if side == "above":
        text = f"Fine-tuning costs less than RAG above {point:,.0f} queries a day"
    elif side == "below":
        text = f"Fine-tuning costs less than RAG below {point:,.0f} queries a day"
    elif side == "always":
        text = "Fine-tuning costs less than RAG at any volume"
    else:
        text = "Fine-tuning never costs less than RAG under these assumptions"
    if point is not None:
        text += f" (you expect {queries_per_day:,.0f})."
    else:
        text += "."
    return {"queries_per_day": None if point is None else round(point, 1), "fine_tuning_cheaper": side, "text": text}


def render_text(data: CostsOut) -> str:
    """The estimate as a terminal table with the break-even and the assumptions."""
    cur = data.currency
    lines = [f"Estimated cost a month ({cur}):",
             f"  {'approach':<12} {'tokens/query':>12} {'inference':>14} {'fixed':>12} {'total':>14}"]
    for row in data.rows:
        lines.append(
            f"  {row.approach:<12} {row.tokens_per_query:>12,.0f} {row.inference_per_month:>14,.2f} "
            f"{row.fixed_per_month:>12,.2f} {row.total_per_month:>14,.2f}"
        )
    if data.guessed:
        lines.append(f"  (figures rest on guessed defaults: {', '.join(data.guessed)})")
    lines.append(data.break_even.text)
    lines.append("Assumptions:")
    lines += [f"  - {a}" for a in data.assumptions]
    return "\n".join(lines)


def render_markdown(data: CostsOut) -> str:
    """The estimate as a Markdown table with the break-even and the assumptions (user text escaped)."""
    from advisor.templating import escape_markdown

    cur = escape_markdown(data.currency)
    lines = [f"| approach | tokens/query | inference a month ({cur}) | fixed a month ({cur}) | total a month ({cur}) |",
             "|---|---:|---:|---:|---:|"]
    for row in data.rows:
        lines.append(f"| {row.approach} | {row.tokens_per_query:,.0f} | {row.inference_per_month:,.2f} | "
                     f"{row.fixed_per_month:,.2f} | {row.total_per_month:,.2f} |")
    if data.guessed:
        lines += ["", f"Figures rest on guessed defaults: {escape_markdown(', '.join(data.guessed))}."]
    lines += ["", f"**Break-even:** {escape_markdown(data.break_even.text)}", "", "Assumptions:", ""]
    lines += [f"- {escape_markdown(a)}" for a in data.assumptions]
    return "\n".join(lines)


COLOURS = {"rag": "#2563eb", "fine-tuning": "#d97706", "hybrid": "#059669", "prompt": "#94a3b8"}


def cost_chart(estimate: CostsOut, width: int = 560, height: int = 280) -> str:
    """Monthly cost (y) against queries a day (x) for each approach, with this volume and the break-even marked."""
    q = estimate.queries_per_day
    point = estimate.break_even.queries_per_day
    x_hi = max(q, point or 0.0) * 2 or 100.0
    lines = estimate.lines or {}
    left, right, top, bottom = 70, 16, 50, 40  # the legend sits between the title and the plot
    plot_w, plot_h = width - left - right, height - top - bottom
    y_hi = max(per * DAYS_PER_MONTH * x_hi + fixed for per, fixed in lines.values()) or 1.0

    def sx(x: float) -> float:
        return left + x / x_hi * plot_w

    def sy(y: float) -> float:
        return top + plot_h - y / y_hi * plot_h

    cur = escape(estimate.currency)
    title = "Monthly cost by queries a day"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px;font-family:system-ui,sans-serif" role="img" aria-label="{title}">',
        f"<title>{title}</title>",
        f'<text x="0" y="16" font-size="14" font-weight="600" fill="#0f172a">{title} ({cur})</text>',
    ]
    for i in range(5):
        y = y_hi * i / 4
        out.append(f'<line x1="{left}" y1="{sy(y):.1f}" x2="{left + plot_w}" y2="{sy(y):.1f}" stroke="#e2e8f0"/>')
        out.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" font-size="10" text-anchor="end" fill="#64748b">'
                   f'{y:,.0f}</text>')
        x = x_hi * i / 4
        out.append(f'<text x="{sx(x):.1f}" y="{top + plot_h + 14}" font-size="10" text-anchor="middle" '
                   f'fill="#64748b">{x:,.0f}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" font-size="11" text-anchor="middle" '
               'fill="#334155">queries a day</text>')
    for label, at, dash, dy in (("you", q, "4 3", 10), ("break-even", point, "2 2", 22)):
        if at is not None and 0 <= at <= x_hi:
            out.append(f'<line x1="{sx(at):.1f}" y1="{top}" x2="{sx(at):.1f}" y2="{top + plot_h}" stroke="#475569" '
                       f'stroke-dasharray="{dash}"/>')
            out.append(f'<text x="{sx(at) + 3:.1f}" y="{top + dy}" font-size="10" fill="#475569">{label}</text>')
    lx = left
    for name, (per, fixed) in lines.items():
        colour = COLOURS[name]
        out.append(f'<line x1="{sx(0):.1f}" y1="{sy(fixed):.1f}" x2="{sx(x_hi):.1f}" '
                   f'y2="{sy(per * DAYS_PER_MONTH * x_hi + fixed):.1f}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<rect x="{lx}" y="26" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="35" font-size="11" fill="#334155">{escape(name)}</text>')
        lx += 30 + 7 * len(name)
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#94a3b8"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#94a3b8"/>')
    out.append("</svg>")
    return "".join(out)


def costs_from_data(data: Any, answers: Mapping[str, Any], where: str) -> CostEstimate | None:
    """The estimate for a parsed answers file's `costs:` section (None when the file has none)."""
    if not isinstance(data, Mapping) or data.get("costs") is None:
        return None
    return estimate_costs(parse_costs(data["costs"], where), answers)


def load_costs(path: Any, answers: Mapping[str, Any]) -> CostEstimate | None:
    """Read an answers file's `costs:` section and estimate (None when it has none); InputError when bad."""
    from advisor.datafiles import read_data_file

    return costs_from_data(read_data_file(path, "answers file"), answers, str(path))
