"""How a validation's measurements decide: every rule behind the verdict, in one place.

All of it works on per-input scores of whatever metric ranks the task, so it holds for any metric.

- **Comparisons.** Every pair of measured arms, and every arm against the untouched model, is compared on
  the ranking metric by a paired bootstrap over the held-out inputs (`statistics.bootstrap_ci`): the mean
  difference, its 95% interval, and a two-sided p-value from the same resamples.
- **Several comparisons at once.** Four arms and the untouched model make ten comparisons; judged one by
  one at 95%, the chance that at least one tie looks real is far above 5%. So the p-values of all the run's
  comparisons are adjusted together by Holm's step-down method, and a difference is *real* only when its
  adjusted p-value is under 0.05; otherwise it is a *tie* (`Comparison.tie`). The 95% interval shown
  beside it is the comparison's own.
- **Candidates.** Only an arm that really beats the untouched model can be favoured: an arm no better
  than doing nothing cannot win a tie, however cheap.
- **Favoured (the tie rule).** Among the candidates, take the highest scorer; the cheapest candidate tied
  with it (the arm registry's cost order, `arms.cost_rank`: prompt, rag, fine-tuning, hybrid) is favoured.
  `best_measured` stays the highest scorer of all arms, whatever the tie rule favours. "Highest" and "beats"
  follow the ranking metric's direction in the metric registry (`metrics.METRICS`).
- **Inconclusive.** With no candidate nothing is favoured and the run is inconclusive. How many inputs
  would make the leading difference measurable is estimated from its observed paired spread: n =
  ((z(1 - alpha/2m) + z(power)) * sd / difference)^2, at Holm's strictest level for m comparisons and 80%
  power. The same estimate is given for the favoured arm against the higher scorer it is tied with.
- **Agreement** (decided by the evidence alone; price plays no part). For the questionnaire's outcome to act
  on first, R (`start_with`: few-shot prompting, or the recommended approach), against
  the untouched model and every other measured arm X:
  *disagrees* when some X (or the untouched model) really beats R;
  *agrees* when R really beats the untouched model and, against every other arm, either really wins or is
  equivalent to it (the 95% interval of the difference lies within +/-0.05 of the metric);
  *cannot tell* otherwise: R was not measured, did not beat the untouched model, or is tied with an arm
  while the interval reaches beyond the margin.
  Only comparisons with R count and each reads the same from either side, so the same numbers give the
  same answer whichever arm was recommended.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist, fmean, stdev

from advisor.backends import arms
from advisor.backends.metrics import METRICS
from advisor.runrecords import Agreement, Comparison, DecisionRule, InputsNeeded, Interval, ValidationRun

BASELINE = "baseline"  # the untouched model, as comparisons name it
ALPHA = 0.05
EQUIVALENCE_MARGIN = 0.05  # a difference smaller than this, in the ranking metric (0 to 1), changes no choice
POWER = 0.8

PerQuestion = dict[int, float]


@dataclass
class Decision:
    """What the measurements decide, before any wording."""

    comparisons: list[Comparison]
    rule: DecisionRule
    best_measured: str | None
    candidates: list[str]
    favoured: str | None
    tied_with_best: list[str]
    inputs_needed: InputsNeeded | None


@dataclass
class Finding:
    """Whether the evidence agrees with the recommended arm, and the comparisons that say so."""

    state: Agreement
    recommended: str
    measured: bool = True
    lifts: bool | None = None  # R beat the untouched model (None: no untouched model was measured)
    better: list[Comparison] = field(default_factory=list)  # X - R, X really better
    unsure: list[Comparison] = field(default_factory=list)  # X - R, tied but not equivalent
    equal: list[Comparison] = field(default_factory=list)  # X - R, equivalent within the margin


def higher_is_better(metric: str) -> bool:
    """The metric's direction, from the metric registry (a metric it does not know counts as higher-is-better)."""
    registered = METRICS.get(metric)
    return registered is None or registered.higher_is_better


def highest(which: Sequence[str], scores: Mapping[str, float], higher: bool = True) -> str | None:
    """The best scorer of `which` by the metric's direction (the cheaper one on an exact tie of means); None for
    no arms."""
    sign = 1.0 if higher else -1.0
    return max(which, key=lambda a: (sign * scores[a], -arms.cost_rank(a)), default=None)


