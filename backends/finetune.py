"""The fine-tuning backend: a LoRA adapter trained on the user's pairs (and optionally documents), closed-book.

`FineTuneBackend(settings).build(documents, train_pairs, out)` trains on a fresh copy of the generator and
writes `out/adapter` (peft format), `training_config.json`, `loss.json`, `loss.svg` and `manifest.json`;
`FineTuneBackend.load(out)` answers with base model + adapter. The hybrid backend extends this class.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable, ClassVar

from advisor.backends.base import Answer, Backend, BuildSettings, Document, QAPair
from advisor.backends.distributed import on_main
from advisor.backends.prompts import closed_book_messages
from advisor.runrecords import Manifest, read_manifest
from advisor.backends.training.config import TrainConfig
from advisor.backends.training.examples import (
    Example,
    document_examples,
    max_length_for,
    split_pairs,
    supervised_example,
    warn_truncated,
)
from advisor.backends.training.loop import train_lora
from advisor.backends.training.saving import (
    TrainingInterrupted,
    load_adapter,
    publish,
    scratch_dir,
    write_training_record,
)

FORMAT_VERSION = 1
EXAMPLES_SEEN = 300  # the default epochs show the model about this many training examples
MAX_EPOCHS = 6


def default_epochs(fit_pairs: int) -> int:
    """Epochs when none are given: enough to see about 300 examples, from 1 to 6 (early stopping may end sooner).

    Small sets (the 50-pair sample) get 6, as measured; a few hundred pairs get 1 or 2, so training time
    grows with the data only up to that budget.
    """
    return max(1, min(MAX_EPOCHS, math.ceil(EXAMPLES_SEEN / max(1, fit_pairs))))


class FineTuneBackend(Backend):
    """Closed-book answers from the generator with a LoRA adapter trained on the user's data."""

    approach: ClassVar[str] = "fine-tuning"
    builds_on_every_rank: ClassVar[bool] = True  # under a launcher every rank trains its shard (distributed.py)

    def __init__(self, settings: BuildSettings | None = None):
        super().__init__(settings or BuildSettings())
        self.on_step: Callable[[int, float], None] | None = None  # called after each optimiser step (tests)
        self.model: Any = None
        self.tokenizer: Any = None
        self.generator_name = self.settings.generator
        self._generator: Any = None

    # ------------------------------------------------------------------------------------------ build

    def prepare(self, documents: list[Document], train: list[QAPair], work: Path, progress: bool) -> dict[str, Any]:
        """Work before training (the hybrid builds its index here); returns extra manifest fields."""
        return {}

    def training_messages(self, pairs: list[QAPair], documents: list[Document]) -> list[list[dict[str, str]]]:
        """The prompt each training pair is trained on, in order."""
        return [self.prompt_with(p.question, []) for p in pairs]

    def examples(self, tokenizer: Any, pairs: list[QAPair], documents: list[Document], config: TrainConfig,
                 max_length: int) -> tuple[list[Example], int]:
        """Supervised examples of these pairs (answer-only loss); returns (examples, how many were truncated)."""
        out, truncated = [], 0
        for pair, messages in zip(pairs, self.training_messages(pairs, documents)):
            example, cut = supervised_example(tokenizer, messages, pair.answer, max_length)
            out.append(example)
            truncated += cut
        return out, truncated

    def build(self, documents: list[Document], train: list[QAPair], out: Path, progress: bool = True) -> dict[str, Any]:
        """Train the adapter on `train` (split into fit and validation pairs) and save it into `out` atomically.

        A training progress bar is drawn only when `progress` is true."""
        from advisor.backends.generator import load_model, load_tokenizer, resolve

        start = time.perf_counter()
        out = Path(out)
        config = self.plan_for(train).training
        assert config is not None  # a training arm's plan always holds its TrainConfig
        fit_pairs, val_pairs = split_pairs(train, config.seed, config.val_fraction, config.mode)
        source = resolve(self.settings.generator)
        tokenizer = load_tokenizer(self.settings.generator)
        model = load_model(self.settings.generator, self.settings.device, config.dtype, config.quantize)
        max_length = max_length_for(model, config.max_length)
        work = scratch_dir(out)
        try:
            extra_manifest = self.prepare(documents, train, work, progress)
            train_examples: list[Example] = []
            truncated = 0
            if config.mode in ("qa", "both"):
                train_examples, truncated = self.examples(tokenizer, fit_pairs, documents, config, max_length)
            if config.mode in ("documents", "both"):
                train_examples += document_examples(tokenizer, documents, min(config.chunk_tokens, max_length))
            val_examples, val_truncated = self.examples(tokenizer, val_pairs, documents, config, max_length)
            warn_truncated(truncated + val_truncated, len(train_examples) + len(val_examples), max_length)
            result = train_lora(model, train_examples, val_examples, config, tokenizer.pad_token_id,
                                self.settings.device, on_step=self.on_step, progress=progress)
            result.facts["truncated_examples"] = truncated + val_truncated
            manifest = {"format_version": FORMAT_VERSION, "approach": self.approach, "generator": source.name,
                        "generator_path": self.settings.generator, "adapter": "adapter", "dtype": config.dtype,
                        "quantize": config.quantize, **extra_manifest}
            record = {"approach": self.approach, "seed": config.seed, "generator": source.name,
                      "device": self.settings.device, "dtype": config.dtype, "quantize": config.quantize,
                      "gradient_checkpointing": config.gradient_checkpointing, "fit_pairs": len(fit_pairs),
                      "val_pairs": len(val_pairs),
                      "documents": len(documents), "max_length": max_length, **extra_manifest}
            on_main(write_training_record, work, result, config, manifest, record)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        target = on_main(publish, work, out, result.interrupted,
                         elsewhere=lambda: shutil.rmtree(work, ignore_errors=True))
        if result.interrupted:
            raise TrainingInterrupted(target)
        self.model, self.tokenizer, self.manifest = result.model, tokenizer, Manifest.model_validate(manifest)
        self.generator_name = self.settings.generator
        self._generator = None
        self.after_publish(target)
        return {
            "seconds": round(time.perf_counter() - start, 3),
            "train": _public_facts(result.facts),
            "models": {"generator": source.name},
        }

    def after_publish(self, out: Path) -> None:
        """Hook for subclasses once the build is in its final place."""

    # ------------------------------------------------------------------------------------------ load

    @classmethod
    def load(cls, out: Path, settings: BuildSettings | None = None) -> "FineTuneBackend":
        """The pipeline built into `out`: base generator plus its saved adapter."""
        from advisor.backends.generator import load_tokenizer

        manifest = read_manifest(Path(out), cls.approach, needs=("generator",))
        backend = cls(settings)
        backend.manifest = manifest
        backend.generator_name = manifest.generator_path or manifest.generator or ""
        backend.tokenizer = load_tokenizer(backend.generator_name)
        backend.model = load_adapter(Path(out), backend.generator_name, backend.settings.device,
                                     *backend.held_as(manifest))
        backend.after_load(Path(out))
        return backend

    def held_as(self, manifest: Manifest) -> tuple[str, str | None]:
        """(dtype, quantize) to load the base in: as these settings say when given, else as the build was held."""
        from advisor.backends.precision import resolve_dtype

        settings = self.settings
        if settings == BuildSettings():  # no settings given: as the build was held, recorded in its manifest
            built = manifest.model_extra or {}
            dtype, quantize = str(built.get("dtype") or "fp32"), built.get("quantize")
            if not settings.device.startswith("cuda"):  # a GPU build answering on a CPU: unquantized, no fp16
                quantize, dtype = None, "fp32" if dtype == "fp16" else dtype
            return dtype, quantize
        return resolve_dtype(settings.device, settings.dtype), settings.quantize

    def after_load(self, out: Path) -> None:
        """Hook for subclasses after the adapter is loaded."""

    # ------------------------------------------------------------------------------------------ answer

    @property
    def generator(self):
        """A Generator over the adapted model (created on first use)."""
        from advisor.backends.generator import Generator

        if self.model is None:
            raise RuntimeError("build() or load() the backend before answering")
        if self._generator is None:
            self._generator = Generator(
                self.generator_name, self.settings.device, model=self.model, tokenizer=self.tokenizer
            )
        return self._generator

    def answer_many(self, questions: list[str]) -> list[Answer]:
        """Answer several questions in batches (greedy, deterministic)."""
        if not questions:
            return []
        start = time.perf_counter()
        contexts = self.contexts_for(questions)
        conversations = [self.prompt_with(q, hits) for q, hits in zip(questions, contexts)]
        replies = self.generator.complete(
            conversations, max_new_tokens=self.settings.new_tokens, batch_size=self.settings.batch_size
        )
        each = (time.perf_counter() - start) / len(questions)
        return [
            Answer.from_reply(reply, sources=_unique(h.doc_id for h in hits), hits=list(hits), seconds=round(each, 4))
            for reply, hits in zip(replies, contexts)
        ]

    def contexts_for(self, questions: list[str]) -> list[list]:
        """Retrieved chunks for each question (none: closed-book)."""
        return [[] for _ in questions]

    def prompt_with(self, question: str, hits: list) -> list[dict[str, str]]:
        """The chat prompt for a question and its context: closed-book here, with context in the hybrid."""
        return closed_book_messages(question)


def _unique(items) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


_PUBLIC_FACTS = (
    "seconds",
    "steps",
    "epochs",
    "trainable_parameters",
    "final_train_loss",
    "final_val_loss",
    "best_val_loss",
    "peak_memory_mb",
    "tokens_per_second",
    "padding_waste",
    "interrupted",
    "stopped_early",
    "best_step",
    "train_examples",
    "val_examples",
    "truncated_examples",
    "launcher",
    "world_size",
    "per_process_batch",
    "accumulation",
    "rank_tokens",
)


def _public_facts(facts: dict[str, Any]) -> dict[str, Any]:
    return {k: facts[k] for k in _PUBLIC_FACTS if k in facts}
