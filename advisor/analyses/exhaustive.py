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
from advisor.models import RECOMMENDABLE, UNKNOWN

CHUNK = 1 << 20
MAX_COMBINATIONS = 50_000_000  # two bytes each are kept (verdict, close call)
# Nothing can be trained without examples: where this answer is given, neither training approach may win.
NO_EXAMPLES = ("labeled_examples", "none")
TRAINING = ("fine-tuning", "hybrid")


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
    untrainable: dict[str, Any] | None = None  # training approaches winning with labeled_examples=none
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
            "training_without_examples": self.untrainable,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }

    def render_text(self) -> str:
        """A readable summary for the terminal."""
        return render_text(self)


def _tables(compiled: CompiledRules) -> tuple[list[int], list[Any]]:
    import numpy as np

    sizes, tables = [], []
    for qi in range(len(compiled.question_ids)):
        n = len(compiled.values[qi])
        table = np.zeros((n + 1, 3))
        table[:n] = np.asarray(compiled.weighted_pulls[qi], dtype=float).reshape(n, 3)
        sizes.append(n + 1)  # the last index is "unknown": neutral, and no rule reads it
        tables.append(table)
    return sizes, tables


def _spread_pick(indices: Any, k: int) -> list[int]:
    if len(indices) <= k:
        return [int(i) for i in indices]
    step = len(indices) / k
    return [int(indices[int((i + 0.5) * step)]) for i in range(k)]


@dataclass
class _Grid:
    """The answer grid: leading questions looped over one combination at a time, the trailing block by numpy."""

    sizes: list[int]  # values + 1 (the last index is unknown) per question
    tables: list[Any]  # per question: (values + 1, 3) weighted pulls
    lead: int  # questions [0, lead) are looped over
    shape: tuple[int, ...]  # the trailing block's shape

    def along(self, i: int, vec: Any) -> Any:
        """A per-value vector of trailing question i, shaped to broadcast over the trailing block."""
        shape = [1] * len(self.shape)
        shape[i - self.lead] = self.sizes[i]
        return vec.reshape(shape)


def _grid(compiled: CompiledRules) -> tuple[_Grid, int]:
    """The grid of a rule base and its number of combinations (InputError above MAX_COMBINATIONS)."""
    import numpy as np

    sizes, tables = _tables(compiled)
    total = int(np.prod(sizes, dtype=np.int64))
    if total > MAX_COMBINATIONS:
        raise InputError(
            f"the rule base has {total:,} answer combinations; the exhaustive lint handles at most "
            f"{MAX_COMBINATIONS:,} (fewer questions or values)"
        )
    lead = 0
    while lead < len(sizes) and int(np.prod(sizes[lead:], dtype=np.int64)) > CHUNK:
        lead += 1
    return _Grid(sizes, tables, lead, tuple(sizes[lead:])), total


def _rule_masks(compiled: CompiledRules, grid: _Grid) -> list[tuple[list[tuple[int, frozenset[int]]], Any, Any]]:
    """Per rule: its conditions on leading questions, where it fires in the trailing block, and its effect."""
    import numpy as np

    rules = []
    for ri, conds in enumerate(compiled.rule_conds):
        lead_conds = [(qi, allowed) for qi, allowed in conds if qi < grid.lead]
        mask = np.ones(grid.shape, dtype=bool)
        for qi, allowed in conds:
            if qi >= grid.lead:
                member = np.array([v in allowed for v in range(grid.sizes[qi])], dtype=bool)
                mask = mask & grid.along(qi, member)
        effect = np.asarray(compiled.rule_weighted_effect[ri], dtype=float)
        rules.append((lead_conds, np.broadcast_to(mask, grid.shape), effect))
    return rules


