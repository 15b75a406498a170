"""Core speed benchmarks: the whole `advisor recommend` process, and in-process scoring with flip analysis.

    .venv/bin/python benchmarks/bench_core.py [--runs 10] [--sets 5000]

Measures, on this machine:
(a) the median wall time of `advisor recommend ANSWERS --format json` (and --format text) as a whole process,
    against the median time of `python -c "import click, yaml, pydantic, jinja2"`; the target is a ratio <= 3;
(b) answer sets per second through scoring plus flip analysis in-process (`engine.analyse`, the fast core) and
    through the full `engine.recommend` (explanation data included); the target is >= 2,000 per second.
Prints a table and writes benchmarks/results/core.json atomically.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from advisor.atomic import write_text
from advisor.engine import analyse, compile_rules, decode, recommend
from advisor.rulebase import load_rules

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "core.json"
ANSWERS = """version: 1
project: benchmark
answers:
  knowledge_change: weekly
  external_knowledge: most
  style_adaptation: light
  hallucination_cost: high
  traceability: required
  cost_pressure: medium
  ml_expertise: some
  labeled_examples: hundreds
  data_sensitivity: internal
  latency_budget: seconds
"""


def advisor_command() -> list[str]:
    """The installed `advisor` script beside this interpreter, or `python -m advisor.cli`."""
    script = Path(sys.executable).parent / "advisor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "advisor.cli"]


def median_seconds(cmd: list[str], runs: int) -> float:
    """Median wall time of running cmd `runs` times (after one warm-up run)."""
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_second(fn, items) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="process runs per command (median)")
    parser.add_argument("--sets", type=int, default=5000, help="random answer sets for the in-process rate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        answers = Path(tmp) / "answers.yaml"
        answers.write_text(ANSWERS, encoding="utf-8")
        base = median_seconds([sys.executable, "-c", "import click, yaml, pydantic, jinja2"], args.runs)
        as_json = median_seconds([*advisor_command(), "recommend", str(answers), "--format", "json"], args.runs)
        as_text = median_seconds([*advisor_command(), "recommend", str(answers), "--format", "text"], args.runs)

    compiled = compile_rules(load_rules())
    rng = random.Random(args.seed)
    states = [tuple(rng.randrange(-1, len(vs)) for vs in compiled.values) for _ in range(args.sets)]
    answer_sets = [decode(compiled, s) for s in states]
    core_rate = per_second(lambda s: analyse(compiled, s), states)
    full_rate = per_second(lambda a: recommend(compiled, a), answer_sets)
    flips = sum(len(analyse(compiled, s)[3]) for s in states) / len(states)

    result = {
        "version": 1,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine()},
        "process": {
            "runs": args.runs,
            "import_baseline_s": round(base, 4),
            "recommend_json_s": round(as_json, 4),
            "recommend_text_s": round(as_text, 4),
            "ratio_json": round(as_json / base, 2),
            "ratio_text": round(as_text / base, 2),
            "target_ratio": 3.0,
        },
        "in_process": {
            "answer_sets": args.sets,
            "analyse_per_s": round(core_rate),
            "recommend_per_s": round(full_rate),
            "mean_flips": round(flips, 2),
            "target_per_s": 2000,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_text(RESULTS, json.dumps(result, indent=2) + "\n")

    rows = [
        ("python -c 'import click, yaml, pydantic, jinja2'", f"{base * 1000:.0f} ms", "baseline"),
        ("advisor recommend --format json", f"{as_json * 1000:.0f} ms", f"{as_json / base:.2f}x (target <= 3x)"),
        ("advisor recommend --format text", f"{as_text * 1000:.0f} ms", f"{as_text / base:.2f}x"),
        ("scoring + flips (engine.analyse)", f"{core_rate:,.0f} /s", "target >= 2,000/s"),
        ("full recommend (with explanation)", f"{full_rate:,.0f} /s", f"{flips:.1f} flips per set on average"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'median / rate':>14}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>14}  {note}")
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
