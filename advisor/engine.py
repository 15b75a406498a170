"""The scoring engine: pure, deterministic functions from answers to a recommendation.

The model is linear in its weights, so a calibration step can fit them:

    raw[a] = sum over factors f of  w_f * pull_f,a(answer)  +  sum over rules r of  w_r * effect_r,a * [r fires]

`contributions` returns that sum term by term (`factor:<id>` and `rule:<id>`), `term_weights` reads every
w_t of a rule base and `with_term_weights` writes new ones back (then `rulebase.dump_rules` saves them).
Raw scores map to [0, 1] with a logistic (`scores`); the recommendation is the highest raw score, ties going
to the simpler approach first (`scoring.tie_order`, by default rag < fine-tuning < hybrid: an index is the
cheapest to build, update and throw away; fine-tuning needs a training pipeline; a hybrid needs both).

A rule base is compiled once (`compile_rules`) into plain tuples; scoring and flip analysis never touch
pydantic, and answers are encoded as a tuple of value indices (-1 = unknown).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from advisor.answers import check_answers
from advisor.text import show
from advisor.errors import InputError, did_you_mean
from advisor.models import RECOMMENDABLE, UNKNOWN, Approach, Expected, FactorPull, FiredRule, FlipOut, RuleBase
from advisor.outcomes import PROMPT, prompt_steps

EPS = 1e-9  # raw scores closer than this are a tie, which the tie order decides
Vec = tuple[float, float, float]
State = tuple[int, ...]


@dataclass(frozen=True, repr=False)
class CompiledRules:
    """A rule base flattened into tuples for fast scoring. Build it with `compile_rules`."""

    rulebase: RuleBase
    question_ids: tuple[str, ...]
    question_index: dict[str, int]
    values: tuple[tuple[str, ...], ...]
    value_index: tuple[dict[str, int], ...]
    defaults: tuple[int, ...]
    factor_of: tuple[str, ...]
    factor_ids: tuple[str, ...]
    factor_weight: dict[str, float]
    pulls: tuple[tuple[Vec, ...], ...]
    weighted_pulls: tuple[tuple[Vec, ...], ...]
    rule_ids: tuple[str, ...]
    rule_conds: tuple[tuple[tuple[int, frozenset[int]], ...], ...]
    rule_weight: tuple[float, ...]
    rule_effect: tuple[Vec, ...]
    rule_weighted_effect: tuple[Vec, ...]
    rules_by_q: tuple[tuple[int, ...], ...]
    importance: tuple[float, ...]
    scale: float
    margin_scale: float
    floor: float
    order: tuple[int, ...]
    factor_questions: tuple[tuple[int, ...], ...] = ()
    # explanation text, precomputed so that recommend() does not walk pydantic models per answer set
    value_text: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = ()
    factor_meta: tuple[tuple[str, str, float], ...] = ()
    rule_meta: tuple[tuple[str, tuple[str, ...], str, tuple[str, ...], str | None], ...] = ()
    choices: dict[str, tuple[tuple[str, ...], str | None]] = field(default_factory=dict)  # what encode checks
    prompt_rules: tuple[int, ...] = ()  # rules that say `start_with: prompt` when they fire
    rule_cap: tuple[float | None, ...] = ()  # per rule: its confidence_when_decisive

    def __repr__(self) -> str:
        return f"CompiledRules({self.rulebase.name!r}: {len(self.question_ids)} questions, {len(self.rule_ids)} rules)"


def _vec(mapping: Mapping[Any, float]) -> Vec:
    return (float(mapping.get("rag", 0.0)), float(mapping.get("fine-tuning", 0.0)), float(mapping.get("hybrid", 0.0)))


def _scaled(weight: float, vec: Vec) -> Vec:
    return (weight * vec[0], weight * vec[1], weight * vec[2])


def _spread(vec: Vec) -> float:
    return max(vec) - min(vec)


def compile_rules(rulebase: RuleBase) -> CompiledRules:
    """Flatten a validated rule base into tuples (done once; reuse the result for many answer sets)."""
    factor_weight = {f.id: f.weight for f in rulebase.factors}
    question_ids = tuple(q.id for q in rulebase.questions)
    question_index = {qid: i for i, qid in enumerate(question_ids)}
    values = tuple(tuple(v.value for v in q.values) for q in rulebase.questions)
    value_index = tuple({v: i for i, v in enumerate(vs)} for vs in values)
    pulls = tuple(tuple(_vec(v.pull) for v in q.values) for q in rulebase.questions)
    weighted_pulls = tuple(
        tuple(_scaled(factor_weight[q.factor], p) for p in qp)
        for q, qp in zip(rulebase.questions, pulls)
    )
    rule_conds = tuple(
        tuple((question_index[qid], frozenset(value_index[question_index[qid]][v] for v in vs))
              for qid, vs in r.when.items())
        for r in rulebase.rules
    )
    rule_effect = tuple(_vec(r.effect) for r in rulebase.rules)
    rule_weighted_effect = tuple(_scaled(r.weight, e) for r, e in zip(rulebase.rules, rule_effect))
    rules_by_q = tuple(
        tuple(ri for ri, conds in enumerate(rule_conds) if any(qi == i for qi, _ in conds))
        for i in range(len(question_ids))
    )
    importance = tuple(
        max(_spread(p) for p in weighted_pulls[i])
        + sum(_spread(rule_weighted_effect[ri]) / len(rule_conds[ri]) for ri in rules_by_q[i])
        for i in range(len(question_ids))
    )
    defaults = tuple(value_index[i][q.default] if q.default is not None else -1
                     for i, q in enumerate(rulebase.questions))
    return CompiledRules(
        rulebase=rulebase,
        question_ids=question_ids,
        question_index=question_index,
        values=values,
        value_index=value_index,
        defaults=defaults,
        factor_of=tuple(q.factor for q in rulebase.questions),
        factor_ids=tuple(f.id for f in rulebase.factors),
        factor_weight=factor_weight,
        pulls=pulls,
        weighted_pulls=weighted_pulls,
        rule_ids=tuple(r.id for r in rulebase.rules),
        rule_conds=rule_conds,
        rule_weight=tuple(r.weight for r in rulebase.rules),
        rule_effect=rule_effect,
        rule_weighted_effect=rule_weighted_effect,
        rules_by_q=rules_by_q,
        importance=importance,
        scale=rulebase.scoring.scale,
        margin_scale=rulebase.scoring.margin_scale,
        floor=rulebase.scoring.confidence_floor,
        order=tie_indices(rulebase.scoring.tie_order),
        factor_questions=tuple(
            tuple(i for i, q in enumerate(rulebase.questions) if q.factor == f.id) for f in rulebase.factors
        ),
        value_text=tuple(tuple((v.because, tuple(v.source)) for v in q.values) for q in rulebase.questions),
        factor_meta=tuple((f.id, f.label or f.id, f.weight) for f in rulebase.factors),
        rule_meta=tuple((r.id, tuple(r.when), r.because, tuple(r.source), r.note) for r in rulebase.rules),
        choices={q.id: (vs, q.default) for q, vs in zip(rulebase.questions, values)},
        prompt_rules=tuple(ri for ri, r in enumerate(rulebase.rules) if r.start_with == PROMPT),
        rule_cap=tuple(r.confidence_when_decisive for r in rulebase.rules),
    )


def encode(compiled: CompiledRules, answers: Mapping[str, Any]) -> State:
    """Answers {question: value} to a tuple of value indices (-1 unknown). Bad ids or values: InputError.

    Values are normalised and checked as in answers files (`answers.check_answers`: 'Weekly' is 'weekly').
    A missing answer takes the question's default (questions outside the contract) or is unknown.
    """
    checked = check_answers(answers, compiled.choices)
    return tuple(-1 if value == UNKNOWN else compiled.value_index[i][value] for i, value in enumerate(checked.values()))


def decode(compiled: CompiledRules, state: State) -> dict[str, str]:
    """A state tuple back to {question: value or 'unknown'}."""
    return {qid: (compiled.values[i][v] if v >= 0 else UNKNOWN)
            for i, (qid, v) in enumerate(zip(compiled.question_ids, state))}


def _fires(compiled: CompiledRules, ri: int, state: State) -> bool:
    for qi, allowed in compiled.rule_conds[ri]:
        if state[qi] not in allowed:
            return False
    return True


def raw_state(compiled: CompiledRules, state: State) -> list[float]:
    """Raw (unbounded) scores [rag, fine-tuning, hybrid] of an encoded answer set."""
    r = f = h = 0.0
    for qi, v in enumerate(state):
        if v >= 0:
            p = compiled.weighted_pulls[qi][v]
            r += p[0]
            f += p[1]
            h += p[2]
    for ri, e in enumerate(compiled.rule_weighted_effect):
        if _fires(compiled, ri, state):
            r += e[0]
            f += e[1]
            h += e[2]
    return [r, f, h]


def pick(compiled: CompiledRules, raw: list[float]) -> int:
    """Index of the recommended approach: highest raw score; near-ties go to the earlier in tie_order."""
    return pick_in_order(raw, compiled.order)


def pick_in_order(raw: Any, order: tuple[int, ...]) -> int:
    """The one verdict rule: highest raw score, scores within EPS going to the earlier approach in `order`."""
    best = order[0]
    for a in order[1:]:
        if raw[a] > raw[best] + EPS:
            best = a
    return best


def margin(raw: Any, top: int) -> float:
    """The verdict's margin: the top raw score minus the best other raw score (0 or less: a tie)."""
    return raw[top] - max(raw[a] for a in range(3) if a != top)



