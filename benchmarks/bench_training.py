"""Training benchmark: our LoRA loop against a plain transformers Trainer + peft, and end-to-end runs on the sample.

    .venv/bin/python benchmarks/bench_training.py            # throughput + end-to-end (about 15-25 min on 2 cores)
    .venv/bin/python benchmarks/bench_training.py --quick    # throughput only

Throughput: the same model (default SmolLM2-135M), the same examples (closed-book chat examples of all the
sample pairs with answer-only labels, plus 256-token windows of the sample documents: mixed lengths), the
same LoRA config, seed, batch size, learning rate and one epoch. Each side runs in its own subprocess so
peak resident memory is its own. Tokens/s counts real (non-padding) tokens over the wall time of training.
End to end: `build_and_evaluate` of fine-tuning and hybrid with default settings on sample/ (shared
evaluation, 30% of the pairs held out), with the baseline, contains/F1 and the paraphrases.
Writes benchmarks/results/training.json atomically and prints a table.
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

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "training.json"
BATCH = 4
LR = 5e-4
MAX_LENGTH = 512
DOC_WINDOWS = 12  # enough long sequences to make padding matter, few enough for a few minutes a run


def _threads() -> None:
    """Both sides use the same torch thread count (BENCH_THREADS, default torch's own)."""
    if os.environ.get("BENCH_THREADS"):
        import torch

        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))


def _examples():
    from advisor.backends.data import load_documents, load_pairs
    from advisor.backends.generator import load_tokenizer
    from advisor.backends.prompts import closed_book_messages
    from advisor.backends.training.examples import document_examples, supervised_example

    tokenizer = load_tokenizer("default")
    docs = load_documents(ROOT / "sample" / "docs")
    pairs = load_pairs(ROOT / "sample" / "qa.jsonl", docs)
    qa = [supervised_example(tokenizer, closed_book_messages(p.question), p.answer, MAX_LENGTH)[0] for p in pairs]
    return tokenizer, qa + document_examples(tokenizer, docs, 256)[:DOC_WINDOWS]


def run_ours() -> dict:
    from advisor.backends.generator import load_model
    from advisor.backends.measure import measure
    from advisor.backends.training.config import TrainConfig
    from advisor.backends.training.loop import train_lora

    tokenizer, data = _examples()
    model = load_model("default")
    config = TrainConfig(epochs=1, batch_size=BATCH, lr=LR, seed=0)
    with measure() as m:
        result = train_lora(model, data, [], config, tokenizer.pad_token_id, progress=False)
    real = sum(len(e.input_ids) for e in data)
    return {"seconds": m.seconds, "peak_memory_mb": m.peak_memory_mb, "tokens": real,
            "tokens_per_second": round(real / m.seconds, 1), "padding_waste": result.facts["padding_waste"],
            "steps": result.facts["steps"], "final_train_loss": result.facts["final_train_loss"]}


