"""LoRA fine-tuning shared by the fine-tuning and hybrid backends: datasets, the training loop, saving.

A plain torch loop (measured faster than `transformers.Trainer` on this workload, see
`benchmarks/bench_training.py`): supervised chat examples with the loss on the answer tokens only,
optional causal language modelling on document chunks, dynamic padding over length-sorted batches,
a seeded train/validation split, early stopping on validation loss and the best adapter kept.
Heavy imports (torch, transformers, peft) happen inside functions.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from advisor.atomic import staged_dir, write_text
from advisor.backends.base import BuildSettings, Document, QAPair
from advisor.errors import InputError
from advisor.runrecords import MANIFEST_FILE, METRICS_FILE, Manifest, Measurements

log = logging.getLogger(__name__)

IGNORE = -100
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MODES = ("qa", "documents", "both")
MIN_TRAIN_PAIRS = 8  # pairs needed to train on Q&A (at least 2 of them are held out for validation)
MIN_VAL = 2
MIN_IMPROVEMENT = 1e-4  # a validation loss must beat the best so far by this much to count as better


@dataclass(frozen=True)
class TrainConfig:
    """LoRA and loop settings, checked once when made; defaults measured on the sample corpus with SmolLM2-135M
    (see the report). A build gets its config from its plan (`plan.resolve`), which fills these defaults."""

    mode: str = "qa"
    epochs: int = 6
    lr: float = 1e-3
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ALL_LINEAR
    batch_size: int = 8
    max_length: int = 512
    val_fraction: float = 0.15
    patience: int = 2
    warmup_fraction: float = 0.06
    weight_decay: float = 0.0
    chunk_tokens: int = 256  # document windows for --mode documents|both
    seed: int = 0
    accumulation: int = 1  # gradient accumulation steps; batch_size is the global batch whatever the processes
    gradient_checkpointing: bool = False  # --gradient-checkpointing on, or auto where the memory check needs it
    dtype: str = "fp32"  # the base weights' dtype, resolved from --dtype; the adapter and the loss stay fp32
    quantize: str | None = None  # "4bit": QLoRA on NF4 weights

    @classmethod
    def from_settings(cls, settings: BuildSettings, **defaults: Any) -> "TrainConfig":
        """The config for a build: these defaults, overridden by the arm's, then by the options given."""
        from advisor.backends.precision import resolve_dtype

        values: dict[str, Any] = dict(defaults)
        for key, value in settings.training.model_dump(exclude_none=True).items():
            values["chunk_tokens" if key == "doc_chunk_tokens" else key] = value
        values["gradient_checkpointing"] = values.get("gradient_checkpointing") == "on"  # auto: the memory check
        return cls(seed=settings.seed, dtype=resolve_dtype(settings.device, settings.dtype),
                   quantize=settings.quantize, **values)

    def __post_init__(self) -> None:
        """Normalise option types and reject impossible values with one clear message."""
        modules = self.target_modules
        if isinstance(modules, str):
            modules = tuple(m.strip() for m in modules.split(",") if m.strip())
        object.__setattr__(self, "target_modules", tuple(modules))
        if self.mode not in MODES:
            raise InputError(f"--mode {self.mode!r} is not one of {', '.join(MODES)}")
        for name in ("epochs", "rank", "batch_size", "max_length", "chunk_tokens", "accumulation"):
            value = getattr(self, name)
            if isinstance(value, float) and value.is_integer():  # the CLI parses --epochs as a number
                value = int(value)
                object.__setattr__(self, name, value)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be a positive whole number, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise InputError(f"--lr must be a number between 0 and 1 (e.g. 5e-4), got {self.lr!r}")
        if not 0 <= self.dropout < 1:
            raise InputError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}")
        if not self.target_modules:
            raise InputError("--target-modules is empty; give module names such as q_proj,v_proj or all-linear")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data


@dataclass
class Example:
    """One training sequence: token ids and labels (IGNORE where no loss is taken)."""

    input_ids: list[int]
    labels: list[int]


# ---------------------------------------------------------------------------------------------- datasets


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of a chat prompt up to where the assistant's answer starts (as `Generator.encode_chat`)."""
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    return list(out["input_ids"])