def tie_indices(tie_order: Any) -> tuple[int, ...]:
    """A tie order of approach names as approach indices (what `pick_in_order` and `pick_many` take)."""
    return tuple(RECOMMENDABLE.index(a) for a in tie_order)


def pick_many(raw: Any, order: tuple[int, ...]) -> tuple[Any, Any]:
    """`pick_in_order` vectorised over raw of shape (3, ...): (top index as int8, top raw score)."""
    import numpy as np

    best = np.full(raw.shape[1:], order[0], dtype=np.int8)
    best_val = raw[order[0]].copy()
    for a in order[1:]:
        better = raw[a] > best_val + EPS
        best[better] = a
        best_val[better] = raw[a][better]
    return best, best_val


def margins(raw: Any, best: Any, best_val: Any) -> Any:
    """`margin` vectorised over raw of shape (3, ...): top raw score minus the best other raw score."""
    import numpy as np

    other = np.full(best.shape, -np.inf)
    for a in range(3):
        np.maximum(other, np.where(best == a, -np.inf, raw[a]), out=other)
    return best_val - other


def confidence_of(compiled: CompiledRules, state: State, raw: list[float], top: int) -> float:
    """Confidence in [0, 1]: the share of question importance that is answered, times a margin term.

    A question outside the contract left at its (neutral) default counts as not asked: it neither raises nor
    lowers the share, so an answers file written for the contract questions keeps its confidence.
    """
    asked = [(imp, v) for imp, v, d in zip(compiled.importance, state, compiled.defaults) if d < 0 or v != d]
    total = sum(imp for imp, _ in asked) or 1.0
    missing = sum(imp for imp, v in asked if v < 0)
    known_share = max(0.0, 1.0 - missing / total)
    lead = max(0.0, margin(raw, top))
    return known_share * (compiled.floor + (1.0 - compiled.floor) * math.tanh(lead / compiled.margin_scale))