def run_trainer(group_by_length: bool = False) -> dict:
    import tempfile

    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    from advisor.backends.generator import load_model
    from advisor.backends.measure import measure
    from advisor.backends.training.config import ALL_LINEAR

    tokenizer, data = _examples()
    tokenizer.padding_side = "right"
    model = load_model("default")
    set_seed(0)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=list(ALL_LINEAR),
                                             task_type="CAUSAL_LM", bias="none"))
    rows = [{"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels} for e in data]
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    slots = {"real": 0, "all": 0}

    def counting(features):
        batch = collator(features)
        slots["real"] += int(batch["attention_mask"].sum())
        slots["all"] += batch["attention_mask"].numel()
        return batch

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=BATCH,
            num_train_epochs=1,
            learning_rate=LR,
            seed=0,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            use_cpu=True,
            dataloader_num_workers=0,
            disable_tqdm=True,
            train_sampling_strategy="group_by_length" if group_by_length else "random",
            max_grad_norm=1.0,
            warmup_steps=0.06,
            lr_scheduler_type="linear",
        )
        trainer = Trainer(model=model, args=args, train_dataset=_ListDataset(rows), data_collator=counting)
        with measure() as m:
            out = trainer.train()
    real = sum(len(e.input_ids) for e in data)
    return {
        "seconds": m.seconds,
        "peak_memory_mb": m.peak_memory_mb,
        "tokens": real,
        "tokens_per_second": round(real / m.seconds, 1),
        "padding_waste": round(1 - slots["real"] / slots["all"], 4),
        "steps": out.global_step,
        "final_train_loss": round(out.training_loss, 5),
    }


class _ListDataset:
    """A minimal map-style dataset (with lengths for group_by_length)."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def _subprocess(which: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run([sys.executable, __file__, "--one", which], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{which} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def end_to_end(approach: str, out: Path) -> dict:
    from advisor.backends.base import BuildSettings
    from advisor.backends.runner import build_and_evaluate

    start = time.perf_counter()
    metrics = build_and_evaluate(
        approach, ROOT / "sample" / "docs", ROOT / "sample" / "qa.jsonl", out, BuildSettings(), progress=False
    )
    keep = (
        "questions",
        "answers",
        "baseline",
        "paraphrase",
        "retrieval",
        "build_seconds",
        "eval_seconds",
        "train",
        "peak_memory_mb",
    )
    data = metrics.to_json()
    return {"wall_seconds": round(time.perf_counter() - start, 1), **{k: data.get(k) for k in keep}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", choices=["ours", "trainer", "trainer-grouped"], help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="throughput only, no end-to-end runs")
    parser.add_argument("--e2e-only", action="store_true", help="end-to-end runs only (keeps earlier throughput)")
    args = parser.parse_args()
    if args.one:
        _threads()
        result = {"ours": run_ours, "trainer": run_trainer, "trainer-grouped": lambda: run_trainer(True)}[args.one]()
        print(json.dumps(result))
        return

    from advisor.atomic import write_text

    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": {
            "batch_size": BATCH,
            "lr": LR,
            "rank": 8,
            "target_modules": "all linear",
            "epochs": 1,
            "data": f"72 closed-book sample pairs + {DOC_WINDOWS} 256-token windows of the sample documents",
            "torch_threads": os.environ.get("BENCH_THREADS", "default"),
            "load_average_at_start": os.getloadavg()[0],
        },
    }
    if args.e2e_only:
        results["throughput"] = previous.get("throughput")
    else:
        runs = {name: _subprocess(name) for name in ("ours", "trainer", "trainer-grouped")}
        runs["ratio_tokens_per_second_vs_trainer"] = round(
            runs["ours"]["tokens_per_second"] / runs["trainer"]["tokens_per_second"], 2
        )
        runs["ratio_vs_trainer_grouped"] = round(
            runs["ours"]["tokens_per_second"] / runs["trainer-grouped"]["tokens_per_second"], 2
        )
        results["throughput"] = runs
    if not args.quick:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            results["end_to_end"] = {a: end_to_end(a, Path(tmp) / a) for a in ("fine-tuning", "hybrid")}
    elif previous.get("end_to_end"):
        results["end_to_end"] = previous["end_to_end"]
    write_text(RESULTS, json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results: dict) -> None:
    runs = results.get("throughput") or {}
    print(f"{'run':<18}{'tokens/s':>10}{'seconds':>10}{'peak MB':>10}{'padding':>10}{'steps':>7}")
    for name in ("ours", "trainer", "trainer-grouped"):
        if name in runs:
            r = runs[name]
            print(
                f"{name:<18}{r['tokens_per_second']:>10}{r['seconds']:>10}{r['peak_memory_mb']:>10}{r['padding_waste']:>10}{r['steps']:>7}"
            )
    if runs:
        print(
            f"throughput ratio ours/Trainer: {runs['ratio_tokens_per_second_vs_trainer']}  "
            f"(vs Trainer with group_by_length: {runs['ratio_vs_trainer_grouped']})"
        )
    e2e = results.get("end_to_end") or {}
    for approach, r in ((a, e2e[a]) for a in ("fine-tuning", "hybrid") if a in e2e):
        a, b = r["answers"], r["baseline"]["answers"]
        para = (r.get("paraphrase") or {}).get("answers", {})
        print(
            f"{approach:<12} wall {r['wall_seconds']:>6}s train {r['train']['seconds']:>6}s  "
            f"contains {a['contains']:.2f} "
            f"F1 {a['f1']:.2f} (baseline {b['contains']:.2f}/{b['f1']:.2f}; "
            f"paraphrase {para.get('contains', 0):.2f}/{para.get('f1', 0):.2f})"
        )


if __name__ == "__main__":
    main()