def supervised_example(
    tokenizer: Any, messages: list[dict[str, str]], answer: str, max_length: int
) -> tuple[Example, bool]:
    """The chat prompt followed by the answer and eos; loss on the answer and eos only.

    Too long: the middle of the prompt is cut (its start, the system prompt, and its end, the question and
    the assistant marker, stay) so the answer is always trained on. Returns (example, truncated).
    """
    prompt = prompt_ids(tokenizer, messages)
    answer_ids = list(tokenizer(answer.strip(), add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
    answer_ids = answer_ids[: max(1, max_length // 2)]
    truncated = len(prompt) + len(answer_ids) > max_length
    if truncated:
        room = max_length - len(answer_ids)
        head = min(32, room // 4)
        prompt = prompt[:head] + prompt[len(prompt) - (room - head) :]
    return Example(prompt + answer_ids, [IGNORE] * len(prompt) + answer_ids), truncated


def document_examples(tokenizer: Any, documents: Sequence[Document], chunk_tokens: int) -> list[Example]:
    """Causal language modelling on the documents: consecutive windows of `chunk_tokens`, loss on every token."""
    examples = []
    for doc in documents:
        ids = list(tokenizer(doc.text, add_special_tokens=False)["input_ids"])
        for start in range(0, len(ids), chunk_tokens):
            window = ids[start : start + chunk_tokens]
            if len(window) >= 8:
                examples.append(Example(window, list(window)))
    return examples


def split_pairs(
    pairs: Sequence[QAPair], seed: int, val_fraction: float = 0.15, mode: str = "qa"
) -> tuple[list[QAPair], list[QAPair]]:
    """A seeded train/validation split of the training pairs; too few pairs is an InputError."""
    need = MIN_TRAIN_PAIRS if mode in ("qa", "both") else MIN_VAL
    if len(pairs) < need:
        raise InputError(
            f"fine-tuning needs at least {need} training pairs (after holding out test pairs), got {len(pairs)}: "
            "add pairs to the --qa file or lower --test-fraction"
        )
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_val = min(len(pairs) - 1, max(MIN_VAL, round(val_fraction * len(pairs))))
    val = [pairs[i] for i in sorted(order[:n_val])]
    train = [pairs[i] for i in sorted(order[n_val:])]
    return train, val


def warn_truncated(count: int, total: int, max_length: int) -> None:
    """One warning for every example cut to fit the model's context."""
    if count:
        log.warning(
            "%d of %d training examples were longer than %d tokens and were truncated", count, total, max_length
        )


def max_length_for(model: Any, wanted: int) -> int:
    """The training sequence length: the configured maximum, never beyond the model's context."""
    context = getattr(model.config, "max_position_embeddings", None) or wanted
    return min(wanted, int(context))


# ---------------------------------------------------------------------------------------------- batching


def length_batches(examples: Sequence[Example], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (less padding): shuffle, sort within pools of 16 batches, shuffle batches."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    pool = batch_size * 16
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(examples[i].input_ids))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], pad_id: int, device: str):
    """Right-padded tensors for training: input_ids, attention_mask and labels (padding labelled IGNORE)."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def padding_waste(examples: Sequence[Example], batches: Sequence[Sequence[int]]) -> float:
    """Share of the token slots in these batches that are padding."""
    real = sum(len(examples[i].input_ids) for b in batches for i in b)
    slots = sum(len(b) * max(len(examples[i].input_ids) for i in b) for b in batches)
    return round(1 - real / slots, 4) if slots else 0.0


# ---------------------------------------------------------------------------------------------- model


def linear_module_names(model: Any) -> list[str]:
    """The distinct short names of the model's linear layers (what LoRA can target)."""
    import torch

    names = set()
    for full, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D":
            names.add(full.rsplit(".", 1)[-1])
    return sorted(names)


def add_lora(model: Any, config: TrainConfig):
    """Wrap a fresh model in a LoRA adapter, seeded first (the A matrices are drawn here)."""
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    available = linear_module_names(model)
    targets: str | list[str]
    if config.target_modules in (("all-linear",), ("all",)):
        targets = "all-linear"
    else:
        missing = [m for m in config.target_modules if m not in available]
        if missing:
            raise InputError(
                f"LoRA cannot target {', '.join(missing)}: this model's linear layers are "
                f"{', '.join(available) or 'none'} (use --target-modules with these names, or all-linear)"
            )
        targets = list(config.target_modules)
    if not available:
        raise InputError("this model has no linear layers that LoRA can adapt")
    set_seed(config.seed)
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
        bias="none",
    )
    try:
        with warnings.catch_warnings():  # peft calls a transformers method deprecated in 5.x
            warnings.simplefilter("ignore", FutureWarning)
            return get_peft_model(model, lora)
    except ValueError as exc:  # e.g. a model type peft cannot adapt
        raise InputError(f"LoRA cannot be applied to this model ({str(exc).splitlines()[0]})") from None


# ---------------------------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    """What a training run produced: the adapted model (best weights loaded), its loss curve and facts."""

    model: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        return bool(self.facts.get("interrupted"))


def causal_loss_sum(model: Any, batch: dict[str, Any]):
    """Summed next-token loss over the labelled positions and how many there are (tensor, int).

    With answer-only labels most positions carry no loss; projecting just the labelled ones onto the
    vocabulary saves the time and memory of full (batch x length x vocabulary) logits. Models whose
    output head does more than a linear projection fall back to their own (mean) loss, times the count.
    A sum rather than a mean lets data-parallel ranks weight their shards by the global token count.
    """
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    config = base.config
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE
    count = int(keep.sum())
    plain_head = (
        head is not None
        and decoder is not None
        and decoder is not base
        and not getattr(config, "final_logit_softcapping", None)
        and getattr(config, "logit_scale", None) in (None, 1, 1.0)
    )
    if not plain_head or head is None or decoder is None:
        return model(**batch).loss * count, count
    hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     use_cache=False).last_hidden_state
    logits = head(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), labels[keep], reduction="sum"), count


