"""Build one approach on the user's data and evaluate it end to end; the library behind `advisor build`.

Every input (documents, pairs, model names, options) is checked before any model is loaded.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from advisor.atomic import write_text
from advisor.backends.base import APPROACHES, BuildSettings, Document, QAPair
from advisor.errors import InputError, did_you_mean

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
_OWN_FILES = {"manifest.json", METRICS_FILE}


@dataclass
class Inputs:
    """Validated inputs of a build: the documents, all pairs, and their split."""

    documents: list[Document]
    pairs: list[QAPair]
    train: list[QAPair]
    test: list[QAPair]


def check_settings(approach: str, settings: BuildSettings) -> None:
    """Options and model names, checked without loading any model."""
    from advisor.backends.chunking import check_window
    from advisor.backends.embedder import resolve_embedder
    from advisor.backends.generator import resolve

    if approach not in APPROACHES:
        raise InputError(f"unknown approach '{approach}' (expected one of {', '.join(APPROACHES)})"
                         f"{did_you_mean(approach, APPROACHES)}")
    if settings.eval_limit is not None and settings.eval_limit < 1:
        raise InputError(f"--eval-limit must be at least 1, got {settings.eval_limit}")
    if settings.k < 1:
        raise InputError(f"--k must be at least 1, got {settings.k}")
    if settings.max_new_tokens < 1:
        raise InputError(f"--max-new-tokens must be at least 1, got {settings.max_new_tokens}")
    if settings.device not in ("cpu", "cuda", "mps") and not settings.device.startswith("cuda:"):
        raise InputError(f"--device must be cpu, cuda or mps, got '{settings.device}'")
    resolve(settings.generator)
    if approach in ("rag", "hybrid"):
        from advisor.backends.rag import retrieval_options

        options = retrieval_options(settings)
        check_window(options["chunk_tokens"], options["chunk_overlap"])
        resolve_embedder(settings.embedder)


def check_out_dir(out: Path) -> None:
    """OUT must be new, empty, or an earlier build's folder: a build replaces it as a whole."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not any((out / name).exists() for name in _OWN_FILES):
        raise InputError(f"--out {out} holds other files and no earlier build; a build replaces the folder as a "
                         "whole, so choose a new or empty folder")


def prepare(approach: str, docs_dir: str | Path, qa_file: str | Path, out_dir: str | Path,
            settings: BuildSettings) -> Inputs:
    """Validate everything and split the pairs; no model is loaded."""
    from advisor.backends.data import load_documents, load_pairs, split_pairs

    check_settings(approach, settings)
    check_out_dir(Path(out_dir))
    documents = load_documents(docs_dir)
    pairs = load_pairs(qa_file, documents)
    train, test = split_pairs(pairs, settings.test_fraction, settings.seed)
    return Inputs(documents, pairs, train, test)


def build_and_evaluate(approach: str, docs_dir: str | Path, qa_file: str | Path, out_dir: str | Path,
                       settings: BuildSettings | None = None, *, progress: bool = True,
                       baseline_cache: Path | None = None, echo=None) -> dict[str, Any]:
    """Validate, build `approach` into out_dir, evaluate on the held-out pairs, write out_dir/metrics.json.

    Ctrl-C during evaluation leaves a metrics.json marked "interrupted" beside the finished build.
    """
    from advisor.backends import backend_class, distributed
    from advisor.backends.evaluation import evaluate
    from advisor.backends.measure import measure

    settings = settings or BuildSettings()
    if not progress and "progress" not in settings.extra:  # backends read it to silence their progress bars
        settings = replace(settings, extra={**settings.extra, "progress": False})
    out = Path(out_dir)
    inputs = prepare(approach, docs_dir, qa_file, out, settings)
    distributed.check_run([approach], settings, len(inputs.train), len(inputs.test[: settings.eval_limit or None]))
    distributed.barrier()  # every rank has checked OUT before any rank writes there
    say = echo or (lambda message: None)
    say(f"{approach}: {len(inputs.documents)} documents, {len(inputs.pairs)} pairs "
        f"({len(inputs.train)} for training, {len(inputs.test)} held out, seed {settings.seed})")

    backend = backend_class(approach)(settings)
    with measure() as built:
        backend, build_facts = distributed.build(backend, inputs.documents, inputs.train, out)
    say(f"built in {built.seconds:.1f} s; evaluating")

    header = {"approach": approach, "build_seconds": built.seconds, "peak_memory_mb": built.peak_memory_mb,
              "split": {"seed": settings.seed, "test_fraction": settings.test_fraction, "train": len(inputs.train),
                        "test": len(inputs.test), "eval_limit": settings.eval_limit},
              "build": {k: v for k, v in build_facts.items() if k != "train"},
              "settings": {**{k: v for k, v in asdict(settings).items() if k != "extra"}, "extra": settings.extra}}
    if "train" in build_facts:
        header["train"] = build_facts["train"]
    try:
        with measure() as evaluated:
            metrics = evaluate(backend, inputs.test, settings, out=out, progress=progress,
                               baseline_cache=baseline_cache, build_seconds=built.seconds)
    except KeyboardInterrupt:
        distributed.on_main(write_text, out / METRICS_FILE, json.dumps({**header, "interrupted": True}, indent=2) + "\n")
        raise
    metrics = {**metrics, **{k: v for k, v in header.items() if k not in metrics or metrics[k] is None}}
    metrics["peak_memory_mb"] = max(built.peak_memory_mb, evaluated.peak_memory_mb)
    metrics["interrupted"] = False
    distributed.on_main(write_text, out / METRICS_FILE, json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    return metrics


def read_metrics(out: str | Path) -> dict[str, Any]:
    """OUT/metrics.json of an earlier build."""
    path = Path(out) / METRICS_FILE
    if not path.is_file():
        raise InputError(f"{out} holds no {METRICS_FILE}; run 'advisor build' first")
    return json.loads(path.read_text(encoding="utf-8"))
