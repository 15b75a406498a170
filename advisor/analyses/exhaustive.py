"""Exhaustive lint: score every combination of answers (unknown included) and report where the rule base is weak.

The answer space is finite (about 2.9 million combinations for the ten contract questions with unknown), so
instead of sampling we enumerate it: the compiled rule base becomes one small pull table per question, and
numpy adds them up over the whole grid by broadcasting, a chunk of leading answers at a time. The verdict of
every combination is kept (one byte each), which is what the per-question and per-answer findings read.

The verdict rule is the engine's own (`engine.pick_many`, the numpy form of `engine.pick`): highest raw score,
near-ties (within `engine.EPS`) to the earlier approach in `scoring.tie_order`; a test checks the two agree
on sampled combinations.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from advisor.engine import EPS, CompiledRules, margins, pick_many
from advisor.errors import InputError
from advisor.models import APPROACHES, UNKNOWN

CHUNK = 1 << 20
MAX_COMBINATIONS = 50_000_000  # two bytes each are kept (verdict, close call)


@dataclass
class ExhaustiveReport:
    """What enumerating every answer combination found; `to_dict()` is the JSON, `render_text()` the terminal view."""

    rule_base: str
    total: int
    answered_total: int
    wins: dict[str, int]
    wins_answered: dict[str, int]
    near_margin: float
    ties: int
    ties_answered: int
    tie_examples: list[dict[str, str]]
    near: int
    near_answered: int
    near_examples: list[dict[str, str]]
    rules: list[dict[str, Any]]
    questions: list[dict[str, Any]]
    dead_answers: list[dict[str, str]]
    hotspots: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    verdicts: Any = field(default=None, repr=False)  # int8 array over the answer grid (last index = unknown)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--format json`."""
        return {
            "rule_base": self.rule_base,
            "combinations": self.total,
            "fully_answered": self.answered_total,
            "wins": self.wins,
            "wins_fully_answered": self.wins_answered,
            "ties": {"count": self.ties, "fully_answered": self.ties_answered, "examples": self.tie_examples},
            "near_ties": {
                "margin": self.near_margin,
                "count": self.near,
                "fully_answered": self.near_answered,
                "examples": self.near_examples,
            },
            "rules": self.rules,
            "questions": self.questions,
            "dead_answers": self.dead_answers,
            "close_call_hotspots": self.hotspots,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }

    def render_text(self) -> str:
        """A readable summary for the terminal."""
        return render_text(self)


def _tables(compiled: CompiledRules) -> tuple[list[int], list[Any]]:
    import numpy as np

    sizes, tables = [], []
    for qi in range(len(compiled.qids)):
        n = len(compiled.values[qi])
        table = np.zeros((n + 1, 3))
        table[:n] = np.asarray(compiled.wpulls[qi], dtype=float).reshape(n, 3)
        sizes.append(n + 1)  # the last index is "unknown": neutral, and no rule reads it
        tables.append(table)
    return sizes, tables


def _spread_pick(indices: Any, k: int) -> list[int]:
    if len(indices) <= k:
        return [int(i) for i in indices]
    step = len(indices) / k
    return [int(indices[int((i + 0.5) * step)]) for i in range(k)]