def causal_loss(model: Any, batch: dict[str, Any]):
    """Mean next-token loss over the labelled positions (see `causal_loss_sum`)."""
    total, count = causal_loss_sum(model, batch)
    return total / max(count, 1)


def labelled(example: Example) -> int:
    """Positions of an example that carry loss (labels are shifted by one, as in `causal_loss_sum`)."""
    return sum(1 for label in example.labels[1:] if label != IGNORE)


def validation_loss(model: Any, examples: Sequence[Example], batch_size: int, pad_id: int, device: str) -> float | None:
    """Mean loss per labelled token over the validation set; logits are dropped batch by batch.

    Under a launcher each rank scores its shard of the (length-sorted) examples and the sums are added up,
    so every rank gets the same number and takes the same early-stopping decision.
    """
    import torch

    from advisor.backends import distributed

    if not examples:
        return None
    total, count = 0.0, 0.0
    was_training = model.training
    model.eval()
    order = distributed.shard(sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids)))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = collate([examples[i] for i in order[start : start + batch_size]], pad_id, device)
            loss_sum, n = causal_loss_sum(model, batch)
            total += float(loss_sum)
            count += float(n)
    if was_training:
        model.train()
    total, count = distributed.all_sum([total, count])
    return total / count if count else None


def _loss_module(peft_model: Any):
    """The adapted model behind a forward() that returns (summed loss, labelled count): what DDP wraps, so the
    gradient all-reduce hooks run while the loss keeps its labelled-positions-only projection."""
    import torch

    class LossOnly(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, **batch: Any):
            total, count = causal_loss_sum(self.model, batch)
            return total, torch.tensor(count)

    return LossOnly(peft_model)


def micro_batches(global_batch: Sequence[int], rank: int, size: int, accumulation: int) -> list[list[int]]:
    """This rank's share of one global batch, split into `accumulation` forward passes (some may be empty)."""
    mine = list(global_batch[rank::size])
    return [mine[i::accumulation] for i in range(accumulation)]


