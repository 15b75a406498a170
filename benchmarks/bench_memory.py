"""Memory check benchmark: the estimator's numbers against peak memory measured on this machine, and bf16 vs fp32.

    .venv/bin/python benchmarks/bench_memory.py            # 6 runs, each in its own process (about 5-10 min)
    .venv/bin/python benchmarks/bench_memory.py --quick    # fp32 and bf16 training only

Each run is a fresh process: it imports torch, transformers and peft, notes its resident memory (the
baseline), then either trains the fine-tuning arm's LoRA adapter for one epoch on the sample's first 28 pairs
(the plan `runner.prepare_build` makes, default settings otherwise) or answers their held-out questions
closed-book with the untouched model; the measured peak is the process's peak resident memory (ru_maxrss)
minus the baseline. The estimate is the memory check's for the same plan, without its runtime allowance (which
the baseline holds). The error is (estimate - measured) / measured: positive is an over-estimate (the safe side).
bf16 against fp32: training tokens/s and answering seconds, as ratios within this run.
Writes benchmarks/results/memory.json atomically and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "memory.json"
# Llama-3.1-8B-Instruct's config.json (the fields the estimate reads), for the README's GPU figures.
LLAMA_8B = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False,
            "max_position_embeddings": 131072, "torch_dtype": "bfloat16"}
PAIRS = 28
RUNS = [("train", "fp32", "off"), ("train", "bf16", "off"), ("train", "fp32", "on"), ("train", "bf16", "on"),
        ("answer", "fp32", "off"), ("answer", "bf16", "off")]


def _rss() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def one(kind: str, dtype: str, checkpointing: str) -> dict:
    """One measured run in this process (see the module's docstring)."""
    import time

    import accelerate  # noqa: F401 - imported before the baseline, as the run imports it
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from advisor.backends.base import BuildSettings
    from advisor.backends.memory import GB, estimate, model_shape, workload
    from advisor.backends.options import TrainingOptions
    from advisor.backends.runner import prepare_build as prepare

    settings = BuildSettings(dtype=dtype, training=TrainingOptions(epochs=1, gradient_checkpointing=checkpointing))
    with tempfile.TemporaryDirectory() as tmp:
        # The first PAIRS pairs of the sample: two training steps and a few answers keep a run to minutes on a shared
        # machine; the peak comes from the longest batch, which the estimate reads from the same pairs.
        lines = (ROOT / "sample" / "qa.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        qa = Path(tmp) / "qa.jsonl"
        qa.write_text("".join(lines[:PAIRS]), encoding="utf-8")
        inputs = prepare(["fine-tuning"], ROOT / "sample" / "docs", qa, Path(tmp) / "out", settings,
                         untouched_beside_tuned=False)
        plan = inputs.plans["fine-tuning"]
        shape = model_shape(settings.generator)
        assert shape is not None and plan.memory is not None
        base = _rss()
        started = time.perf_counter()
        if kind == "train":
            from advisor.backends.finetune import FineTuneBackend

            backend = FineTuneBackend.from_plan(plan)
            facts = backend.build(inputs.documents, inputs.train, Path(tmp) / "out", progress=False)["train"]
            found = plan.memory
            speed = facts["tokens_per_second"]
        else:
            from advisor.backends.generator import generator_for
            from advisor.backends.prompts import closed_book_messages

            settings = inputs.settings
            generator = generator_for(settings)
            questions = [p.question for p in settings.answered(inputs.test)]
            generator.complete([closed_book_messages(q) for q in questions], settings.new_tokens, settings.batch_size)
            work = workload(plan, inputs.train, inputs.test, shape)
            found = estimate(shape, work.__class__(work.answer_batch, work.prompt_tokens, work.new_tokens),
                             plan.memory.dtype, None, False, settings.device)
            speed = None
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    measured = peak - base
    predicted = (found.total - found.runtime) / 1e6
    return {"kind": kind, "dtype": dtype, "checkpointing": checkpointing == "on", "model": settings.generator,
            "baseline_rss_mb": round(base, 1), "measured_peak_mb": round(measured, 1),
            "estimate_mb": round(predicted, 1), "error": round((predicted - measured) / measured, 3),
            "estimate_parts_mb": found.to_json(), "seconds": round(seconds, 1), "tokens_per_second": speed,
            "runtime_allowance_gb": found.runtime / GB}


def figures_8b() -> list[dict]:
    """The memory check's arithmetic for an 8B Llama on one CUDA GPU, as `validate` runs a tuned arm: LoRA r=8 on
    every projection, per-process batch 8 (4 for the hybrid's longer prompts), answers in batches of 8."""
    from advisor.backends.memory import GB, ModelShape, Workload, estimate

    shape = ModelShape.from_config(LLAMA_8B)
    rows = []
    for arm, batch, seq in (("fine-tuning", 8, 256), ("hybrid", 4, 1024)):
        work = Workload(answer_batch=8, prompt_tokens=seq, new_tokens=64, train_batch=batch, train_tokens=seq,
                        loss_tokens=64)
        for dtype, quantize, ckpt in (("bf16", None, False), ("bf16", None, True), ("bf16", "4bit", True)):
            found = estimate(shape, work, dtype, quantize, ckpt, "cuda")
            rows.append({"arm": arm, "per_process_batch": batch, "sequence_tokens": seq,
                         "weights": "nf4" if quantize else dtype, "checkpointing": ckpt,
                         "total_gb": round(found.total / GB, 1), "weights_gb": round(found.weights / GB, 1),
                         "adapter_and_optimiser_gb": round(found.adapter / GB, 2),
                         "activations_gb": round(found.activations / GB, 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "DTYPE", "CHECKPOINTING"))
    parser.add_argument("--figures", action="store_true", help="Only print the 8B figures (arithmetic, instant).")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    figures = figures_8b()
    for row in figures:
        print(f"8B {row['arm']:11} batch {row['per_process_batch']} x {row['sequence_tokens']:4} tokens  "
              f"{row['weights']:4} ckpt={str(row['checkpointing']):5}  {row['total_gb']:5.1f} GB (weights "
              f"{row['weights_gb']} GB, activations {row['activations_gb']} GB)")
    if args.figures:
        return
    from advisor.atomic import write_text

    load = os.getloadavg()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    rows = []
    for run in RUNS[:2] if args.quick else RUNS:
        out = subprocess.run([sys.executable, __file__, "--one", *run], capture_output=True, text=True, env=env,
                             check=False)
        if out.returncode:
            sys.exit(f"{run} failed:\n{out.stderr[-3000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"{rows[-1]['kind']:6} {rows[-1]['dtype']:5} ckpt={str(rows[-1]['checkpointing']):5} measured "
              f"{rows[-1]['measured_peak_mb']:7.1f} MB  estimate {rows[-1]['estimate_mb']:7.1f} MB  error "
              f"{rows[-1]['error']:+.0%}  {rows[-1]['seconds']:.1f} s", flush=True)

    def pick(kind: str, dtype: str, ckpt: bool = False) -> dict | None:
        return next((r for r in rows if (r["kind"], r["dtype"], r["checkpointing"]) == (kind, dtype, ckpt)), None)

    ratios = {}
    fp32, bf16 = pick("train", "fp32"), pick("train", "bf16")
    if fp32 and bf16 and fp32["tokens_per_second"]:
        ratios["bf16_train_tokens_per_second_vs_fp32"] = round(bf16["tokens_per_second"] / fp32["tokens_per_second"], 3)
    on = pick("train", "fp32", True)
    if fp32 and on:
        ratios["checkpointing_peak_vs_off_fp32"] = round(on["measured_peak_mb"] / fp32["measured_peak_mb"], 3)
    a32, a16 = pick("answer", "fp32"), pick("answer", "bf16")
    if a32 and a16:
        ratios["bf16_answer_seconds_vs_fp32"] = round(a16["seconds"] / a32["seconds"], 3)
    errors = [abs(r["error"]) for r in rows]
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "load_average_at_start": [round(x, 2) for x in load],
                          "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
              "runs": rows, "ratios": ratios, "figures_8b_cuda": figures,
              "max_abs_error": round(max(errors), 3) if errors else None}
    for name, value in ratios.items():
        print(f"{name}: {value}")
    print(f"largest estimate error: {result['max_abs_error']:+.0%}; load {load[0]:.2f} at start")
    write_text(RESULTS, json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