def exhaustive_lint(compiled: CompiledRules, near_margin: float = 0.1, examples: int = 3) -> ExhaustiveReport:
    """Enumerate every answer combination (unknown included) of a compiled rule base and report its weak spots.

    near_margin: raw-score margin under which a verdict counts as a near tie. examples: how many example
    answer sets to keep for ties and near ties (spread over the space, preferring fully answered ones).
    """
    import numpy as np

    start = time.perf_counter()
    sizes, tables = _tables(compiled)
    nq = len(sizes)
    total = int(np.prod(sizes, dtype=np.int64))
    if total > MAX_COMBINATIONS:
        raise InputError(
            f"the rule base has {total:,} answer combinations; the exhaustive lint handles at most "
            f"{MAX_COMBINATIONS:,} (fewer questions or values)"
        )
    lead = 0
    while lead < nq and int(np.prod(sizes[lead:], dtype=np.int64)) > CHUNK:
        lead += 1
    tshape = tuple(sizes[lead:])
    tdims = len(tshape)

    def along(i: int, vec: Any) -> Any:
        shape = [1] * tdims
        shape[i - lead] = sizes[i]
        return vec.reshape(shape)

    trailing_answered = np.ones(tshape, dtype=bool)
    for i in range(lead, nq):
        trailing_answered = trailing_answered & along(i, np.arange(sizes[i]) < sizes[i] - 1)
    trailing_tables = [(i, [along(i, tables[i][:, a]) for a in range(3)]) for i in range(lead, nq)]
    rules = []
    for ri, conds in enumerate(compiled.rule_conds):
        lead_conds = [(qi, allowed) for qi, allowed in conds if qi < lead]
        mask = np.ones(tshape, dtype=bool)
        for qi, allowed in conds:
            if qi >= lead:
                member = np.array([v in allowed for v in range(sizes[qi])], dtype=bool)
                mask = mask & along(qi, member)
        rules.append((lead_conds, np.broadcast_to(mask, tshape), np.asarray(compiled.rule_weff[ri], dtype=float)))

    verdicts = np.empty(tuple(sizes), dtype=np.int8)
    close_grid = np.empty(tuple(sizes), dtype=bool)  # tie or near tie
    wins = np.zeros(3, dtype=np.int64)
    wins_answered = np.zeros(3, dtype=np.int64)
    fires = np.zeros(len(rules), dtype=np.int64)
    decisive = np.zeros(len(rules), dtype=np.int64)
    ties = ties_answered = near = near_answered = 0
    tie_pool: list[tuple[bool, tuple[int, ...]]] = []
    near_pool: list[tuple[bool, tuple[int, ...]]] = []

    for lead_idx in itertools.product(*(range(s) for s in sizes[:lead])):
        lead_known = all(v < sizes[i] - 1 for i, v in enumerate(lead_idx))
        raw = np.zeros((3,) + tshape)
        for i, v in enumerate(lead_idx):
            raw += tables[i][v].reshape((3,) + (1,) * tdims)
        for _, cols in trailing_tables:
            for a in range(3):
                raw[a] += cols[a]
        active = []  # rules with an effect that fire somewhere in this chunk
        for ri, (lead_conds, mask, eff) in enumerate(rules):
            if not all(lead_idx[qi] in allowed for qi, allowed in lead_conds):
                continue
            count = int(mask.sum())
            fires[ri] += count
            if count and eff.any():
                for a in range(3):
                    if eff[a]:
                        np.add(raw[a], eff[a], out=raw[a], where=mask)
                active.append((ri, mask, eff))
        best, best_val = pick_many(raw, compiled.order)
        verdicts[lead_idx] = best
        wins += np.bincount(best.ravel(), minlength=3)
        answered = trailing_answered if lead_known else np.zeros(tshape, dtype=bool)
        if lead_known:
            wins_answered += np.bincount(best[answered], minlength=3)
        margin = margins(raw, best, best_val)
        tie_mask = margin <= EPS
        near_mask = (margin < near_margin) & ~tie_mask
        close_grid[lead_idx] = margin < max(near_margin, 2 * EPS)
        ties += int(tie_mask.sum())
        near += int(near_mask.sum())
        ties_answered += int((tie_mask & answered).sum())
        near_answered += int((near_mask & answered).sum())
        for pool, mask in ((tie_pool, tie_mask), (near_pool, near_mask)):
            for prefer in (True, False):
                sub = mask & answered if prefer else mask & ~answered
                picked = _spread_pick(np.flatnonzero(sub), examples)
                pool.extend((prefer, lead_idx + tuple(int(x) for x in np.unravel_index(p, tshape))) for p in picked)
        for ri, mask, eff in active:
            # removing the rule moves any margin by at most its effect's spread: only those can change
            cand = mask & (margin <= float(eff.max() - eff.min()) + 2 * EPS)
            if not cand.any():
                continue
            sub = raw[:, cand] - eff[:, None]
            alt, _ = pick_many(sub, compiled.order)
            decisive[ri] += int((alt != best[cand]).sum())

    answered_total = int(np.prod([s - 1 for s in sizes], dtype=np.int64))
    decode = _decoder(compiled, sizes)
    rule_rows = []
    for ri, rid in enumerate(compiled.rule_ids):
        rule_rows.append({
            "id": rid,
            "fires": int(fires[ri]),
            "decisive": int(decisive[ri]),
            "never_fires": bool(fires[ri] == 0),
            "never_decides": bool(decisive[ri] == 0),
            "note_only": not any(compiled.rule_effect[ri]),
        })
    question_rows, dead = _answer_influence(compiled, verdicts, sizes)
    hotspots = _hotspots(compiled, close_grid, sizes)
    warnings = []
    for row in rule_rows:
        if row["never_fires"]:
            warnings.append(f"rule '{row['id']}' never fires")
        elif row["never_decides"] and not row["note_only"]:
            warnings.append(f"rule '{row['id']}' fires in {row['fires']:,} combinations but never changes the verdict")
    for row in question_rows:
        if row["decisive_contexts"] == 0:
            warnings.append(f"question '{row['id']}' never changes the verdict, whatever the other answers")
    for d in dead:
        if d["reason"] != "neutral":
            warnings.append(f"answer {d['question']}={d['value']} never gives a different verdict than 'unknown'")
    return ExhaustiveReport(
        rule_base=compiled.rulebase.name,
        total=total,
        answered_total=answered_total,
        wins={a: int(wins[i]) for i, a in enumerate(APPROACHES)},
        wins_answered={a: int(wins_answered[i]) for i, a in enumerate(APPROACHES)},
        near_margin=near_margin,
        ties=ties,
        ties_answered=ties_answered,
        tie_examples=[decode(s) for s in _choose(tie_pool, examples)],
        near=near,
        near_answered=near_answered,
        near_examples=[decode(s) for s in _choose(near_pool, examples)],
        rules=rule_rows,
        questions=question_rows,
        dead_answers=dead,
        hotspots=hotspots,
        seconds=time.perf_counter() - start,
        warnings=warnings,
        verdicts=verdicts,
    )