def make_accelerator(device: str, accumulation: int, dtype: str = "fp32"):
    """An `accelerate.Accelerator` on the launched process group (or a plain single process), autocasting to the
    weights' dtype (mixed precision: the fp32 adapter's matmuls run in bf16/fp16, its weights and AdamW stay fp32)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from advisor.backends import distributed
    from advisor.backends.precision import mixed_precision

    distributed.ensure_group()
    wanted = mixed_precision(dtype)
    held = AcceleratorState._shared_state.get("_mixed_precision")  # read without creating the state
    if held is not None and str(held) != wanted:
        # accelerate keeps one mixed-precision setting per process; a later run (a test, a notebook, `advisor
        # serve`) may hold its weights in another dtype. Only the setting is reset; the process group stays.
        AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(cpu=device == "cpu", gradient_accumulation_steps=accumulation, mixed_precision=wanted)


def prepare_for_training(model: Any, config: TrainConfig) -> None:
    """Before the adapter is added: 4-bit weights through peft's `prepare_model_for_kbit_training` (the rest cast to
    fp32, checkpointing as configured); otherwise gradient checkpointing when configured. Non-reentrant
    checkpointing needs no gradient on the frozen embeddings' output."""
    kwargs = {"use_reentrant": False}
    if config.quantize:
        from peft import prepare_model_for_kbit_training

        prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing,
                                        gradient_checkpointing_kwargs=kwargs)
    elif config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if config.gradient_checkpointing:
        model.config.use_cache = False