def compare(a: PerQuestion, b: PerQuestion, seed: int) -> Interval:
    """Bootstrap the mean difference a - b over the questions both answered."""
    from advisor.backends.statistics import bootstrap_ci

    common = sorted(set(a) & set(b))
    return bootstrap_ci([a[q] for q in common], [b[q] for q in common], seed=seed)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: each p-value times the number of hypotheses not yet rejected, kept monotone."""
    m = len(p_values)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def compare_all(ok: Sequence[str], scores: Mapping[str, float], per_q: Mapping[str, PerQuestion],
                base_q: PerQuestion, metric: str, seed: int) -> list[Comparison]:
    """Every pair of arms (the better scorer first) and every arm against the untouched model, Holm-adjusted."""
    sign = 1.0 if higher_is_better(metric) else -1.0
    pairs = []
    for i, a in enumerate(ok):
        for b in ok[i + 1:]:
            pairs.append((b, a) if sign * scores[b] > sign * scores[a] else (a, b))
    pairs += [(a, BASELINE) for a in ok] if base_q else []
    series = {**per_q, BASELINE: base_q}
    intervals = [compare(series[a], series[b], seed) for a, b in pairs]
    adjusted = holm([ci.p_value if ci.p_value is not None else 1.0 for ci in intervals])
    return [
        Comparison(a=a, b=b, metric=metric, difference=ci.difference, ci95=[ci.low, ci.high], questions=ci.questions,
                   tie=p >= ALPHA, p_value=ci.p_value, p_adjusted=round(p, 5))
        for (a, b), ci, p in zip(pairs, intervals, adjusted)
    ]


def inputs_needed(a: str, b: str, a_q: PerQuestion, b_q: PerQuestion, comparisons: int) -> InputsNeeded:
    """How many inputs would make the mean difference a - b measurable (two-sided, Holm's strictest level,
    80% power), from the paired differences observed: at least one more than the run had, since these did not
    suffice; `inputs` is None when no difference was observed."""
    common = sorted(set(a_q) & set(b_q))
    diffs = [a_q[q] - b_q[q] for q in common]
    mean = fmean(diffs) if diffs else 0.0
    sd = stdev(diffs) if len(diffs) > 1 else 0.0
    needed = None
    if abs(mean) > 1e-12 and sd > 0:
        normal = NormalDist()
        z = normal.inv_cdf(1 - ALPHA / max(1, comparisons) / 2) + normal.inv_cdf(POWER)
        needed = max(len(diffs) + 1, math.ceil((z * sd / mean) ** 2))
    return InputsNeeded(a=a, b=b, difference=round(mean, 4), sd=round(sd, 4), questions=len(diffs), inputs=needed)


def decide(ok: Sequence[str], scores: Mapping[str, float], per_q: Mapping[str, PerQuestion], base_q: PerQuestion,
           metric: str, seed: int) -> Decision:
    """Compare every arm, then name the highest scorer, the candidates and the favoured arm (module docstring)."""
    ok = sorted(ok, key=arms.cost_rank)
    higher = higher_is_better(metric)
    comparisons = compare_all(ok, scores, per_q, base_q, metric, seed)
    rule = DecisionRule(adjustment="holm", comparisons=len(comparisons), alpha=ALPHA,
                        equivalence_margin=EQUIVALENCE_MARGIN, higher_is_better=higher)
    view = ValidationRun(comparisons=comparisons, decision=rule)
    best = highest(ok, scores, higher)
    candidates = [a for a in ok if view.beats(a, BASELINE)] if base_q else list(ok)
    top = highest(candidates, scores, higher)
    favoured = None
    if top is not None:
        favoured = min((c for c in candidates if c == top or not view.beats(top, c)), key=arms.cost_rank)
    tied = [a for a in ok if best is not None and (a == best or not view.beats(best, a))]
    needed = None
    if best is not None and top is None and base_q:
        needed = inputs_needed(best, BASELINE, per_q[best], base_q, len(comparisons))
    elif top is not None and favoured is not None and favoured != top:
        needed = inputs_needed(top, favoured, per_q[top], per_q[favoured], len(comparisons))
    return Decision(comparisons, rule, best, candidates, favoured, tied, needed)


def equivalent(c: Comparison, margin: float) -> bool:
    """The difference's 95% interval lies within +/- margin: the two did equally well for any practical purpose."""
    return c.ci95 is not None and -margin <= c.ci95[0] and c.ci95[1] <= margin


def agreement(run: ValidationRun) -> Finding | None:
    """Whether the evidence agrees with the questionnaire's outcome to act on first (`start_with`, else the
    recommended arm; module docstring); None when nothing was recommended."""
    rec = run.start_with or run.recommended
    if not rec:
        return None
    if not run.arm(rec).ok:
        return Finding("cannot_tell", rec, measured=False)
    margin = run.decision.equivalence_margin if run.decision else EQUIVALENCE_MARGIN
    sign = 1.0 if run.decision is None or run.decision.higher_is_better else -1.0
    rivals = [a for a in run.approaches if a != rec and run.arm(a).ok]
    against = [c for x in rivals if (c := run.comparison(x, rec)) is not None and c.difference is not None]
    against.sort(key=lambda c: -sign * (c.difference or 0.0))  # by the numbers, not by name or price
    base = run.comparison(BASELINE, rec)
    finding = Finding("cannot_tell", rec)
    finding.better = sorted((c for c in [*against, *([base] if base is not None else [])] if run.beats(c.a, rec)),
                            key=lambda c: -sign * (c.difference or 0.0))
    if finding.better:
        finding.state = "disagrees"
        return finding
    finding.lifts = None if base is None else run.beats(rec, BASELINE)
    tied = [c for c in against if not run.beats(rec, c.a)]
    finding.equal = [c for c in tied if equivalent(c, margin)]
    finding.unsure = [c for c in tied if not equivalent(c, margin)]
    if finding.lifts is not False and not finding.unsure:
        finding.state = "agrees"
    return finding