def decisive_cap(compiled: CompiledRules, state: State, raw: list[float], top: int) -> tuple[float, int] | None:
    """The lowest confidence cap among fired veto rules that alone decide the verdict: (cap, rule index), or None.

    A rule with `confidence_when_decisive` decides the verdict where removing its effect would make another
    approach win; the verdict is then forced by the rule rather than preferred by the answers.
    """
    best: tuple[float, int] | None = None
    for ri, cap in enumerate(compiled.rule_cap):
        if cap is None or not _fires(compiled, ri, state):
            continue
        e = compiled.rule_weighted_effect[ri]
        if pick(compiled, [raw[0] - e[0], raw[1] - e[1], raw[2] - e[2]]) != top and (best is None or cap < best[0]):
            best = (cap, ri)
    return best


def analyse(compiled: CompiledRules, state: State) -> tuple[list[float], int, float, list[tuple[int, int, int]], int]:
    """The fast core: (raw scores, top index, confidence, flips [(question, new value, new top)], ask-next question).

    Flips are every single-answer change (to each other value, and to or from unknown) that changes the
    recommendation. ask-next is the first of `rank_unknowns` (-1: no question is unknown).
    """
    raw = raw_state(compiled, state)
    top = pick(compiled, raw)
    conf = confidence_of(compiled, state, raw, top)
    cap = decisive_cap(compiled, state, raw, top)
    if cap is not None:
        conf = min(conf, cap[0])
    fired = [_fires(compiled, ri, state) for ri in range(len(compiled.rule_conds))]
    flips: list[tuple[int, int, int]] = []
    weighted_pulls, rule_conds = compiled.weighted_pulls, compiled.rule_conds
    rule_weighted_effect = compiled.rule_weighted_effect
    o0, o1, o2 = compiled.order
    for qi, cur in enumerate(state):
        related = compiled.rules_by_q[qi]
        for alt in range(-1, len(compiled.values[qi])):
            if alt == cur:
                continue
            r, f, h = raw
            if cur >= 0:
                p = weighted_pulls[qi][cur]
                r -= p[0]
                f -= p[1]
                h -= p[2]
            if alt >= 0:
                p = weighted_pulls[qi][alt]
                r += p[0]
                f += p[1]
                h += p[2]
            for ri in related:
                now = True
                for cq, allowed in rule_conds[ri]:
                    if (alt if cq == qi else state[cq]) not in allowed:
                        now = False
                        break
                if now != fired[ri]:
                    e = rule_weighted_effect[ri]
                    sign = 1.0 if now else -1.0
                    r += sign * e[0]
                    f += sign * e[1]
                    h += sign * e[2]
            alt_raw = (r, f, h)
            new_top = o0  # pick(), inlined: this loop is the hot path
            if alt_raw[o1] > alt_raw[new_top] + EPS:
                new_top = o1
            if alt_raw[o2] > alt_raw[new_top] + EPS:
                new_top = o2
            if new_top != top:
                flips.append((qi, alt, new_top))
    ask_next = -1
    if -1 in state:
        ranked = rank_unknowns(compiled, state)
        ask_next = ranked[0].question if ranked else -1
    return raw, top, conf, flips, ask_next


