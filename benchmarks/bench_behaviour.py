"""Behaviour-task benchmark: the style sample validated end to end, demonstration picking, and training speed.

    .venv/bin/python benchmarks/bench_behaviour.py            # all three parts (about 10-15 min on 2 cores)
    .venv/bin/python benchmarks/bench_behaviour.py --quick    # demonstration picking and training speed only

1. `advisor validate sample/style/answers.yaml --qa sample/style/pairs.jsonl` (the README's command, no
   --docs): each arm's chrF (with BLEU and ROUGE-L), build and answering time, and the whole run's time.
   With ../shared/data/covid-qa present: RAG on the real papers with 15 answered questions, to show the
   answer-in-context diagnosis where a small generator, not retrieval, is the bottleneck.
2. Picking demonstrations for 1,000 held-out inputs from 5,000 training pairs: `fewshot.nearest` (one matrix
   product and a partial sort) against a per-input Python loop over the same vectors, after embedding.
3. Short sequences train as fast as the knowledge task: the same LoRA loop on the style pairs (MR ->
   sentence) and on the first sample's Q&A pairs, one epoch each, tokens/s and padding waste.

Writes benchmarks/results/behaviour.json atomically and prints a table.
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
RESULTS = ROOT / "benchmarks" / "results" / "behaviour.json"
STYLE = ROOT / "sample" / "style"


def validate_style(out: Path) -> dict:
    """The README's command as a whole process; its validation.json and wall time."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    subprocess.run([str(ROOT / ".venv" / "bin" / "advisor"), "validate", str(STYLE / "answers.yaml"), "--qa",
                    str(STYLE / "pairs.jsonl"), "--out", str(out), "--quiet"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    validation = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    arms = {}
    base = validation["baseline"]["answers"]
    untouched = next((s for s in validation["stages"] if s["name"].startswith("untouched")), {})
    arms["untouched"] = {**base, "build_seconds": 0.0, "answer_seconds": untouched.get("seconds")}
    for name, block in validation["approaches"].items():
        if block.get("status") == "ok":
            arms[name] = {**block["answers"], "build_seconds": block.get("build_seconds"),
                          "answer_seconds": block.get("eval_seconds"),
                          "epochs": (block.get("train") or {}).get("epochs"),
                          "shots": (block.get("build") or {}).get("shots")}
        else:
            arms[name] = {"status": block.get("status"), "reason": block.get("reason") or block.get("error")}
    comparisons = [c for c in validation["comparisons"] if c["b"] in ("baseline", "prompt") or c["a"] == "prompt"]
    return {"seconds": round(seconds, 1), "recommended": validation["recommended"],
            "best_measured": validation["best_measured"], "favoured": validation.get("favoured"),
            "agreement": validation.get("agreement"), "tied_with_best": validation["tied_with_best"],
            "metric": validation["metric"], "questions": validation["questions"],
            "train_pairs": validation["train_pairs"], "arms": arms, "comparisons": comparisons,
            "verdict": validation["verdict"]}


def picking() -> dict:
    """1,000 inputs x 5,000 examples: one matrix product against a Python loop, on real MiniLM vectors."""
    import numpy as np

    from advisor.backends.data import load_pairs
    from advisor.backends.embedder import shared_embedder
    from advisor.backends.fewshot import nearest

    mrs = [p.question for p in load_pairs(STYLE / "pairs.jsonl")]
    texts = [f"{mrs[i % len(mrs)]}, id[{i}]" for i in range(6000)]
    embedder = shared_embedder()
    started = time.perf_counter()
    vectors = embedder.encode(texts)
    embed_seconds = time.perf_counter() - started
    pool, queries = vectors[:5000], vectors[5000:]
    started = time.perf_counter()
    fast = nearest(queries, pool, 8)
    fast_seconds = time.perf_counter() - started
    started = time.perf_counter()
    slow = []
    for q in queries:
        sims = [(float(np.dot(q, row)), i) for i, row in enumerate(pool)]
        slow.append([i for _, i in sorted(sims)[-8:]])
    loop_seconds = time.perf_counter() - started
    agree = sum(sorted(a) == sorted(b) for a, b in zip(fast, slow)) / len(fast)
    return {"inputs": 1000, "examples": 5000, "k": 8, "embed_seconds": round(embed_seconds, 2),
            "matrix_seconds": round(fast_seconds, 4), "loop_seconds": round(loop_seconds, 2),
            "speedup": round(loop_seconds / fast_seconds, 1), "same_picks": round(agree, 4)}


