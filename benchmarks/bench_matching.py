"""How the knowledge metrics agree with a reader, and what the answer-matching rule changes in a run.

    .venv/bin/python benchmarks/bench_matching.py                      # agreement with the hand labels
    .venv/bin/python benchmarks/bench_matching.py --run runs/sample    # and re-score a finished run
    .venv/bin/python benchmarks/bench_matching.py --judge-endpoint URL --judge-model NAME  # and an LLM judge

1. Agreement: every grader (`contains`, token F1 at its threshold, `answer match`; an LLM judge where one
   is given to `agreement`) against the hand-labelled responses in tests/matching/data/answer_labels.jsonl,
   over all of them and per source: accuracy and Cohen's kappa (scikit-learn), and how each errs. The
   baseline is `contains`, the ranking metric before the rule.
2. With --run DIR (a finished `advisor validate` folder; repeatable): every arm's stored responses scored
   again by `contains`, token F1 and `answer match`, and the arm each metric ranks best with the arms tied
   with it (the validation's own ranking: bootstrap 95% interval, ties to the cheaper arm). The responses are
   the run's, so only the metric differs.

Writes benchmarks/results/matching.json atomically and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "matching.json"
LABELS = ROOT / "tests" / "matching" / "data" / "answer_labels.jsonl"
METRICS = ("contains", "f1", "answer_match")
ARMS = ("prompt", "rag", "fine-tuning", "hybrid")


def rescore(run: Path, seed: int = 0) -> dict:
    """Each arm's stored responses (and the untouched model's) scored by METRICS; the ranking under each."""
    from advisor.backends.evaluation import read_answers
    from advisor.backends.evidence import rank
    from advisor.backends.metrics import score_one

    arms: dict[str, dict[str, float]] = {}
    per_q: dict[str, dict[str, dict[int, float]]] = {m: {} for m in METRICS}
    base_q: dict[str, dict[int, float]] = {m: {} for m in METRICS}
    for arm in ARMS:
        if not (run / arm / "answers.jsonl").is_file():
            continue
        records = read_answers(run / arm)
        for m in METRICS:
            per_q[m][arm] = {}
        for r in records:
            refs = r.references or [r.gold]
            scores = score_one(r.response, refs, METRICS, question=r.question)
            for m in METRICS:
                per_q[m][arm][r.line] = scores[m]
            if r.baseline_response is not None and r.line not in base_q["contains"]:
                base = score_one(r.baseline_response, refs, METRICS, question=r.question)
                for m in METRICS:
                    base_q[m][r.line] = base[m]
        arms[arm] = {m: round(sum(per_q[m][arm].values()) / len(records), 4) for m in METRICS}
    if base_q["contains"]:
        arms["untouched"] = {m: round(sum(base_q[m].values()) / len(base_q[m]), 4) for m in METRICS}
    ranking = {}
    ok = [a for a in ARMS if a in arms]
    for m in METRICS:
        best, tied, _ = rank(ok, {a: arms[a][m] for a in ok}, per_q[m], base_q[m], m, seed)
        ranking[m] = {"best": best, "tied": tied}
    return {"run": run.name, "questions": len(next(iter(per_q["contains"].values()), {})), "arms": arms,
            "ranking": ranking}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], type=Path, help="a finished validation folder")
    parser.add_argument("--judge-endpoint", help="an OpenAI-compatible /v1 URL whose model grades the labelled set")
    parser.add_argument("--judge-model", help="the judge's model name at that endpoint")
    parser.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", help="the variable holding its key")
    args = parser.parse_args()
    if bool(args.judge_endpoint) != bool(args.judge_model):
        parser.error("--judge-endpoint and --judge-model go together")
    from advisor.atomic import write_text
    from advisor.backends.agreement import GRADERS, agreement, format_agreement, read_labels

    labels = read_labels(LABELS)
    graders = dict(GRADERS)
    judged: dict = {}
    if args.judge_endpoint:
        from advisor.backends.endpoint import host_of
        from advisor.backends.judge import judged_grader
        from advisor.backends.options import EndpointOptions

        options = EndpointOptions(url=args.judge_endpoint, model=args.judge_model, api_key_env=args.judge_api_key_env)
        items = [(item.question, item.references, item.response) for item in labels]
        grade, verdicts = judged_grader(items, options)
        name = f"judge {Path(args.judge_model).name}"  # a served folder's path names the model by its last part
        graders[name] = grade
        judged = {"grader": name, "host": host_of(args.judge_endpoint), "failed": verdicts.failed,
                  "off_format": verdicts.off_format}
    rows = agreement(labels, graders)
    results: dict = {"machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
                     "labels": {"items": len(labels), "correct": sum(item.label for item in labels)},
                     "agreement": [row.__dict__ for row in rows], "judge": judged or None,
                     "runs": [rescore(run) for run in args.run]}
    write_text(RESULTS, json.dumps(results, indent=2) + "\n")
    print(f"{len(labels)} hand-labelled responses ({results['labels']['correct']} correct)\n")
    print(format_agreement(rows))
    if judged.get("failed"):
        print(f"the judge failed ({judged['failed']}); its row counts no verdicts")
    for run in results["runs"]:
        print(f"\n{run['run']}: {run['questions']} held-out questions, stored responses re-scored")
        print(f"| arm | {' | '.join(METRICS)} |\n|---|{'---|' * len(METRICS)}")
        for arm, scores in run["arms"].items():
            print(f"| {arm} | {' | '.join(f'{scores[m]:.2f}' for m in METRICS)} |")
        for m, r in run["ranking"].items():
            print(f"ranked by {m}: best {r['best']}, tied with it: {', '.join(r['tied'])}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
