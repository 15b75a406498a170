"""What changed in the judgement: the rule base before and after the revision, over every combination and every case.

    .venv/bin/python benchmarks/bench_judgement.py [--old FILE] [--examples 2]

Compares the bundled rule base with the one before the judgement revision (benchmarks/data/
rules-before-judgement.yaml, the baseline, scored in the same run) over every combination of the ten contract
answers, the questions outside the contract left out (their neutral default, the same as unknown):
(a) how many combinations change recommendation, from what to what, fully answered and with unknowns;
(b) for each kind of change, the edit responsible: every edit between the two rule bases (a question's pulls, a
    rule's condition or effect, a rule added or removed, a factor's weight) is undone alone in the new rule base,
    and an edit is responsible for a changed combination where undoing it alone gives the old verdict back; a
    combination that no single edit explains changed through several edits together;
(c) a few typical changed combinations with their rule;
(d) ties and training approaches winning with labeled_examples=none, before and after;
(e) agreement with every case library before and after (the old rule base does not ask the new questions, so
    for it they are left out), and the held-out part on its own.
Prints tables and writes benchmarks/results/judgement.json atomically.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from advisor.analyses.exhaustive import exhaustive_lint
from advisor.atomic import write_text
from advisor.cases import check_cases
from advisor.engine import EPS, compile_rules
from advisor.models import RECOMMENDABLE, CONTRACT_QUESTIONS, UNKNOWN, CaseLibrary, RuleBase
from advisor.rulebase import load_rules

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OLD = HERE / "data" / "rules-before-judgement.yaml"
RESULTS = HERE / "results" / "judgement.json"
LIBRARIES = {
    "project library (tests/core/cases.yaml)": ROOT / "tests" / "core" / "cases.yaml",
    "published, calibration part": ROOT / "tests" / "core" / "cases-published.yaml",
    "published, held out": ROOT / "tests" / "core" / "cases-heldout.yaml",
}
CONTRACT_EXAMPLES = next((p / "shared/contract/example-cases.yaml" for p in ROOT.parents
                          if (p / "shared/contract/example-cases.yaml").exists()), None)
TOGETHER = "several edits together"


def contract_view(rulebase: RuleBase) -> RuleBase:
    """The rule base as seen by answers that leave every question outside the contract at its neutral default.

    Those questions pull nothing at their default and no rule reads a default, so dropping them (with the rules
    that read them, which cannot fire) changes no score; what is left is the ten contract questions' grid.
    """
    view = rulebase.model_copy(deep=True)
    extra = {q.id for q in view.questions if q.id not in CONTRACT_QUESTIONS}
    view.questions = [q for q in view.questions if q.id not in extra]
    view.rules = [r for r in view.rules if not extra & set(r.when)]
    fed = {q.factor for q in view.questions}
    view.factors = [f for f in view.factors if f.id in fed]
    return view


def edits(old: RuleBase, new: RuleBase) -> dict[str, RuleBase]:
    """Every edit from old to new, each as the new rule base with that edit alone undone: {description: rule base}."""
    out: dict[str, RuleBase] = {}
    old_q = {q.id: q for q in old.questions}
    for qi, q in enumerate(new.questions):
        before = old_q.get(q.id)
        if before is not None and [v.pull for v in before.values] != [v.pull for v in q.values]:
            undone = new.model_copy(deep=True)
            for v, was in zip(undone.questions[qi].values, before.values):
                v.pull = dict(was.pull)
            changed = [f"{v.value} {_pull(was.pull, 'hybrid')}→{_pull(v.pull, 'hybrid')}"
                       for v, was in zip(q.values, before.values) if v.pull != was.pull]
            out[f"{q.id} pulls (hybrid: {', '.join(changed)})"] = undone
    old_f = {f.id: f.weight for f in old.factors}
    for fi, f in enumerate(new.factors):
        if f.id in old_f and old_f[f.id] != f.weight:
            undone = new.model_copy(deep=True)
            undone.factors[fi].weight = old_f[f.id]
            out[f"factor {f.id} weight {old_f[f.id]}→{f.weight}"] = undone
    old_r = {r.id: r for r in old.rules}
    new_r = {r.id for r in new.rules}
    for ri, r in enumerate(new.rules):
        was = old_r.get(r.id)
        if was is None:
            undone = new.model_copy(deep=True)
            undone.rules = [x for x in undone.rules if x.id != r.id]
            out[f"new rule {r.id}"] = undone
        elif (was.when, was.effect, was.weight) != (r.when, r.effect, r.weight):
            undone = new.model_copy(deep=True)
            undone.rules[ri] = was.model_copy(deep=True)
            out[f"rule {r.id} revised"] = undone
    for r in old.rules:
        if r.id not in new_r:
            undone = new.model_copy(deep=True)
            undone.rules.append(r.model_copy(deep=True))
            out[f"rule {r.id} removed"] = undone
    return out


def _pull(pull: dict, approach: str) -> str:
    return f"{pull.get(approach, 0.0):g}"


def grid(rulebase: RuleBase) -> tuple[np.ndarray, object]:
    """Verdicts over every contract combination (last index of each axis: unknown) and the lint report."""
    report = exhaustive_lint(compile_rules(rulebase))
    return report.verdicts, report


def answered(verdicts: np.ndarray) -> np.ndarray:
    """The fully answered part of a verdict grid (the unknown index dropped on every axis)."""
    return verdicts[tuple(slice(0, n - 1) for n in verdicts.shape)]


def transitions(old: np.ndarray, new: np.ndarray) -> dict[str, int]:
    """Counts of 'old -> new' over a grid, changed ones only."""
    out = {}
    for a, name_a in enumerate(RECOMMENDABLE):
        for b, name_b in enumerate(RECOMMENDABLE):
            if a != b:
                out[f"{name_a} -> {name_b}"] = int(((old == a) & (new == b)).sum())
    return out


def typical(mask: np.ndarray) -> tuple[int, ...]:
    """The combination of a set whose answers are each the most common among the set's (largest sum of the logs
    of each answer's share): a representative member rather than an arbitrary one."""
    points = np.argwhere(mask)
    score = np.zeros(len(points))
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        share = mask.sum(axis=other) / len(points)
        score += np.log(share[points[:, axis]])
    return tuple(int(i) for i in points[int(score.argmax())])