def _answered(compiled: CompiledRules, state: State, raw: list[float], fired: list[bool], qi: int,
              alt: int) -> list[float]:
    """Raw scores with the unknown question `qi` answered `alt`: its pull added, and the rules it starts firing."""
    p = compiled.weighted_pulls[qi][alt]
    new = [raw[0] + p[0], raw[1] + p[1], raw[2] + p[2]]
    for ri in compiled.rules_by_q[qi]:
        conds = compiled.rule_conds[ri]
        if not fired[ri] and all((alt if cq == qi else state[cq]) in allowed for cq, allowed in conds):
            e = compiled.rule_weighted_effect[ri]
            new = [new[0] + e[0], new[1] + e[1], new[2] + e[2]]
    return new


@dataclass(frozen=True)
class UnknownRank:
    """What answering one unknown question could do to the verdict (indices into the compiled rule base)."""

    question: int
    flips_to: tuple[tuple[int, int], ...]  # (value, approach it would recommend instead), in value order
    mean_margin_change: float  # mean over the question's values of |change of the verdict's margin|


def rank_unknowns(compiled: CompiledRules, state: State, among: Collection[int] | None = None) -> list[UnknownRank]:
    """Unknown questions (only those in `among`, when given), most informative first. The one rule for "the
    question to answer next": the recommendation's `ask_next`, the JSON's `unknowns.ask_next`, the terminal and
    report lines, `ask --adaptive` and the web page all take its first.

    A question with a value that would change the verdict comes before one without; then the larger mean
    absolute change of the verdict's margin over its values (sharpening counts as much as weakening); then
    the rule base's question order.
    """
    raw = raw_state(compiled, state)
    top = pick(compiled, raw)
    base = margin(raw, top)
    fired = [_fires(compiled, ri, state) for ri in range(len(compiled.rule_conds))]
    ranked: list[UnknownRank] = []
    for qi, v in enumerate(state):
        if v >= 0 or (among is not None and qi not in among):
            continue
        changes, flips = [], []
        for alt in range(len(compiled.values[qi])):
            new = _answered(compiled, state, raw, fired, qi, alt)  # an unknown answer pulls nothing: add alt's
            new_top = pick(compiled, new)
            changes.append(abs(margin(new, top) - base))
            if new_top != top:
                flips.append((alt, new_top))
        ranked.append(UnknownRank(qi, tuple(flips), sum(changes) / len(changes)))
    ranked.sort(key=lambda q: (not q.flips_to, -round(q.mean_margin_change, 9), q.question))
    return ranked