def _choose(pool: list[tuple[bool, tuple[int, ...]]], k: int) -> list[tuple[int, ...]]:
    preferred = [s for p, s in pool if p] or [s for _, s in pool]
    if len(preferred) <= k:
        return preferred
    step = len(preferred) / k
    return [preferred[int((i + 0.5) * step)] for i in range(k)]


def _decoder(compiled: CompiledRules, sizes: list[int]) -> Any:
    def decode(state: tuple[int, ...]) -> dict[str, str]:
        return {
            qid: (compiled.values[i][v] if v < sizes[i] - 1 else UNKNOWN) for i, (qid, v) in enumerate(zip(compiled.qids, state))
        }

    return decode


def _answer_influence(compiled: CompiledRules, verdicts: Any, sizes: list[int]) -> tuple[list[dict], list[dict]]:
    """Per question: in how many contexts its answer matters; per answer: whether it ever differs from unknown."""
    rows, dead = [], []
    # answers read by a rule with an effect (a note-only rule does not change any score)
    referenced = {(qi, v) for conds, eff in zip(compiled.rule_conds, compiled.rule_effect) if any(eff)
                  for qi, allowed in conds for v in allowed}
    for qi, qid in enumerate(compiled.qids):
        contexts = verdicts.size // sizes[qi]
        matters = int((verdicts.max(axis=qi) != verdicts.min(axis=qi)).sum())
        unknown = verdicts.take(sizes[qi] - 1, axis=qi)
        values = []
        for v, value in enumerate(compiled.values[qi]):
            differs = int((verdicts.take(v, axis=qi) != unknown).sum())
            values.append({"value": value, "differs_from_unknown": differs})
            if differs == 0:
                neutral = not any(compiled.pulls[qi][v]) and (qi, v) not in referenced
                dead.append({
                    "question": qid,
                    "value": value,
                    "reason": "neutral" if neutral else "never decisive",
                })
        rows.append({
            "id": qid,
            "contexts": contexts,
            "decisive_contexts": matters,
            "share": round(matters / contexts, 4) if contexts else 0.0,
            "values": values,
        })
    return rows, dead


