"""Overhead of the data-parallel path: 2 torchrun processes × 1 thread against 1 process × 2 threads.

    .venv/bin/python benchmarks/bench_distributed.py              # one pair of runs (about 4-6 min on 2 idle cores)
    .venv/bin/python benchmarks/bench_distributed.py --repeats 2  # alternate the two sides twice

Both sides run the same command, `advisor build fine-tuning` on the sample (its documents and pairs, the
default split, one epoch, the default global batch of 8, 8 held-out questions (and their paraphrases) answered
with 12 new tokens),
each in its own subprocess; the two-process side under `torchrun --standalone --nproc_per_node 2`
(OMP_NUM_THREADS=1), the one-process side with OMP_NUM_THREADS=2. Same cores, same global batch, same
seed: two CPU processes cannot be faster here, so the ratios measure what the distributed path costs
(gradient all-reduce, sharded evaluation, a second copy of the model, process start-up).
Training tokens/s is the loop's own figure (real tokens of all ranks over the wall time of the steps);
end to end is the wall time of the whole command. Writes benchmarks/results/distributed.json atomically.
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
RESULTS = ROOT / "benchmarks" / "results" / "distributed.json"
ARGS = ["--epochs", "1", "--eval-limit", "8", "--max-new-tokens", "12", "--quiet"]


def run_side(name: str, out: Path) -> dict:
    """One `advisor build fine-tuning` run: two torchrun processes of one thread, or one process of two."""
    cmd = [
        sys.executable,
        "-m",
        "advisor",
        "build",
        "fine-tuning",
        "--docs",
        str(ROOT / "sample" / "docs"),
        "--qa",
        str(ROOT / "sample" / "qa.jsonl"),
        "--out",
        str(out),
        *ARGS,
    ]
    threads = "2"
    if name == "2 processes x 1 thread":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *cmd[1:]]
        threads = "1"
    env = {**os.environ, "OMP_NUM_THREADS": threads, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    train = metrics["train"]
    return {
        "wall_seconds": round(wall, 2),
        "build_seconds": metrics["build_seconds"],
        "eval_seconds": metrics.get("eval_seconds"),
        "train_seconds": train["seconds"],
        "tokens_per_second": train["tokens_per_second"],
        "steps": train["steps"],
        "world_size": train["world_size"],
        "per_process_batch": train["per_process_batch"],
        "final_train_loss": train["final_train_loss"],
        "contains": metrics["answers"]["contains"],
        "peak_memory_mb_main_process": metrics["peak_memory_mb"],
    }


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main() -> None:
    from advisor.atomic import write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="Alternate the two sides this many times.")
    args = parser.parse_args()
    sides = ("1 process x 2 threads", "2 processes x 1 thread")
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        for i in range(args.repeats):
            order = sides if i % 2 == 0 else sides[::-1]
            for side in order:
                runs[side].append(run_side(side, Path(tmp) / f"{i}-{side.split()[0]}"))
                print(f"  {side}: {runs[side][-1]}", file=sys.stderr)
    one, two = (runs[s] for s in sides)
    summary = {
        s: {
            k: round(mean([r[k] for r in runs[s]]), 2)
            for k in ("tokens_per_second", "build_seconds", "eval_seconds", "wall_seconds")
        }
        for s in sides
    }
    ratios = {
        "training_tokens_per_second_1proc_over_2proc": round(
            summary[sides[0]]["tokens_per_second"] / summary[sides[1]]["tokens_per_second"], 3
        ),
        "build_seconds_2proc_over_1proc": round(
            summary[sides[1]]["build_seconds"] / summary[sides[0]]["build_seconds"], 3
        ),
        "end_to_end_wall_2proc_over_1proc": round(
            summary[sides[1]]["wall_seconds"] / summary[sides[0]]["wall_seconds"], 3
        ),
    }
    record = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": round(load_start, 2),
            "load_average_at_end": round(os.getloadavg()[0], 2),
        },
        "settings": {
            "command": "advisor build fine-tuning --docs sample/docs --qa sample/qa.jsonl " + " ".join(ARGS),
            "global_batch": 8,
            "repeats": args.repeats,
        },
        "runs": runs,
        "mean": summary,
        "ratios": ratios,
        "same_loss": [a["final_train_loss"] for a in one] + [b["final_train_loss"] for b in two],
    }
    write_text(RESULTS, json.dumps(record, indent=2) + "\n")
    rows = [
        ("", *sides),
        ("training tokens/s", *(f"{summary[s]['tokens_per_second']:.1f}" for s in sides)),
        ("build (train) s", *(f"{summary[s]['build_seconds']:.1f}" for s in sides)),
        ("evaluation s", *(f"{summary[s]['eval_seconds']:.1f}" for s in sides)),
        ("end to end s", *(f"{summary[s]['wall_seconds']:.1f}" for s in sides)),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print(
        f"training tokens/s, 1 process over 2: {ratios['training_tokens_per_second_1proc_over_2proc']:.3f}; "
        f"end to end, 2 processes over 1: {ratios['end_to_end_wall_2proc_over_1proc']:.3f} "
        f"(load average {load_start:.1f} at start)"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