def training_speed() -> dict:
    """One epoch of the LoRA loop on short MR->sentence pairs and on the knowledge sample's Q&A pairs."""
    from advisor.backends.data import load_pairs
    from advisor.backends.generator import load_model, load_tokenizer
    from advisor.backends.prompts import closed_book_messages
    from advisor.backends.training.config import TrainConfig
    from advisor.backends.training.examples import supervised_example
    from advisor.backends.training.loop import train_lora

    tokenizer = load_tokenizer("default")
    sets = {"style (MR -> sentence)": [p for p in load_pairs(STYLE / "pairs.jsonl") if p.split != "test"][:96],
            "knowledge (sample Q&A)": load_pairs(ROOT / "sample" / "qa.jsonl")}
    out = {}
    for name, pairs in sets.items():
        data = [supervised_example(tokenizer, closed_book_messages(p.question), p.answer, 512)[0] for p in pairs]
        model = load_model("default")
        config = TrainConfig(epochs=1, batch_size=8, seed=0)
        started = time.perf_counter()
        result = train_lora(model, data, [], config, tokenizer.pad_token_id, progress=False)
        seconds = time.perf_counter() - started
        real = sum(len(e.input_ids) for e in data)
        out[name] = {"examples": len(data), "mean_tokens": round(real / len(data), 1),
                     "tokens_per_second": round(real / seconds, 1), "padding_waste": result.facts["padding_waste"]}
    first, second = out.values()
    out["ratio_style_to_knowledge"] = round(first["tokens_per_second"] / second["tokens_per_second"], 3)
    return out


def covid(out: Path) -> dict | None:
    """RAG on the real COVID-QA papers (30% held out, 15 answered): retrieval, answer in context, and F1."""
    data = ROOT.parent / "shared" / "data" / "covid-qa"
    if not (data / "qa.jsonl").is_file():
        return None
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    subprocess.run([str(ROOT / ".venv" / "bin" / "advisor"), "build", "rag", "--docs", str(data / "docs"), "--qa",
                    str(data / "qa.jsonl"), "--eval-limit", "15", "--out", str(out), "--quiet"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    from advisor.backends.evidence import retrieval_diagnosis
    from advisor.runrecords import ArmResult

    lifted = set() if metrics["compared_to_baseline"][metrics["metric"]]["tie"] else {"rag"}
    diagnosis = retrieval_diagnosis({"rag": ArmResult.model_validate({"status": "ok", **metrics})}, metrics["metric"],
                                    lifted)
    return {"seconds": round(time.perf_counter() - started, 1), "metric": metrics["metric"],
            "questions": metrics["questions"], "retrieval": metrics["retrieval"], "answers": metrics["answers"],
            "baseline": metrics["baseline"]["answers"], "weak_part": diagnosis[0].weak_part if diagnosis else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the end-to-end validation and COVID-QA")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_average": os.getloadavg()}}
    if not args.quick:
        from benchmarks.reference import Measured

        with tempfile.TemporaryDirectory() as tmp:
            with Measured() as measured:
                results["style_validation"] = validate_style(Path(tmp) / "style")
            results["style_validation"]["reference_units"] = measured.in_reference_units(
                results["style_validation"]["seconds"])
            results["machine"]["around_style_validation"] = measured.machine.as_dict()
            results["covid_rag"] = covid(Path(tmp) / "covid")
    results["picking"] = picking()
    results["training_speed"] = training_speed()
    results["machine"]["load_average_after"] = os.getloadavg()

    from advisor.atomic import write_text

    write_text(RESULTS, json.dumps(results, indent=2) + "\n")
    if "style_validation" in results:
        v = results["style_validation"]
        print(f"style sample: {v['questions']} held-out MRs, {v['train_pairs']} training pairs, "
              f"whole run {v['seconds'] / 60:.1f} min ({v['reference_units']:g} x the reference workload); "
              f"recommended {v['recommended']}, "
              f"scored highest {v['best_measured']}, favoured {v.get('favoured')}")
        print(f"{'arm':<14} {'chrF':>6} {'BLEU':>6} {'ROUGE-L':>8} {'build s':>8} {'answer s':>9}")
        for arm, row in v["arms"].items():
            if "chrf" in row:
                print(
                    f"{arm:<14} {row['chrf']:>6.3f} {row.get('bleu', 0):>6.3f} {row.get('rouge_l', 0):>8.3f} "
                    f"{row['build_seconds'] or 0:>8.0f} {row['answer_seconds'] or 0:>9.0f}"
                )
            else:
                print(f"{arm:<14} {row['status']}: {row['reason']}")
        print(v["verdict"])
    c = results.get("covid_rag")
    if c:
        r = c["retrieval"]
        print(
            f"\nCOVID-QA RAG ({c['questions']} answered): recall@{r['k']} {r['recall_at_k']:.2f} on {r['questions']} "
            f"held out; answer in context {r['answer_in_context']:.2f}; {c['metric']} {c['answers'][c['metric']]:.3f} "
            f"vs {c['baseline'][c['metric']]:.3f} closed-book; weak part: {c['weak_part']}"
        )
    p = results["picking"]
    print(
        f"\npicking {p['k']} demonstrations for {p['inputs']} inputs from {p['examples']} examples: "
        f"{p['matrix_seconds'] * 1000:.0f} ms (a Python loop: {p['loop_seconds']:.1f} s, {p['speedup']}x; same picks "
        f"{p['same_picks']:.0%}); embedding them took {p['embed_seconds']:.1f} s"
    )
    t = results["training_speed"]
    for name, row in t.items():
        if isinstance(row, dict):
            print(
                f"training on {name}: {row['tokens_per_second']} tokens/s, {row['mean_tokens']} tokens an example, "
                f"padding {row['padding_waste']:.1%}"
            )
    print(f"short-sequence tokens/s as a share of the knowledge task's: {t['ratio_style_to_knowledge']:.2f}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
