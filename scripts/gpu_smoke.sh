#!/usr/bin/env bash
# GPU smoke run: `advisor validate` on the bundled sample with a 1-2B instruct model, first with bf16 weights,
# then with 4-bit QLoRA, and a table of each tuned arm's peak GPU memory, training tokens/s and the memory
# check's estimate, with the verdict of each run. Needs a CUDA GPU, a CUDA build of torch and
# `pip install -e '.[gpu]'` (bitsandbytes); the model is downloaded from the Hugging Face hub unless cached.
#
#   scripts/gpu_smoke.sh                                   # HuggingFaceTB/SmolLM2-1.7B-Instruct
#   scripts/gpu_smoke.sh Qwen/Qwen2.5-1.5B-Instruct        # any instruct model with a chat template
#   OUT=/scratch/smoke scripts/gpu_smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-HuggingFaceTB/SmolLM2-1.7B-Instruct}"
out="${OUT:-runs/gpu-smoke}"
py="${PYTHON:-.venv/bin/python}"

"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
    echo "gpu_smoke: torch sees no CUDA device (a GPU and a CUDA build of torch are needed)" >&2; exit 2; }
"$py" -c "import bitsandbytes" 2>/dev/null || {
    echo "gpu_smoke: bitsandbytes is not installed: pip install -e '.[gpu]'" >&2; exit 2; }

for run in bf16 qlora; do
    extra=()
    [ "$run" = qlora ] && extra=(--quantize 4bit)
    echo "== $run: advisor validate with $model" >&2
    "$py" -m advisor validate sample/answers.yaml --docs sample/docs --qa sample/qa.jsonl --out "$out/$run" \
        --device cuda --dtype bf16 --generator "$model" --quiet "${extra[@]}"
done

"$py" - "$out" "$model" <<'PY'
"""The table: per run and tuned arm, the measured peak against the memory check's estimate."""
import json
import sys
from pathlib import Path

out, model = Path(sys.argv[1]), sys.argv[2]
print(f"\n{model} on {__import__('torch').cuda.get_device_name()}")
print(f"{'run':6} {'arm':12} {'estimate MB':>12} {'peak MB':>9} {'error':>7} {'tokens/s':>9}  within")
for run in ("bf16", "qlora"):
    for arm in ("fine-tuning", "hybrid"):
        path = out / run / arm / "metrics.json"
        if not path.is_file():
            print(f"{run:6} {arm:12} (no metrics: see {out / run / 'validation.json'})")
            continue
        metrics = json.loads(path.read_text())
        memory = metrics.get("precision", {}).get("memory", {})
        # the estimate without its allowance for the CUDA context, which torch's allocator peak does not count
        estimate = memory.get("estimate_mb", 0) - memory.get("runtime_mb", 0)
        peak = metrics.get("train", {}).get("peak_memory_mb") or 0
        error = (estimate - peak) / peak if peak else float("nan")
        speed = metrics.get("train", {}).get("tokens_per_second")
        print(f"{run:6} {arm:12} {estimate:12.0f} {peak:9.0f} {error:+7.0%} {speed!s:>9}  {'yes' if peak <= estimate else 'NO'}")
    verdict = json.loads((out / run / "validation.json").read_text()).get("verdict")
    print(f"{run:6} verdict: {verdict}")
PY