def train_lora(
    model: Any,
    train_examples: Sequence[Example],
    val_examples: Sequence[Example],
    config: TrainConfig,
    pad_id: int,
    device: str = "cpu",
    on_step: Callable[[int, float], None] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a LoRA adapter on `model` (a fresh copy: it is modified); early stopping on validation loss.

    Runs through `accelerate`: under torchrun / accelerate launch each rank takes its shard of every global
    batch (config.batch_size = per-process batch × processes × accumulation) and gradients are averaged
    so each step equals the one-process step; losses are summed over the ranks before they are logged.
    `on_step(step, loss)` is called after every optimiser step (tests use it to inject a Ctrl-C).
    A KeyboardInterrupt stops training; the best weights so far are kept and `facts["interrupted"]` is true.
    """
    from advisor.backends import distributed
    from advisor.backends.measure import measure

    if not train_examples:
        raise InputError("nothing to train on: no training examples were built")
    world = distributed.world()
    per_process = distributed.per_process_batch(config.batch_size, config.accumulation, world)
    distributed.check_sizes(len(train_examples), None, world)
    if device.startswith("cuda"):  # the peak recorded is this run's, not an earlier stage's of the process
        import torch

        torch.cuda.reset_peak_memory_stats()
    run = _set_up(model, train_examples, config, pad_id, device, world)
    rng = random.Random(config.seed)
    state = LoopState()
    bar = _progress_bar(run.total_steps, progress and world.is_main)
    with measure() as measured:
        try:
            for epoch in range(config.epochs):
                _train_epoch(run, state, epoch, length_batches(train_examples, config.batch_size, rng), bar, on_step)
                state.epoch_done = epoch + 1
                if _validate(run, state, val_examples, bar):
                    break
        except KeyboardInterrupt:
            state.interrupted = True
            log.warning("training interrupted at step %d; keeping the best adapter so far", state.step)
        finally:
            bar.close()
            run.accelerator.free_memory()
    rank_tokens = distributed.all_gather(state.own_tokens) if not state.interrupted else [state.own_tokens]
    _restore_best(run.peft_model, state.best_state)
    peak = _peak_memory_mb(device, measured.peak_memory_mb)
    run.peft_model.eval()
    facts = _facts(run, state, len(val_examples), measured.seconds, peak, per_process, rank_tokens)
    return TrainResult(run.peft_model, state.history, facts)


@dataclass
class LoopState:
    """What the training loop has done so far: steps, the best adapter, token counts, losses, how it ended."""

    step: int = 0
    epoch_done: int = 0
    best_val: float = math.inf
    best_state: dict[str, Any] | None = None  # trainable weights of the best adapter, on the CPU
    best_step: int = 0
    bad_evals: int = 0  # validations in a row without a new best
    real_tokens: int = 0  # summed over the ranks
    slot_tokens: int = 0
    own_tokens: int = 0  # this rank's
    step_seconds: float = 0.0
    last_loss: float | None = None
    last_val: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    stopped_early: bool = False

    def keep_or_stop(self, patience: int, snapshot: Callable[[], dict[str, Any]]) -> bool:
        """Judge the epoch's validation loss (`last_val`): a new best keeps `snapshot()` and resets the count
        of bad validations; otherwise True once `patience` validations in a row have not improved.
        Without a validation set every epoch's adapter counts as the best."""
        if self.last_val is None or self.last_val < self.best_val - MIN_IMPROVEMENT:
            self.best_val = self.last_val if self.last_val is not None else math.inf
            self.best_state, self.best_step, self.bad_evals = snapshot(), self.step, 0
            return False
        self.bad_evals += 1
        self.stopped_early = self.bad_evals >= patience
        return self.stopped_early


@dataclass
class _Run:
    """The fixed parts of one training run: settings, data, the adapted model and its optimisation."""

    config: TrainConfig
    world: Any  # distributed.World
    examples: Sequence[Example]
    weights: list[int]  # labelled positions of each training example
    pad_id: int
    device: str
    peft_model: Any
    loss_model: Any  # peft_model behind a forward() returning (summed loss, count), prepared by accelerate
    accelerator: Any
    optimizer: Any
    scheduler: Any
    params: list[Any]
    trainable: int
    total_steps: int


def _set_up(
    model: Any, train_examples: Sequence[Example], config: TrainConfig, pad_id: int, device: str, world: Any
) -> _Run:
    """Wrap the model in a seeded LoRA adapter and prepare it with AdamW and a linear warm-up schedule."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    prepare_for_training(model, config)
    peft_model = add_lora(model, config)
    if not config.quantize:  # bitsandbytes places 4-bit weights when loading; they cannot be moved
        peft_model.to(device)
    peft_model.train()
    accelerator = make_accelerator(device, config.accumulation, config.dtype)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    # The scheduler is stepped by hand once per global step: accelerate's wrapper would step it once per process.
    loss_model, optimizer = accelerator.prepare(_loss_module(peft_model), optimizer)
    total_steps = math.ceil(len(train_examples) / config.batch_size) * config.epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, max(1, int(config.warmup_fraction * total_steps)), total_steps
    )
    weights = [labelled(e) for e in train_examples]
    return _Run(
        config=config, world=world, examples=train_examples, weights=weights, pad_id=pad_id, device=device,
        peft_model=peft_model, loss_model=loss_model, accelerator=accelerator, optimizer=optimizer,
        scheduler=scheduler, params=params, trainable=trainable, total_steps=total_steps,
    )


def _progress_bar(total_steps: int, show: bool):
    """A bar of optimiser steps on stderr (the main process only), showing the last train and validation loss."""
    from tqdm.auto import tqdm

    return tqdm(total=total_steps, unit="step", desc="training", file=sys.stderr, disable=not show, dynamic_ncols=True)


def _show_losses(bar: Any, state: LoopState) -> None:
    """The last train and validation loss beside the bar."""
    bar.set_postfix(loss=f"{state.last_loss:.3f}", val="-" if state.last_val is None else f"{state.last_val:.3f}")


def _train_epoch(
    run: _Run,
    state: LoopState,
    epoch: int,
    batches: list[list[int]],
    bar: Any,
    on_step: Callable[[int, float], None] | None,
) -> None:
    """One pass over the global batches: a step each, logged in the history and on the bar, then `on_step`."""
    from advisor.backends import distributed

    for batch_idx in batches:
        start = time.perf_counter()
        loss_sum, real, slots = _global_step(run, state, batch_idx)
        state.last_loss = loss_sum / max(1, sum(run.weights[i] for i in batch_idx))
        state.step_seconds += time.perf_counter() - start
        state.step += 1
        state.real_tokens += int(real)
        state.slot_tokens += int(slots)
        state.history.append(
            {"step": state.step, "epoch": epoch + 1, "train_loss": round(state.last_loss, 5), "val_loss": None}
        )
        bar.update(1)
        _show_losses(bar, state)
        distributed.maybe_kill(state.step)
        if on_step is not None:
            on_step(state.step, state.last_loss)


def _global_step(run: _Run, state: LoopState, batch_idx: list[int]) -> list[float]:
    """One optimiser step; (loss sum, real tokens, token slots) summed over the ranks. A failing rank stops
    the run (fail_fast) rather than leave its partners waiting in the next collective."""
    from advisor.backends import distributed

    try:
        loss_sum, real, slots = _one_step(run, batch_idx)
        state.own_tokens += real
        return distributed.all_sum([loss_sum, real, slots])
    except (KeyboardInterrupt, InputError):
        raise
    except Exception as exc:
        distributed.fail_fast(f"training step {state.step + 1}", exc)
        raise


def _one_step(run: _Run, batch_idx: list[int]) -> tuple[float, int, int]:
    """One optimiser step on a global batch: (summed loss of this rank's share, its real and slot tokens)."""
    config, world, accelerator = run.config, run.world, run.accelerator
    scale = world.size * config.accumulation / max(1, sum(run.weights[i] for i in batch_idx))
    loss_sum, real, slots = 0.0, 0, 0
    for part in micro_batches(batch_idx, world.rank, world.size, config.accumulation):
        # A rank with no example left in a short last batch still joins the all-reduce, with weight 0.
        batch = collate([run.examples[i] for i in (part or batch_idx[:1])], run.pad_id, run.device)
        with accelerator.accumulate(run.loss_model):
            total, _ = run.loss_model(**batch)
            accelerator.backward(total * (scale if part else 0.0))
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(run.params, 1.0)
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)
        if part:
            loss_sum += float(total.detach())
            real += int(batch["attention_mask"].sum())
            slots += batch["attention_mask"].numel()
    run.scheduler.step()
    return loss_sum, real, slots


def _validate(run: _Run, state: LoopState, val_examples: Sequence[Example], bar: Any) -> bool:
    """The validation loss after an epoch, logged; the best adapter kept. True to stop early."""
    state.last_val = validation_loss(run.peft_model, val_examples, run.config.batch_size * 2, run.pad_id, run.device)
    state.history[-1]["val_loss"] = _rounded(state.last_val)
    _show_losses(bar, state)
    return state.keep_or_stop(run.config.patience, lambda: _trainable_weights(run.peft_model))


def _trainable_weights(peft_model: Any) -> dict[str, Any]:
    """A CPU copy of the adapter's trainable weights (what the best adapter is restored from)."""
    return {n: p.detach().to("cpu", copy=True) for n, p in peft_model.named_parameters() if p.requires_grad}


def _restore_best(peft_model: Any, best_state: dict[str, Any] | None) -> None:
    """Load the best adapter's weights back into the model (nothing to do when no epoch finished)."""
    import torch

    if best_state is None:
        return
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if name in best_state:
                param.copy_(best_state[name].to(param.device))


def _peak_memory_mb(device: str, measured_mb: float) -> float:
    """The run's peak memory: the GPU's allocator peak on CUDA, else the process's measured peak."""
    import torch

    return torch.cuda.max_memory_allocated() / 1e6 if device.startswith("cuda") else measured_mb


def _rounded(loss: float | None) -> float | None:
    """A loss as logged and recorded (5 decimals), None kept."""
    return None if loss is None else round(loss, 5)


def _facts(
    run: _Run,
    state: LoopState,
    val_examples: int,
    seconds: float,
    peak_mb: float,
    per_process: int,
    rank_tokens: list[Any],
) -> dict[str, Any]:
    """What the run did and measured, for the training record (training_config.json) and the reports."""
    return {
        "seconds": seconds,
        "steps": state.step,
        "epochs": state.epoch_done,
        "best_step": state.best_step,
        "train_examples": len(run.examples),
        "val_examples": val_examples,
        "trainable_parameters": run.trainable,
        "final_train_loss": _rounded(state.last_loss),
        "final_val_loss": _rounded(state.last_val),
        "best_val_loss": None if state.best_val == math.inf else round(state.best_val, 5),
        "peak_memory_mb": round(peak_mb, 1),
        "tokens_per_second": round(state.real_tokens / state.step_seconds, 1) if state.step_seconds else 0.0,
        "padding_waste": round(1 - state.real_tokens / state.slot_tokens, 4) if state.slot_tokens else 0.0,
        "stopped_early": state.stopped_early,
        "interrupted": state.interrupted,
        "launcher": run.world.launcher,
        "world_size": run.world.size,
        "per_process_batch": per_process,
        "accumulation": run.config.accumulation,
        "rank_tokens": rank_tokens,  # real tokens each rank trained on: proof that every rank took its share
    }


# ---------------------------------------------------------------------------------------------- saving


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: the best adapter so far was saved to `path` (marked interrupted)."""

    def __init__(self, path: Path):
        super().__init__(f"training interrupted; the best adapter so far is in {path} (marked interrupted)")
        self.path = path


def versions() -> dict[str, str]:
    """Library versions that shape a trained adapter, for its training record."""
    import peft
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }


def is_complete_build(folder: Path) -> bool:
    """True when `folder` holds a finished (not interrupted) build."""
    from advisor.runrecords import read_manifest

    try:
        return not read_manifest(folder).interrupted
    except InputError:
        return False


def scratch_dir(out: Path) -> Path:
    """A private working folder beside `out` (same file system, so publishing is a rename).

    Under a launcher only the main process publishes; the other ranks work in the system's temporary folder,
    so a rank that is killed leaves nothing beside `out`.
    """
    from advisor.backends import distributed

    if not distributed.is_main():
        return Path(tempfile.mkdtemp(prefix=f"advisor-rank{distributed.world().rank}-"))
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))


def publish(work: Path, out: Path, interrupted: bool) -> Path:
    """Move a finished working folder into place atomically and return where it went.

    An interrupted build never replaces a finished one: it goes to `out/interrupted` instead.
    """
    target = out / "interrupted" if interrupted and is_complete_build(out) else out
    with staged_dir(target) as tmp:
        for entry in work.iterdir():
            os.replace(entry, tmp / entry.name)
    shutil.rmtree(work, ignore_errors=True)
    return target


def write_training_record(
    folder: Path, result: TrainResult, config: TrainConfig, manifest: dict[str, Any], extra_config: dict[str, Any]
) -> None:
    """Save the adapter (peft format), training_config.json, loss.json, loss.svg and manifest.json."""
    from advisor.backends.plots import loss_svg

    folder = Path(folder)
    result.model.save_pretrained(str(folder / "adapter"))
    record = {"config": config.to_json(), **extra_config, "versions": versions(), "facts": result.facts}
    write_text(folder / "training_config.json", json.dumps(record, indent=2) + "\n")
    write_text(folder / "loss.json", json.dumps({"steps": result.history}, indent=1) + "\n")
    write_text(folder / "loss.svg", loss_svg(result.history))
    written = Manifest.model_validate({**manifest, "interrupted": result.interrupted})
    write_text(folder / MANIFEST_FILE, written.to_text())
    if result.interrupted:
        # The build never reached evaluation: a metrics file that says so, with what training achieved.
        stopped = Measurements.model_validate({"approach": manifest.get("approach"), "interrupted": True,
                                               "train": result.facts})
        write_text(folder / METRICS_FILE, stopped.to_text())


def load_adapter(out: Path, generator: str, device: str, dtype: str = "fp32", quantize: str | None = None):
    """The base model (weights in `dtype`, or 4-bit) with the adapter saved in `out/adapter`, ready to answer."""
    from peft import PeftModel

    from advisor.backends.generator import load_model

    adapter = Path(out) / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise InputError(f"{out} holds no trained adapter (expected {adapter}/adapter_config.json); build it first")
    base = load_model(generator, device, dtype, quantize)
    with warnings.catch_warnings():  # peft calls a transformers method deprecated in 5.x
        warnings.simplefilter("ignore", FutureWarning)
        model = PeftModel.from_pretrained(base, str(adapter))
    return (model if quantize else model.to(device)).eval()


def elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 3)