def decode(index: tuple[int, ...], question_ids: list[str], values: list[tuple[str, ...]]) -> dict[str, str]:
    """A grid index back to answers (the last index of an axis is unknown)."""
    return {q: (vs[i] if i < len(vs) else UNKNOWN) for q, vs, i in zip(question_ids, values, index)}


def load_library(path: Path, rulebase: RuleBase) -> CaseLibrary:
    """A case library with the answers the rule base does not ask left out (that rule base treats them as unknown)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    asked = {q.id for q in rulebase.questions}
    for case in data["cases"]:
        case["answers"] = {q: v for q, v in case["answers"].items() if q in asked}
    return CaseLibrary.model_validate(data)


def agreement(rulebase: RuleBase, path: Path) -> dict[str, object]:
    """Agreement of a rule base with one case library, and the names of the cases it disagrees with."""
    report = check_cases(compile_rules(rulebase), load_library(path, rulebase))
    return {"agree": report.agree, "total": report.total, "accuracy": round(report.accuracy, 4),
            "disagreements": [f"{d['name']} (expected {d['expected']}, got {d['got']})" for d in report.disagreements]}


def main(argv: list[str] | None = None) -> int:
    """Compare, print the tables, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, default=OLD, help="the rule base before (default: %(default)s)")
    parser.add_argument("--examples", type=int, default=2, help="typical examples per kind of change")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    old_rb, new_rb = load_rules(args.old), load_rules(None)
    new_view = contract_view(new_rb)
    question_ids = [q.id for q in new_view.questions]
    assert question_ids == [q.id for q in old_rb.questions] == list(CONTRACT_QUESTIONS)
    values = [tuple(v.value for v in q.values) for q in new_view.questions]

    old_v, old_report = grid(old_rb)
    new_v, new_report = grid(new_view)
    changed = old_v != new_v
    # per edit: where undoing it alone gives the old verdict back
    responsible: dict[str, np.ndarray] = {}
    for name, undone in edits(old_rb, new_view).items():
        alt, _ = grid(undone)
        responsible[name] = changed & (alt == old_v)
    any_rule = np.zeros_like(changed)
    for mask in responsible.values():
        any_rule |= mask

    kinds = []
    for a, name_a in enumerate(RECOMMENDABLE):
        for b, name_b in enumerate(RECOMMENDABLE):
            if a == b:
                continue
            kind = (old_v == a) & (new_v == b)
            count = int(kind.sum())
            if not count:
                continue
            causes = {rid: int((mask & kind).sum()) for rid, mask in responsible.items() if (mask & kind).any()}
            causes[TOGETHER] = int((kind & ~any_rule).sum())
            causes = {k: v for k, v in sorted(causes.items(), key=lambda kv: -kv[1]) if v}
            examples = []
            for rid in [r for r in causes if r != TOGETHER][: args.examples] or [TOGETHER]:
                mask = kind & (responsible[rid] if rid in responsible else ~any_rule)
                index = typical(answered(mask) if answered(mask).any() else mask)
                examples.append({"answers": decode(index, question_ids, values), "edit": rid})
            kinds.append({"change": f"{name_a} -> {name_b}", "combinations": count,
                          "fully_answered": int(answered(kind).sum()), "causes": causes, "examples": examples})
    kinds.sort(key=lambda k: -k["combinations"])

    def none_wins(report: object) -> dict[str, int]:
        u = report.untrainable  # type: ignore[attr-defined]
        return {a: u[a]["wins"] for a in ("fine-tuning", "hybrid")}

    libraries = {}
    for name, path in LIBRARIES.items():
        libraries[name] = {"before": agreement(old_rb, path), "after": agreement(new_rb, path),
                           "after, new questions left out": agreement(new_view, path)}
    if CONTRACT_EXAMPLES is not None:
        libraries["contract examples (shared/contract)"] = {
            "before": agreement(old_rb, CONTRACT_EXAMPLES), "after": agreement(new_rb, CONTRACT_EXAMPLES),
            "after, new questions left out": agreement(new_view, CONTRACT_EXAMPLES)}

    total, total_answered = int(changed.size), int(answered(changed).size)
    result = {
        "rule_base_before": str(args.old.relative_to(ROOT) if args.old.is_relative_to(ROOT) else args.old),
        "rule_base_after": "rules/default.yaml (questions outside the contract at their neutral default)",
        "combinations": total,
        "fully_answered": total_answered,
        "changed": int(changed.sum()),
        "changed_fully_answered": int(answered(changed).sum()),
        "wins_before": old_report.wins, "wins_after": new_report.wins,
        "wins_fully_answered_before": old_report.wins_answered, "wins_fully_answered_after": new_report.wins_answered,
        "transitions": transitions(old_v, new_v),
        "transitions_fully_answered": transitions(answered(old_v), answered(new_v)),
        "kinds": kinds,
        "ties": {"before": old_report.ties, "after": new_report.ties,
                 "fully_answered_before": old_report.ties_answered, "fully_answered_after": new_report.ties_answered},
        "warnings": {"before": old_report.warnings, "after": new_report.warnings},
        "training_wins_without_examples": {"before": none_wins(old_report), "after": none_wins(new_report)},
        "libraries": libraries,
        "eps": EPS,
        "seconds": round(time.perf_counter() - start, 2),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "load": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()},
    }
    write_text(RESULTS, json.dumps(result, indent=2) + "\n")
    print(render(result))
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def render(r: dict) -> str:
    """The tables of the comparison, for the terminal and the README."""
    out = [f"Every combination of the ten contract answers: {r['combinations']:,} ({r['fully_answered']:,} fully "
           f"answered); new questions at their neutral default. Time {r['seconds']} s; {r['machine']['load']}", "",
           "| | all combinations | fully answered |", "|---|---:|---:|",
           f"| verdict changed | {r['changed']:,} ({_pct(r['changed'], r['combinations'])}) | "
           f"{r['changed_fully_answered']:,} ({_pct(r['changed_fully_answered'], r['fully_answered'])}) |"]
    for a in RECOMMENDABLE:
        out.append(f"| {a} wins, before → after | {r['wins_before'][a]:,} → {r['wins_after'][a]:,} | "
                   f"{r['wins_fully_answered_before'][a]:,} → {r['wins_fully_answered_after'][a]:,} |")
    t = r["ties"]
    out.append(f"| ties (tie order decides), before → after | {t['before']:,} → {t['after']:,} | "
               f"{t['fully_answered_before']:,} → {t['fully_answered_after']:,} |")
    w = r["training_wins_without_examples"]
    out.append(f"| fine-tuning / hybrid wins with labeled_examples=none, before → after | "
               f"{w['before']['fine-tuning']:,} / {w['before']['hybrid']:,} → "
               f"{w['after']['fine-tuning']:,} / {w['after']['hybrid']:,} | |")
    out += ["", "| change | combinations | fully answered | edit that alone explains it (combinations; one may have "
            "several) |", "|---|---:|---:|---|"]
    for k in r["kinds"]:
        causes = "; ".join(f"{c} {n:,}" for c, n in k["causes"].items())
        out.append(f"| {k['change']} | {k['combinations']:,} | {k['fully_answered']:,} | {causes} |")
    out += ["", "Typical changed combinations:"]
    for k in r["kinds"]:
        for ex in k["examples"]:
            known = ", ".join(f"{q}={v}" for q, v in ex["answers"].items() if v != UNKNOWN)
            out.append(f"- {k['change']} ({ex['edit']}): {known}")
    out += ["", "| case library | before | after | after, new questions left out |", "|---|---:|---:|---:|"]
    for name, lib in r["libraries"].items():
        cells = [f"{lib[k]['agree']}/{lib[k]['total']} ({100 * lib[k]['accuracy']:.0f}%)"
                 for k in ("before", "after", "after, new questions left out")]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    missed = {name: lib["before"]["disagreements"] for name, lib in r["libraries"].items()
              if lib["before"]["disagreements"]}
    if missed:
        out += ["", "Disagreements before:"] + [f"- {name}: {d}" for name, ds in missed.items() for d in ds]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
