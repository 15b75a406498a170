"""How robust one verdict is to the rule base's weights.

The engine is linear in its weights (raw score of approach a = sum over terms t of w_t * F[t][a], where F is
`engine.contributions(..., weighted=False)`), so for one answer set:

- the smallest single-weight change that flips the verdict is found exactly: moving w_t by d moves the
  margin against each rival b by d * (F[t][top] - F[t][b]), so the verdict falls where the first margin
  reaches zero (weights stay non-negative: a weight can fall by at most 100%);
- the stability is the share of N random perturbations (every weight times a factor drawn uniformly from
  [1 - spread, 1 + spread], seeded) under which the verdict stays.

Pure Python (no numpy): it runs inside `advisor recommend`, which must start fast.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict

from advisor.engine import EPS, CompiledRules, contributions, pick, term_weights
from advisor.models import RECOMMENDABLE

DEFAULT_PERTURBATIONS = 500
DEFAULT_SPREAD = 0.2
DEFAULT_SEED = 0


class WeightFlip(BaseModel):
    """The smallest single-weight change that flips the verdict (`sensitivity.smallest_flip` in the JSON)."""

    model_config = ConfigDict(defer_build=True)
    term: str  # 'factor:<id>' or 'rule:<id>'
    weight: float
    new_weight: float
    change: float  # relative and signed: -0.25 is a quarter lower
    direction: Literal["raise", "lower"]
    tie: bool  # the top two are already tied: the slightest change flips it
    to: str


class SensitivityOut(BaseModel):
    """The robustness of one verdict as the recommendation JSON's `sensitivity` field (with its summary)."""

    model_config = ConfigDict(defer_build=True)
    recommendation: str
    smallest_flip: Optional[WeightFlip]
    stability: float
    perturbations: int
    spread: float
    seed: int
    alternatives: dict[str, int]  # approach -> how many perturbations it won
    summary: str


@dataclass
class Sensitivity:
    """The robustness of one verdict: the smallest flipping weight change and the perturbation stability."""

    recommendation: str
    smallest_flip: dict[str, Any] | None
    stability: float
    perturbations: int
    spread: float
    seed: int
    alternatives: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the JSON output (`sensitivity` field)."""
        return {
            "recommendation": self.recommendation,
            "smallest_flip": self.smallest_flip,
            "stability": self.stability,
            "perturbations": self.perturbations,
            "spread": self.spread,
            "seed": self.seed,
            "alternatives": self.alternatives,
        }

    def summary(self) -> str:
        """One or two sentences for the text output and the reports."""
        return summarise(self.to_dict())

    def to_record(self) -> SensitivityOut:
        """The typed record of the analyses bundle: `to_dict()` and the summary."""
        return SensitivityOut.model_validate({**self.to_dict(), "summary": self.summary()})


def summarise(data: Mapping[str, Any]) -> str:
    """The sentences of `Sensitivity.summary` from its `to_dict()` form (reports render from the JSON)."""
    share = round(100 * data["stability"])
    text = (
        f"Stable in {share}% of {data['perturbations']} random changes of all weights "
        f"(each within ±{round(100 * data['spread'])}%)."
    )
    alts = data.get("alternatives") or {}
    if alts:
        text += " Otherwise: " + ", ".join(f"{a} {n}×" for a, n in alts.items()) + "."
    flip = data.get("smallest_flip")
    if flip is None:
        text += " No change of a single weight flips it."
    else:
        verb = "raising" if flip.get("direction", "raise" if flip["change"] > 0 else "lower") == "raise" else "lowering"
        if flip.get("tie"):
            return text + (
                f" The top two are tied: {verb} the weight of {term_label(flip['term'])} even slightly makes it "
                f"{flip['to']}."
            )
        text += (
            f" The smallest single change that flips it: {verb} the weight of {term_label(flip['term'])} from "
            f"{flip['weight']:.2f} to {flip['new_weight']:.2f} ({flip['change']:+.0%}) makes it {flip['to']}."
        )
    return text


def term_label(term: str) -> str:
    """'factor:dynamic_data' -> "factor 'dynamic_data'"."""
    kind, _, ident = term.partition(":")
    return f"{kind} '{ident}'" if ident else term


def _features(compiled: CompiledRules, answers: Mapping[str, Any]) -> tuple[list[str], list[float], list[tuple]]:
    feats = contributions(compiled, answers, weighted=False)
    weights = term_weights(compiled.rulebase)
    terms = list(feats)
    return terms, [float(weights[t]) for t in terms], [tuple(feats[t][a] for a in RECOMMENDABLE) for t in terms]


def _raw(weights: list[float], feats: list[tuple]) -> list[float]:
    r = f = h = 0.0
    for w, x in zip(weights, feats):
        if w:
            r += w * x[0]
            f += w * x[1]
            h += w * x[2]
    return [r, f, h]


def smallest_flip(compiled: CompiledRules, answers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The single term weight whose smallest relative change flips the verdict, or None when none does.

    Returns {"term", "weight", "new_weight", "change" (relative, signed), "direction" ('raise' or 'lower'),
    "tie" (already tied: the slightest change flips it), "to"}; terms whose weight is 0 are not considered (a
    relative change of 0 is undefined).
    """
    terms, weights, feats = _features(compiled, answers)
    return _smallest_flip(compiled, terms, weights, feats)


