"""Launched runs for the distributed tests: a tiny project, and `advisor` run by torchrun (2 CPU processes, gloo)
or as one plain process, each in its own subprocess.

The tiny project is the sample's documents with its first 20 pairs (no paraphrases, so answering stays short).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "sample" / "docs"
ANSWERS = ROOT / "sample" / "answers.yaml"
PAIRS = 20
# Every command: 2 epochs of 2 steps (10 fit pairs, global batch 8), 4 held-out questions, short answers.
TINY = ["--epochs", "2", "--max-new-tokens", "8", "--eval-limit", "4", "--test-fraction", "0.4", "--quiet"]
LOSS_TOLERANCE = 0.05  # absolute, per logged train/validation loss: LoRA dropout masks differ by rank
VALIDATE = ["validate", str(ANSWERS), "--docs", str(DOCS), "--approaches", "fine-tuning,rag", *TINY]


def write_project(folder: Path) -> Path:
    """qa.jsonl with the sample's first 20 pairs, paraphrases dropped; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = (ROOT / "sample" / "qa.jsonl").read_text(encoding="utf-8").splitlines()[:PAIRS]
    pairs = [{k: v for k, v in json.loads(line).items() if k != "paraphrase"} for line in lines]
    path = folder / "qa.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    return path


def advisor(args: list[str], nproc: int | None = None, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m advisor ARGS`, or under `torchrun --standalone --nproc_per_node NPROC` (free port, CPU)."""
    launch = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
        if nproc
        else [sys.executable]
    )
    full_env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "ADVISOR_DIST_TIMEOUT": "180",
        **(env or {}),
    }
    return subprocess.run(
        [*launch, "-m", "advisor", *args], capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT
    )


def check(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr[-4000:]
    return result
