"""Drafted pairs against people's pairs: what `advisor draft` keeps, what it costs, and whether it ranks alike.

    .venv/bin/python benchmarks/bench_draft.py [--n 40] [--compare] [--approaches prompt,rag --eval-limit 8]
        [--covid 20] [--endpoint URL --endpoint-model NAME]

Measures, in one run on this machine:
(a) on the sample (13 documents): candidates drafted, the share each check removed, pairs kept, and seconds
    per kept pair, with the default generator (and an endpoint's model when one is given); the baseline is
    the seconds per candidate of the same run (the ratio is candidates paid for per kept pair);
(b) with --compare: `validate` on the drafted pairs and on the sample's 72 human pairs with the same seed
    and arms, and whether they rank the arms alike (same best arm; Spearman correlation of the arms' scores,
    the untouched model included);
(c) with --covid P: a draft of P pairs from COVID-QA's papers, and its questions' retrieval recall@5 beside
    the expert questions' on the same index: before the round-trip filter (which keeps only recall-1
    questions, so the kept pairs' recall is 1 by construction) and after it.
Prints a table and writes benchmarks/results/draft.json atomically; quote it with the load it names.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from advisor.atomic import write_text  # noqa: E402
from advisor.backends.base import BuildSettings  # noqa: E402
from advisor.backends.drafting import draft, work_dir  # noqa: E402
from advisor.backends.options import EndpointOptions  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "draft.json"
SAMPLE = ROOT / "sample"
COVID = ROOT.parent / "shared" / "data" / "covid-qa"


def uptime() -> str:
    """The machine's load, to quote beside every time."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def draft_row(label: str, docs: Path, out: Path, n: int, settings: BuildSettings, candidates: int) -> dict:
    """Draft n pairs and report the summary's counts as shares of the candidates."""
    load_before = uptime()
    summary = draft(docs, out, n, settings, candidates=candidates, echo=lambda m: print(f"  {m}", file=sys.stderr))
    c = max(1, summary.candidates)
    per_candidate = summary.seconds / c
    return {"label": label, "generator": summary.generator, "asked": n, "kept": summary.kept,
            "candidates": summary.candidates, "passages": summary.passages,
            "removed": summary.removed, "removed_share": {k: round(v / c, 3) for k, v in summary.removed.items()},
            "kept_share": round(summary.kept / c, 3), "seconds": summary.seconds,
            "seconds_per_candidate": round(per_candidate, 2), "seconds_per_kept": summary.seconds_per_kept,
            "candidates_per_kept": round(c / summary.kept, 2) if summary.kept else None,
            "resumed_passages": summary.resumed_passages, "note": summary.note,
            "load_before": load_before, "load_after": uptime(),
            "pairs": str(out.relative_to(ROOT)) if out.is_relative_to(ROOT) else str(out)}


def arm_scores(run) -> dict[str, float]:
    """Each measured arm's ranking score, the untouched model's as 'untouched'."""
    scores = {a: r.score(run.metric) for a, r in run.approaches.items() if r.ok and r.score(run.metric) is not None}
    base = run.score("baseline")
    if base is not None:
        scores["untouched"] = base
    return scores


def compare(drafted: Path, out: Path, approaches: str, eval_limit: int | None, seed: int) -> dict:
    """validate on the human pairs and on the drafted pairs, same seed and arms; do they rank alike?"""
    from scipy.stats import spearmanr

    from advisor.backends.validate import validate

    settings = BuildSettings(seed=seed, eval_limit=eval_limit)
    runs = {}
    for label, qa in (("human", SAMPLE / "qa.jsonl"), ("drafted", drafted)):
        started = time.perf_counter()
        run = validate(SAMPLE / "answers.yaml", SAMPLE / "docs", qa, out / f"validate-{label}", settings,
                       approaches=approaches, progress=False, echo=lambda m: print(f"  {m}", file=sys.stderr))
        runs[label] = {"best": run.best_measured, "metric": run.metric, "scores": arm_scores(run),
                       "questions": run.questions, "verdict": run.verdict,
                       "seconds": round(time.perf_counter() - started, 1)}
    common = sorted(set(runs["human"]["scores"]) & set(runs["drafted"]["scores"]))
    rho = None
    if len(common) >= 3:
        rho = spearmanr([runs["human"]["scores"][a] for a in common],
                        [runs["drafted"]["scores"][a] for a in common]).statistic
    return {"approaches": approaches, "eval_limit": eval_limit, "seed": seed, "runs": runs, "arms": common,
            "same_best": runs["human"]["best"] == runs["drafted"]["best"],
            "spearman": None if rho is None else round(float(rho), 3), "load": uptime()}


