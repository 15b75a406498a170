"""End-to-end time of the README's first command (`make demo`: advisor validate on the bundled sample),
stage by stage, and the share spent loading models, embedding, training and generating.

Runs `scripts/demo.sh` into a fresh folder (set-up already done), so the figure is what a user waits for
after the one-time install. Beside the wall time it records the demo's CPU seconds, the load average before
and after, and the time as a multiple of a fixed reference workload timed just before and after
(`benchmarks/reference.py`), which is what carries over to another machine of the kind. Prints a table and
writes benchmarks/results/validate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from advisor.atomic import write_text  # noqa: E402
from benchmarks.reference import Measured, child_cpu_seconds  # noqa: E402


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        out = Path(tmp) / "sample"
        env = {**os.environ, "OUT": str(out), "HF_HUB_OFFLINE": "1"}
        with Measured() as measured:
            cpu_before = child_cpu_seconds()
            started = time.perf_counter()
            subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], check=True, env=env, cwd=ROOT)
            wall = time.perf_counter() - started
            cpu = child_cpu_seconds() - cpu_before
        validation = json.loads((out / "validation.json").read_text())

    stages = validation["stages"]
    approaches = validation["approaches"]
    loading = sum(s["seconds"] for s in stages if s["name"] == "load models")
    embedding = (
        (approaches.get("rag", {}).get("build") or {}).get("seconds")
        or approaches.get("rag", {}).get("build_seconds")
        or 0.0
    )
    training = sum(((a.get("train") or {}).get("seconds") or 0.0) for a in approaches.values())
    generation = sum(
        s["seconds"] for s in stages if s["name"] in ("closed-book baseline", "untouched model (zero-shot)")
    ) + sum((a.get("eval_seconds") or 0.0) for a in approaches.values())
    shares = {
        "model loading": loading,
        "embedding (rag build)": embedding,
        "training": training,
        "generation (answering)": generation,
    }
    shares["other (start-up, hybrid index, reports)"] = max(0.0, wall - sum(shares.values()))

    machine = measured.machine
    units = measured.in_reference_units(wall)
    print(f"\nREADME first command on the sample: {wall:.0f} s wall ({wall / 60:.1f} min), {cpu:.0f} CPU s; "
          f"{units:g} x the reference workload ({machine.reference_seconds:.2f} s before, "
          f"{machine.reference_after_seconds:.2f} s after); load {machine.load_before:g} -> {machine.load_after:g}\n")
    print(f"{'stage':<28}{'seconds':>10}")
    for s in stages:
        print(f"{s['name']:<28}{s['seconds']:>10.1f}")
    print(f"\n{'where the time went':<40}{'seconds':>10}{'share':>8}")
    for name, seconds in shares.items():
        print(f"{name:<40}{seconds:>10.1f}{seconds / wall:>8.0%}")
    print(
        f"\nrecommended {validation['recommended']}, best measured {validation['best_measured']} "
        f"({validation['metric']}), agrees: {validation['agrees']}"
    )
    for name, a in approaches.items():
        if a.get("status") == "ok":
            print(f"  {name:<12} contains {a['answers']['contains']:.2f}  f1 {a['answers']['f1']:.2f}")
    base = validation.get("baseline") or {}
    if base:
        print(f"  {'baseline':<12} contains {base['answers']['contains']:.2f}  f1 {base['answers']['f1']:.2f}")

    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    **machine.as_dict()},
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "reference_units": units,
        "stages": stages,
        "shares": {k: {"seconds": round(v, 1), "share": round(v / wall, 3)} for k, v in shares.items()},
        "recommended": validation["recommended"],
        "best_measured": validation["best_measured"],
        "agrees": validation["agrees"],
        "metric": validation["metric"],
        "answers": {n: a.get("answers") for n, a in approaches.items()},
        "baseline": base.get("answers"),
    }
    write_text(ROOT / "benchmarks" / "results" / "validate.json", json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