def _smallest_flip(compiled: CompiledRules, terms: list[str], weights: list[float], feats: list[tuple]) -> dict | None:
    raw = _raw(weights, feats)
    top = pick(compiled, raw)
    best: dict[str, Any] | None = None
    for t, (term, w, x) in enumerate(zip(terms, weights, feats)):
        if w <= 0:
            continue
        crossings = []
        for b in range(3):
            if b == top:
                continue
            slope = x[top] - x[b]
            if slope == 0:
                continue
            # the margin against b moves by slope per unit of weight; it reaches zero at delta
            direction = -1.0 if slope > 0 else 1.0
            crossings.append((-(raw[top] - raw[b]) / slope, direction))
        for delta, direction in sorted(crossings, key=lambda c: abs(c[0])):
            if delta < -w - 1e-9 * max(1.0, w):  # would need a negative weight (tolerance for rounding)
                continue
            step = delta + direction * (abs(delta) * 1e-6 + 1e-7)  # just past the crossing
            if step < -w:
                step = -w
            trial = list(weights)
            trial[t] = w + step
            new_top = pick(compiled, _raw(trial, feats))
            if new_top == top:
                continue
            change = max(delta / w, -1.0)
            if best is None or abs(change) < abs(best["change"]) - 1e-12:
                best = {
                    "term": term,
                    "weight": round(w, 4),
                    "new_weight": round(max(0.0, w + delta), 6),
                    "change": round(change, 6) + 0.0,
                    "direction": "raise" if step > 0 else "lower",
                    "tie": abs(delta) < EPS,
                    "to": RECOMMENDABLE[new_top],
                }
            break
    return best


def stability(
    compiled: CompiledRules,
    answers: Mapping[str, Any],
    n: int = DEFAULT_PERTURBATIONS,
    spread: float = DEFAULT_SPREAD,
    seed: int = DEFAULT_SEED,
) -> tuple[float, dict[str, int]]:
    """Share of n seeded random ±spread perturbations of all weights that keep the verdict, and what won otherwise."""
    terms, weights, feats = _features(compiled, answers)
    return _stability(compiled, weights, feats, n, spread, seed)


def _stability(compiled: CompiledRules, weights: list[float], feats: list[tuple], n: int, spread: float,
               seed: int) -> tuple[float, dict[str, int]]:
    top = pick(compiled, _raw(weights, feats))
    rng = random.Random(seed)
    lo, width = 1.0 - spread, 2.0 * spread
    kept = 0
    others = [0, 0, 0]
    for _ in range(n):
        trial = [w * (lo + width * rng.random()) for w in weights]
        got = pick(compiled, _raw(trial, feats))
        if got == top:
            kept += 1
        else:
            others[got] += 1
    alternatives = {RECOMMENDABLE[a]: others[a] for a in range(3) if others[a]}
    return (kept / n if n else 1.0), alternatives


def analyse_sensitivity(
    compiled: CompiledRules,
    answers: Mapping[str, Any],
    n: int = DEFAULT_PERTURBATIONS,
    spread: float = DEFAULT_SPREAD,
    seed: int = DEFAULT_SEED,
) -> Sensitivity:
    """Both measures for one answer set (deterministic for a given seed)."""
    if n < 0 or not 0 <= spread < 1:
        raise ValueError("n must be >= 0 and spread in [0, 1)")
    terms, weights, feats = _features(compiled, answers)
    top = pick(compiled, _raw(weights, feats))
    share, alternatives = _stability(compiled, weights, feats, n, spread, seed)
    return Sensitivity(
        recommendation=RECOMMENDABLE[top],
        smallest_flip=_smallest_flip(compiled, terms, weights, feats),
        stability=round(share, 4),
        perturbations=n,
        spread=spread,
        seed=seed,
        alternatives=alternatives,
    )
