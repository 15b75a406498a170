"""Depth benchmarks: exhaustive lint of the bundled rule base, sensitivity of one answers file, calibration.

    .venv/bin/python benchmarks/bench_depth.py [--runs 3] [--perturbations 500]

Measures, on this machine (in-process, after imports):
(a) the exhaustive lint of the bundled rule base: every answer combination, unknown included (target: seconds);
(b) the sensitivity analysis of sample/answers.yaml: smallest flipping weight change and N seeded ±20%
    perturbations (target: seconds; it runs inside `advisor recommend`);
(c) the adaptive decidedness check with nothing answered and with half the answers;
(d) calibration on the core's case library (tests/core/cases.yaml): 5-fold cross-validated agreement of the
    hand-set and the calibrated weights, and the time it takes; also from deliberately spoiled weights;
(e) whole processes: `advisor rules check --exhaustive` and `advisor recommend` with and without the depth analyses.
Prints a table and writes benchmarks/results/depth.json atomically.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

from advisor.analyses.adaptive import is_decided
from advisor.analyses.exhaustive import exhaustive_lint
from advisor.analyses.sensitivity import analyse_sensitivity
from advisor.atomic import write_text
from advisor.engine import compile_rules
from advisor.rulebase import load_rules

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "depth.json"


def _timed(fn, runs: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--perturbations", type=int, default=500)
    args = parser.parse_args(argv)

    rulebase = load_rules(None)
    compiled = compile_rules(rulebase)
    answers = yaml.safe_load((ROOT / "sample" / "answers.yaml").read_text(encoding="utf-8"))["answers"]

    lint_times, report = _timed(lambda: exhaustive_lint(compiled), args.runs)
    sens_times, sens = _timed(lambda: analyse_sensitivity(compiled, answers, n=args.perturbations), max(5, args.runs))
    half = dict(list(answers.items())[:5])
    empty_times, _ = _timed(lambda: is_decided(compiled, {}), max(5, args.runs))
    half_times, half_decision = _timed(lambda: is_decided(compiled, half), max(5, args.runs))

    results = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "exhaustive_lint": {
            "rule_base": "default",
            "combinations": report.total,
            "fully_answered": report.answered_total,
            "seconds_median": round(statistics.median(lint_times), 3),
            "seconds_all": [round(t, 3) for t in lint_times],
            "combinations_per_second": round(report.total / statistics.median(lint_times)),
            "ties": report.ties,
            "near_ties": report.near,
            "findings": report.warnings,
        },
        "sensitivity": {
            "answers": "sample/answers.yaml",
            "perturbations": args.perturbations,
            "seconds_median": round(statistics.median(sens_times), 4),
            "stability": sens.stability,
            "smallest_flip": sens.smallest_flip,
        },
        "adaptive_decided": {
            "nothing_answered_seconds": round(statistics.median(empty_times), 5),
            "half_answered_seconds": round(statistics.median(half_times), 5),
            "half_answered_decided": half_decision.decided,
        },
    }
    cases_path = ROOT / "tests" / "core" / "cases.yaml"
    if cases_path.exists():
        from advisor.analyses.calibrate import calibrate
        from advisor.cases import load_cases

        library = load_cases(cases_path, rulebase)
        cal_times, cal = _timed(lambda: calibrate(library, rulebase, cv=5, seed=0, source=str(cases_path)), 1)
        results["calibration"] = {
            "cases": cal.cases,
            "folds": cal.folds,
            "cv_agreement_hand": round(cal.hand_mean, 4),
            "cv_agreement_calibrated": round(cal.calibrated_mean, 4),
            "seconds": round(cal_times[0], 3),
            "largest_moves": cal.weights[:3],
        }
        # the same library against deliberately spoiled weights (each scaled by a seeded factor in [1/3, 3])
        import random

        from advisor.engine import term_weights, with_term_weights

        rng = random.Random(0)
        spoiled = with_term_weights(
            rulebase, {t: w * 3 ** rng.uniform(-1, 1) for t, w in term_weights(rulebase).items()}
        )
        bad = calibrate(library, spoiled, cv=5, seed=0, source=str(cases_path))
        results["calibration_spoiled"] = {
            "cv_agreement_hand": round(bad.hand_mean, 4),
            "cv_agreement_calibrated": round(bad.calibrated_mean, 4),
        }

    def process(args: list[str], runs: int) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "advisor.cli", *args], capture_output=True, check=True, cwd=ROOT)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    sample = str(ROOT / "sample" / "answers.yaml")
    results["processes"] = {
        "rules_check_exhaustive_seconds": round(
            process(["rules", "check", "--exhaustive", "--format", "json"], args.runs), 3
        ),
        "recommend_json_with_depth_seconds": round(process(["recommend", sample, "--format", "json"], 5), 3),
        "recommend_json_no_depth_seconds": round(
            process(["recommend", sample, "--format", "json", "--no-depth"], 5), 3
        ),
    }
    rows = [
        (
            "exhaustive lint (default rule base)",
            f"{statistics.median(lint_times):.2f} s for {report.total:,} combinations",
        ),
        (
            f"sensitivity (sample answers, {args.perturbations} perturbations)",
            f"{statistics.median(sens_times) * 1000:.1f} ms; stable in {sens.stability:.0%}",
        ),
        ("adaptive: decided? (nothing answered)", f"{statistics.median(empty_times) * 1000:.2f} ms"),
        (
            "adaptive: decided? (5 of 10 answered)",
            f"{statistics.median(half_times) * 1000:.2f} ms ({'decided' if half_decision.decided else 'open'})",
        ),
    ]
    if "calibration" in results:
        c = results["calibration"]
        rows.append(
            (
                f"calibration ({c['cases']} cases, {c['folds']}-fold CV)",
                f"{c['seconds']:.2f} s; agreement hand {c['cv_agreement_hand']:.1%}, "
                f"calibrated {c['cv_agreement_calibrated']:.1%}",
            )
        )
        b = results["calibration_spoiled"]
        rows.append(
            (
                "calibration from spoiled weights (×1/3..3)",
                f"agreement hand {b['cv_agreement_hand']:.1%}, calibrated {b['cv_agreement_calibrated']:.1%}",
            )
        )
    p = results["processes"]
    rows += [
        ("process: advisor rules check --exhaustive", f"{p['rules_check_exhaustive_seconds']:.2f} s"),
        (
            "process: advisor recommend (with / --no-depth)",
            f"{p['recommend_json_with_depth_seconds']:.2f} s / {p['recommend_json_no_depth_seconds']:.2f} s",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    write_text(RESULTS, json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