def to_score(compiled: CompiledRules, raw: float) -> float:
    """A raw score mapped into [0, 1] (logistic with the rule base's scale)."""
    x = raw / compiled.scale
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # the stable form for negative x: no overflow
    return e / (1.0 + e)


@dataclass
class Recommendation:
    """The engine's answer, with its explanation as data. `to_dict()` is the contract JSON (plus extra fields)."""

    recommendation: Approach
    scores: dict[str, float]
    raw_scores: dict[str, float]
    confidence: float
    margin: float
    answers: dict[str, str]
    factors: list[FactorPull]
    rules: list[FiredRule]
    notes: list[str]
    flips: list[FlipOut]
    unknown: list[str]
    ask_next: str | None
    # what to act on first: `prompt` when a rule saying `start_with: prompt` fired, else the recommendation
    start_with: Expected
    rules_name: str = ""
    next_steps: list[str] = field(default_factory=list)
    confidence_capped_by: str | None = None  # the veto rule that alone decides the verdict, capping the confidence

    def to_dict(self) -> dict[str, Any]:
        """The contract's recommendation JSON: version, recommendation, scores, confidence, factors, flips, and more."""
        return {
            "version": 1,
            "recommendation": self.recommendation,
            "start_with": self.start_with,
            "scores": self.scores,
            "confidence": self.confidence,
            "factors": [f.model_dump(by_alias=True) for f in self.factors],
            "flips": [f.model_dump(by_alias=True) for f in self.flips],
            "raw_scores": self.raw_scores,
            "margin": self.margin,
            "answers": self.answers,
            "unknown": self.unknown,
            "ask_next": self.ask_next,
            "rules": [r.model_dump(by_alias=True) for r in self.rules],
            "notes": self.notes,
            "next_steps": self.next_steps,
            "rule_base": self.rules_name,
            "confidence_capped_by": self.confidence_capped_by,
        }


def _r(x: float) -> float:
    return round(x, 3) + 0.0  # + 0.0 turns -0.0 into 0.0


def recommend(compiled: CompiledRules, answers: Mapping[str, Any]) -> Recommendation:
    """Score an answer set: scores, confidence, per-factor explanation, fired rules, flips, next steps."""
    state = encode(compiled, answers)
    raw, top, conf, flip_list, ask_next = analyse(compiled, state)
    rb = compiled.rulebase
    decoded = decode(compiled, state)
    question_ids, weighted_pulls, value_text = compiled.question_ids, compiled.weighted_pulls, compiled.value_text
    factors: list[FactorPull] = []
    for (fid, label, weight), qis in zip(compiled.factor_meta, compiled.factor_questions):
        r = f = h = 0.0
        because: list[str] = []
        sources: list[str] = []
        read = {}
        for qi in qis:
            qid, v = question_ids[qi], state[qi]
            read[qid] = decoded[qid]
            if v < 0:
                because.append(f"{qid} is unknown, so it counts as neutral")
                continue
            p = weighted_pulls[qi][v]
            r += p[0]
            f += p[1]
            h += p[2]
            text, srcs = value_text[qi][v]
            if text:
                because.append(text)
            sources.extend(x for x in srcs if x not in sources)
        factors.append(FactorPull(
            id=fid, label=label, rag=_r(r), fine_tuning=_r(f), hybrid=_r(h),
            because="; ".join(because), answers=read, weight=weight, source=sources,
        ))
    fired_rules: list[FiredRule] = []
    notes: list[str] = []
    for ri, (rid, when, because_r, srcs_r, note) in enumerate(compiled.rule_meta):
        if _fires(compiled, ri, state):
            e = compiled.rule_weighted_effect[ri]
            fired_rules.append(FiredRule(
                id=rid, when={q: decoded[q] for q in when}, rag=_r(e[0]), fine_tuning=_r(e[1]), hybrid=_r(e[2]),
                because=because_r, source=list(srcs_r), note=note,
            ))
            if note:
                notes.append(note)
    flips = [
        FlipOut(
            question=compiled.question_ids[qi],
            from_=decoded[compiled.question_ids[qi]],
            to=compiled.values[qi][alt] if alt >= 0 else UNKNOWN,
            recommendation=cast(Approach, RECOMMENDABLE[new_top]),
        )
        for qi, alt, new_top in flip_list
    ]
    name = cast(Approach, RECOMMENDABLE[top])
    cap = decisive_cap(compiled, state, raw, top)
    info = rb.approaches.get(name)
    prompt_first = any(_fires(compiled, ri, state) for ri in compiled.prompt_rules)
    if prompt_first:
        next_steps = prompt_steps(info.label if info else name)
    else:
        next_steps = list(info.next_steps) if info else []
    return Recommendation(
        recommendation=name,
        scores={a: _r(to_score(compiled, raw[i])) for i, a in enumerate(RECOMMENDABLE)},
        raw_scores={a: _r(raw[i]) for i, a in enumerate(RECOMMENDABLE)},
        confidence=_r(conf),
        margin=_r(margin(raw, top)),
        answers=decoded,
        factors=factors,
        rules=fired_rules,
        notes=notes,
        flips=flips,
        unknown=[q for q, v in decoded.items() if v == UNKNOWN],
        ask_next=compiled.question_ids[ask_next] if ask_next >= 0 else None,
        rules_name=rb.name,
        next_steps=next_steps,
        start_with="prompt" if prompt_first else name,
        confidence_capped_by=compiled.rule_ids[cap[1]] if cap is not None else None,
    )