def _hotspots(compiled: CompiledRules, close: Any, sizes: list[int], top: int = 5) -> list[dict[str, Any]]:
    """Answers over-represented among fully answered ties and near ties: where the close calls concentrate.

    For each question=value: its share of the close calls against its share of all fully answered
    combinations (1/number of values); a lift of 2.0 means close calls have that answer twice as often.
    """
    answered = close[tuple(slice(0, s - 1) for s in sizes)]
    total = int(answered.sum())
    if not total:
        return []
    rows = []
    for qi, qid in enumerate(compiled.qids):
        n = sizes[qi] - 1
        other = tuple(a for a in range(answered.ndim) if a != qi)
        counts = answered.sum(axis=other)
        for v in range(n):
            share = int(counts[v]) / total
            rows.append({"question": qid, "value": compiled.values[qi][v], "close_calls": int(counts[v]),
                         "share": round(share, 4), "lift": round(share * n, 3)})
    rows.sort(key=lambda r: (-r["lift"], r["question"]))
    return [r for r in rows if r["lift"] >= 1.2][:top]


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "0%"


def _answers_line(answers: dict[str, str]) -> str:
    known = [f"{q}={v}" for q, v in answers.items() if v != UNKNOWN]
    unknown = sum(1 for v in answers.values() if v == UNKNOWN)
    return ", ".join(known) + (f" (+{unknown} unknown)" if unknown else "")


def render_text(report: ExhaustiveReport) -> str:
    """The exhaustive lint as text: wins, ties, dead rules and answers that never matter."""
    out = [
        f"Exhaustive lint of rule base '{report.rule_base}': {report.total:,} answer combinations "
        f"({report.answered_total:,} fully answered) in {report.seconds:.2f} s",
        "",
        "Recommended how often (all combinations / fully answered):",
    ]
    for a in APPROACHES:
        out.append(
            f"  {a:<12} {report.wins[a]:>10,}  {_pct(report.wins[a], report.total):>6}   "
            f"{report.wins_answered[a]:>9,}  {_pct(report.wins_answered[a], report.answered_total):>6}"
        )
    out += [
        "",
        f"Ties (top two equal, tie order decides): {report.ties:,} ({_pct(report.ties, report.total)}); "
        f"fully answered: {report.ties_answered:,} ({_pct(report.ties_answered, report.answered_total)})",
    ]
    out += [f"  e.g. {_answers_line(e)}" for e in report.tie_examples]
    out.append(
        f"Near ties (margin under {report.near_margin:g}): {report.near:,} ({_pct(report.near, report.total)}); "
        f"fully answered: {report.near_answered:,} ({_pct(report.near_answered, report.answered_total)})"
    )
    out += [f"  e.g. {_answers_line(e)}" for e in report.near_examples]
    if report.hotspots:
        out.append("Close calls (fully answered ties and near ties) concentrate where: " + ", ".join(
            f"{h['question']}={h['value']} ({h['lift']:.1f}× as often)" for h in report.hotspots))
    out += ["", "Rules (combinations where it fires / where it decides the verdict):"]
    for r in report.rules:
        flag = ("  <- never fires" if r["never_fires"] else "  (a note, no effect)" if r["note_only"]
                else "  <- never decides" if r["never_decides"] else "")
        out.append(f"  {r['id']:<28} {r['fires']:>10,}  {r['decisive']:>10,}{flag}")
    out += ["", "Questions (share of the other answers' combinations in which this answer changes the verdict):"]
    for q in report.questions:
        flag = "  <- never matters" if q["decisive_contexts"] == 0 else ""
        out.append(f"  {q['id']:<22} {100 * q['share']:5.1f}%{flag}")
    undecisive = [d for d in report.dead_answers if d["reason"] != "neutral"]
    neutral = [d for d in report.dead_answers if d["reason"] == "neutral"]
    out.append("")
    if undecisive:
        out.append("Answers that pull or feed rules yet never give a different verdict than 'unknown':")
        out += [f"  {d['question']}={d['value']}" for d in undecisive]
    else:
        out.append("Every answer that pulls or feeds a rule changes the verdict somewhere.")
    if neutral:
        out.append("Neutral answers (no pull, no rule; same as 'unknown' by design): "
                   + ", ".join(f"{d['question']}={d['value']}" for d in neutral))
    if report.warnings:
        out += ["", f"{len(report.warnings)} finding(s):"] + [f"  - {w}" for w in report.warnings]
    else:
        out += ["", "No dead rules, no question or answer that never matters."]
    return "\n".join(out)