def covid(out: Path, n: int, settings: BuildSettings, candidates: int) -> dict:
    """Drafted questions' recall@5 on COVID-QA beside the expert questions', on the draft's own index."""
    import json as _json

    from advisor.backends.data import load_pairs
    from advisor.backends.rag import RagBackend

    row = draft_row("covid-qa", COVID / "docs", out, n, settings, candidates)
    journal = work_dir(out) / "journal.jsonl"
    records = [_json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()[1:]]
    asked = (None, "retrieval", "duplicate", "spare")  # the candidates that reached the round-trip check
    tried = [c for r in records for c in r["candidates"] if c["removed_by"] in asked]
    found = [c for c in tried if c["removed_by"] != "retrieval"]
    backend = RagBackend.load(work_dir(out) / "index")
    experts = load_pairs(COVID / "qa.jsonl")
    hits = backend.retrieve_many([p.question for p in experts], 5)
    expert_recall = sum(p.source in {h.doc_id for h in top} for p, top in zip(experts, hits)) / len(experts)
    row |= {"drafted_recall_at_5_before_filter": round(len(found) / len(tried), 3) if tried else None,
            "drafted_questions_checked": len(tried), "kept_recall_at_5": 1.0 if row["kept"] else None,
            "expert_recall_at_5": round(expert_recall, 3), "expert_questions": len(experts)}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-draft",
                        help="Folder for the drafts and validations (re-runs resume the drafts).")
    parser.add_argument("--compare", action="store_true", help="Validate on drafted and on human pairs.")
    parser.add_argument("--approaches", default="prompt,rag")
    parser.add_argument("--eval-limit", type=int, default=None)
    parser.add_argument("--covid", type=int, default=0, metavar="P", help="Draft P pairs from COVID-QA (0: skip).")
    parser.add_argument("--endpoint", default=None)
    parser.add_argument("--endpoint-model", default=None)
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    result: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "load_at_start": uptime(), "drafts": []}
    settings = BuildSettings(seed=args.seed)
    drafted = args.work / "sample-drafted.jsonl"
    result["drafts"].append(draft_row("sample, default generator", SAMPLE / "docs", drafted, args.n, settings,
                                      args.candidates))
    if args.endpoint:
        remote = BuildSettings(seed=args.seed, endpoint=EndpointOptions(url=args.endpoint,
                                                                        model=args.endpoint_model or ""))
        result["drafts"].append(draft_row(f"sample, {args.endpoint_model}", SAMPLE / "docs",
                                          args.work / "sample-endpoint.jsonl", args.n, remote, args.candidates))
    if args.compare:
        result["ranking"] = compare(drafted, args.work, args.approaches, args.eval_limit, args.seed)
    if args.covid and (COVID / "docs").is_dir():
        result["covid"] = covid(args.work / "covid-drafted.jsonl", args.covid, settings, args.candidates)
    result["load_at_end"] = uptime()
    write_text(RESULTS, json.dumps(result, indent=2) + "\n")

    print(f"load at start: {result['load_at_start']}")
    for row in result["drafts"]:
        print(f"\n{row['label']} ({row['generator']}): {row['candidates']} candidates from {row['passages']} passages, "
              f"kept {row['kept']} of {row['asked']} asked ({row['kept_share']:.0%} of candidates)")
        for name, count in row["removed"].items():
            print(f"  removed by {name:<22} {count:>5}  {row['removed_share'][name]:>6.1%}")
        print(f"  {row['seconds_per_candidate']:.1f} s per candidate; {row['seconds_per_kept'] or float('nan'):.1f} s "
              f"per kept pair = {row['candidates_per_kept'] or float('nan'):.1f} x the candidate's time")
    if "ranking" in result:
        r = result["ranking"]
        for label in ("human", "drafted"):
            run = r["runs"][label]
            scores = ", ".join(f"{a} {s:.2f}" for a, s in sorted(run["scores"].items(), key=lambda x: -x[1]))
            print(f"\nvalidate on {label} pairs ({run['questions']} answered, {run['metric']}): best {run['best']}; "
                  f"{scores}")
        print(f"same best arm: {r['same_best']}; Spearman over {len(r['arms'])} arms: {r['spearman']}")
    if "covid" in result:
        c = result["covid"]
        print(f"\nCOVID-QA recall@5: drafted questions before the round-trip filter "
              f"{c['drafted_recall_at_5_before_filter']} ({c['drafted_questions_checked']} questions), kept 1.0 by "
              f"construction; expert questions {c['expert_recall_at_5']} ({c['expert_questions']})")
    print(f"\nload at end: {result['load_at_end']}\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