def raw_scores(compiled: CompiledRules, answers: Mapping[str, Any]) -> dict[str, float]:
    """Unrounded raw scores {approach: float} of an answer set."""
    raw = raw_state(compiled, encode(compiled, answers))
    return dict(zip(RECOMMENDABLE, raw))


def scores(compiled: CompiledRules, answers: Mapping[str, Any]) -> dict[str, float]:
    """Unrounded [0, 1] scores {approach: float} of an answer set."""
    return {a: to_score(compiled, x) for a, x in raw_scores(compiled, answers).items()}


def contributions(
    compiled: CompiledRules, answers: Mapping[str, Any], weighted: bool = True
) -> dict[str, dict[str, float]]:
    """Per-term contribution matrix {'factor:<id>' | 'rule:<id>': {approach: value}}; the terms sum to the raw scores.

    With weighted=False the values are the features a calibrator fits: pull (or effect * fired) without w_t.
    """
    state = encode(compiled, answers)
    table = compiled.weighted_pulls if weighted else compiled.pulls
    out: dict[str, dict[str, float]] = {}
    for fid in compiled.factor_ids:
        out[f"factor:{fid}"] = dict.fromkeys(RECOMMENDABLE, 0.0)
    for qi, v in enumerate(state):
        if v >= 0:
            term = out[f"factor:{compiled.factor_of[qi]}"]
            for a, name in enumerate(RECOMMENDABLE):
                term[name] += table[qi][v][a]
    effects = compiled.rule_weighted_effect if weighted else compiled.rule_effect
    for ri, rid in enumerate(compiled.rule_ids):
        on = _fires(compiled, ri, state)
        out[f"rule:{rid}"] = {name: (effects[ri][a] if on else 0.0) for a, name in enumerate(RECOMMENDABLE)}
    return out


def term_weights(rulebase: RuleBase) -> dict[str, float]:
    """Every weight of the linear model: {'factor:<id>': w_f, 'rule:<id>': w_r}."""
    weights = {f"factor:{f.id}": f.weight for f in rulebase.factors}
    weights.update({f"rule:{r.id}": r.weight for r in rulebase.rules})
    return weights


def with_term_weights(rulebase: RuleBase, weights: Mapping[str, float]) -> RuleBase:
    """A copy of the rule base with the given term weights (unknown term ids: InputError; negative: clipped to 0)."""
    known = term_weights(rulebase)
    for term in weights:
        if term not in known:
            raise InputError(f"unknown term {show(term)}{did_you_mean(str(term), known)}")
    new = rulebase.model_copy(deep=True)
    for f in new.factors:
        f.weight = max(0.0, float(weights.get(f"factor:{f.id}", f.weight)))
    for r in new.rules:
        r.weight = max(0.0, float(weights.get(f"rule:{r.id}", r.weight)))
    return new