@dataclass
class _Tally:
    """What the chunks add up: wins, ties and near ties (with example pools), rule firings and decisions."""

    n_rules: int
    wins: Any = None
    wins_answered: Any = None
    fires: Any = None
    decisive: Any = None
    ties: int = 0
    ties_answered: int = 0
    near: int = 0
    near_answered: int = 0
    tie_pool: list[tuple[bool, tuple[int, ...]]] = field(default_factory=list)
    near_pool: list[tuple[bool, tuple[int, ...]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        import numpy as np

        self.wins = np.zeros(3, dtype=np.int64)
        self.wins_answered = np.zeros(3, dtype=np.int64)
        self.fires = np.zeros(self.n_rules, dtype=np.int64)
        self.decisive = np.zeros(self.n_rules, dtype=np.int64)


def _chunk_raw(grid: _Grid, lead_idx: tuple[int, ...], trailing: list[tuple[int, list[Any]]]) -> Any:
    """Raw scores (3, *trailing shape) from the pulls alone, for one combination of leading answers."""
    import numpy as np

    raw = np.zeros((3,) + grid.shape)
    for i, v in enumerate(lead_idx):
        raw += grid.tables[i][v].reshape((3,) + (1,) * len(grid.shape))
    for _, cols in trailing:
        for a in range(3):
            raw[a] += cols[a]
    return raw


def _add_rules(rules: list[Any], lead_idx: tuple[int, ...], raw: Any, tally: _Tally) -> list[tuple[int, Any, Any]]:
    """Add the effects of the rules that fire to raw; count firings; return the rules with an effect that fired."""
    import numpy as np

    active = []
    for ri, (lead_conds, mask, eff) in enumerate(rules):
        if not all(lead_idx[qi] in allowed for qi, allowed in lead_conds):
            continue
        count = int(mask.sum())
        tally.fires[ri] += count
        if count and eff.any():
            for a in range(3):
                if eff[a]:
                    np.add(raw[a], eff[a], out=raw[a], where=mask)
            active.append((ri, mask, eff))
    return active


def _count_close(tally: _Tally, margin: Any, answered: Any, lead_idx: tuple[int, ...], grid: _Grid,
                 near_margin: float, examples: int) -> None:
    """Count ties and near ties of one chunk and keep examples spread over it (fully answered ones first)."""
    import numpy as np

    tie_mask = margin <= EPS
    near_mask = (margin < near_margin) & ~tie_mask
    tally.ties += int(tie_mask.sum())
    tally.near += int(near_mask.sum())
    tally.ties_answered += int((tie_mask & answered).sum())
    tally.near_answered += int((near_mask & answered).sum())
    for pool, mask in ((tally.tie_pool, tie_mask), (tally.near_pool, near_mask)):
        for prefer in (True, False):
            sub = mask & answered if prefer else mask & ~answered
            picked = _spread_pick(np.flatnonzero(sub), examples)
            pool.extend((prefer, lead_idx + tuple(int(x) for x in np.unravel_index(p, grid.shape))) for p in picked)


def _count_decisive(tally: _Tally, active: list[tuple[int, Any, Any]], raw: Any, best: Any, margin: Any,
                    order: tuple[int, ...]) -> None:
    """Per rule that fired: in how many combinations removing it changes the verdict."""
    for ri, mask, eff in active:
        # removing the rule moves any margin by at most its effect's spread: only those can change
        cand = mask & (margin <= float(eff.max() - eff.min()) + 2 * EPS)
        if not cand.any():
            continue
        alt, _ = pick_many(raw[:, cand] - eff[:, None], order)
        tally.decisive[ri] += int((alt != best[cand]).sum())


def _rule_rows(compiled: CompiledRules, tally: _Tally) -> list[dict[str, Any]]:
    """Per rule: where it fires, where it decides, and whether it is only a note."""
    return [
        {
            "id": rid,
            "fires": int(tally.fires[ri]),
            "decisive": int(tally.decisive[ri]),
            "never_fires": bool(tally.fires[ri] == 0),
            "never_decides": bool(tally.decisive[ri] == 0),
            "note_only": not any(compiled.rule_effect[ri]),
        }
        for ri, rid in enumerate(compiled.rule_ids)
    ]


def _untrainable(compiled: CompiledRules, verdicts: Any, sizes: list[int]) -> dict[str, Any] | None:
    """Where the answers say there are no examples: how often fine-tuning or the hybrid still wins, with an example.

    None when the rule base does not ask the question (or lacks the value).
    """
    import numpy as np

    qid, value = NO_EXAMPLES
    qi = compiled.question_index.get(qid)
    if qi is None or value not in compiled.value_index[qi]:
        return None
    grid_slice = verdicts.take(compiled.value_index[qi][value], axis=qi)
    answered = grid_slice[tuple(slice(0, s - 1) for i, s in enumerate(sizes) if i != qi)]
    row: dict[str, Any] = {"question": qid, "value": value, "combinations": int(grid_slice.size),
                           "fully_answered": int(answered.size)}
    for name in TRAINING:
        a = RECOMMENDABLE.index(name)
        row[name] = {"wins": int((grid_slice == a).sum()), "wins_fully_answered": int((answered == a).sum())}
    wrong = np.flatnonzero(np.isin(grid_slice, [RECOMMENDABLE.index(a) for a in TRAINING]).ravel())
    if wrong.size:
        idx = [int(i) for i in np.unravel_index(int(wrong[0]), grid_slice.shape)]
        idx.insert(qi, compiled.value_index[qi][value])
        row["example"] = _decoder(compiled, sizes)(tuple(idx))
    return row


def _findings(rule_rows: list[dict[str, Any]], question_rows: list[dict[str, Any]],
              dead: list[dict[str, str]], untrainable: dict[str, Any] | None = None) -> list[str]:
    """The warnings: rules that never fire or never decide, questions and answers that never matter, and a
    training approach winning where the answers say there is nothing to train on."""
    warnings = []
    if untrainable is not None:
        wins = {a: untrainable[a]["wins"] for a in TRAINING}
        if any(wins.values()):
            warnings.append(
                f"with {untrainable['question']}={untrainable['value']} a training approach still wins in "
                f"{sum(wins.values()):,} combinations (" + ", ".join(f"{a} {n:,}" for a, n in wins.items())
                + "): nothing can be trained without examples"
            )
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
    return warnings


def exhaustive_lint(compiled: CompiledRules, near_margin: float = 0.1, examples: int = 3) -> ExhaustiveReport:
    """Enumerate every answer combination (unknown included) of a compiled rule base and report its weak spots.

    near_margin: raw-score margin under which a verdict counts as a near tie. examples: how many example
    answer sets to keep for ties and near ties (spread over the space, preferring fully answered ones).
    """
    import numpy as np

    start = time.perf_counter()
    grid, total = _grid(compiled)
    sizes, lead = grid.sizes, grid.lead
    trailing_answered = np.ones(grid.shape, dtype=bool)
    for i in range(lead, len(sizes)):
        trailing_answered = trailing_answered & grid.along(i, np.arange(sizes[i]) < sizes[i] - 1)
    trailing = [(i, [grid.along(i, grid.tables[i][:, a]) for a in range(3)]) for i in range(lead, len(sizes))]
    rules = _rule_masks(compiled, grid)
    verdicts = np.empty(tuple(sizes), dtype=np.int8)
    close_grid = np.empty(tuple(sizes), dtype=bool)  # tie or near tie
    tally = _Tally(len(rules))

    for lead_idx in itertools.product(*(range(s) for s in sizes[:lead])):
        raw = _chunk_raw(grid, lead_idx, trailing)
        active = _add_rules(rules, lead_idx, raw, tally)
        best, best_val = pick_many(raw, compiled.order)
        verdicts[lead_idx] = best
        tally.wins += np.bincount(best.ravel(), minlength=3)
        lead_known = all(v < sizes[i] - 1 for i, v in enumerate(lead_idx))
        answered = trailing_answered if lead_known else np.zeros(grid.shape, dtype=bool)
        if lead_known:
            tally.wins_answered += np.bincount(best[answered], minlength=3)
        margin = margins(raw, best, best_val)
        close_grid[lead_idx] = margin < max(near_margin, 2 * EPS)
        _count_close(tally, margin, answered, lead_idx, grid, near_margin, examples)
        _count_decisive(tally, active, raw, best, margin, compiled.order)

    decode = _decoder(compiled, sizes)
    rule_rows = _rule_rows(compiled, tally)
    question_rows, dead = _answer_influence(compiled, verdicts, sizes)
    untrainable = _untrainable(compiled, verdicts, sizes)
    return ExhaustiveReport(
        rule_base=compiled.rulebase.name,
        total=total,
        answered_total=int(np.prod([s - 1 for s in sizes], dtype=np.int64)),
        wins={a: int(tally.wins[i]) for i, a in enumerate(RECOMMENDABLE)},
        wins_answered={a: int(tally.wins_answered[i]) for i, a in enumerate(RECOMMENDABLE)},
        near_margin=near_margin,
        ties=tally.ties,
        ties_answered=tally.ties_answered,
        tie_examples=[decode(s) for s in _choose(tally.tie_pool, examples)],
        near=tally.near,
        near_answered=tally.near_answered,
        near_examples=[decode(s) for s in _choose(tally.near_pool, examples)],
        rules=rule_rows,
        questions=question_rows,
        dead_answers=dead,
        hotspots=_hotspots(compiled, close_grid, sizes),
        untrainable=untrainable,
        seconds=time.perf_counter() - start,
        warnings=_findings(rule_rows, question_rows, dead, untrainable),
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
            qid: (compiled.values[i][v] if v < sizes[i] - 1 else UNKNOWN)
            for i, (qid, v) in enumerate(zip(compiled.question_ids, state))
        }

    return decode


def _answer_influence(compiled: CompiledRules, verdicts: Any, sizes: list[int]) -> tuple[list[dict], list[dict]]:
    """Per question: in how many contexts its answer matters; per answer: whether it ever differs from unknown."""
    rows, dead = [], []
    # answers read by a rule with an effect (a note-only rule does not change any score)
    referenced = {
        (qi, v)
        for conds, eff in zip(compiled.rule_conds, compiled.rule_effect)
        if any(eff)
        for qi, allowed in conds
        for v in allowed
    }
    for qi, qid in enumerate(compiled.question_ids):
        contexts = verdicts.size // sizes[qi]
        matters = int((verdicts.max(axis=qi) != verdicts.min(axis=qi)).sum())
        unknown = verdicts.take(sizes[qi] - 1, axis=qi)
        values = []
        for v, value in enumerate(compiled.values[qi]):
            differs = int((verdicts.take(v, axis=qi) != unknown).sum())
            values.append({"value": value, "differs_from_unknown": differs})
            if differs == 0:
                neutral = not any(compiled.pulls[qi][v]) and (qi, v) not in referenced
                dead.append(
                    {
                        "question": qid,
                        "value": value,
                        "reason": "neutral" if neutral else "never decisive",
                    }
                )
        rows.append(
            {
                "id": qid,
                "contexts": contexts,
                "decisive_contexts": matters,
                "share": round(matters / contexts, 4) if contexts else 0.0,
                "values": values,
            }
        )
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
    rows: list[dict[str, Any]] = []
    for qi, qid in enumerate(compiled.question_ids):
        n = sizes[qi] - 1
        other = tuple(a for a in range(answered.ndim) if a != qi)
        counts = answered.sum(axis=other)
        for v in range(n):
            share = int(counts[v]) / total
            rows.append(
                {
                    "question": qid,
                    "value": compiled.values[qi][v],
                    "close_calls": int(counts[v]),
                    "share": round(share, 4),
                    "lift": round(share * n, 3),
                }
            )
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
    for a in RECOMMENDABLE:
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
        out.append(
            "Close calls (fully answered ties and near ties) concentrate where: "
            + ", ".join(f"{h['question']}={h['value']} ({h['lift']:.1f}× as often)" for h in report.hotspots)
        )
    out += ["", "Rules (combinations where it fires / where it decides the verdict):"]
    for r in report.rules:
        flag = (
            "  <- never fires"
            if r["never_fires"]
            else "  (a note, no effect)"
            if r["note_only"]
            else "  <- never decides"
            if r["never_decides"]
            else ""
        )
        out.append(f"  {r['id']:<28} {r['fires']:>10,}  {r['decisive']:>10,}{flag}")
    out += ["", "Questions (share of the other answers' combinations in which this answer changes the verdict):"]
    for q in report.questions:
        flag = "  <- never matters" if q["decisive_contexts"] == 0 else ""
        out.append(f"  {q['id']:<22} {100 * q['share']:5.1f}%{flag}")
    if report.untrainable is not None:
        u = report.untrainable
        out += ["", f"With {u['question']}={u['value']} ({u['combinations']:,} combinations, nothing to train on), "
                    "a training approach wins in: "
                + ", ".join(f"{a} {u[a]['wins']:,}" for a in TRAINING)
                + (" (none: as it must be)" if not any(u[a]["wins"] for a in TRAINING) else "")]
        if "example" in u:
            out.append(f"  e.g. {_answers_line(u['example'])}")
    undecisive = [d for d in report.dead_answers if d["reason"] != "neutral"]
    neutral = [d for d in report.dead_answers if d["reason"] == "neutral"]
    out.append("")
    if undecisive:
        out.append("Answers that pull or feed rules yet never give a different verdict than 'unknown':")
        out += [f"  {d['question']}={d['value']}" for d in undecisive]
    else:
        out.append("Every answer that pulls or feeds a rule changes the verdict somewhere.")
    if neutral:
        out.append(
            "Neutral answers (no pull, no rule; same as 'unknown' by design): "
            + ", ".join(f"{d['question']}={d['value']}" for d in neutral)
        )
    if report.warnings:
        out += ["", f"{len(report.warnings)} finding(s):"] + [f"  - {w}" for w in report.warnings]
    else:
        out += ["", "No dead rules, no question or answer that never matters."]
    return "\n".join(out)
