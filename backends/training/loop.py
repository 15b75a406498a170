"""The training loop: seeded AdamW with warm-up through accelerate, one global batch per step (sharded over the
ranks under a launcher), validation after each epoch, early stopping and the best adapter kept."""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from advisor.backends.training.config import TrainConfig
from advisor.backends.training.examples import Example, collate, length_batches
from advisor.backends.training.lora import add_lora, labelled, loss_module, prepare_for_training, validation_loss
from advisor.errors import InputError

log = logging.getLogger(__name__)

MIN_IMPROVEMENT = 1e-4  # a validation loss must beat the best so far by this much to count as better


@dataclass
class TrainResult:
    """What a training run produced: the adapted model (best weights loaded), its loss curve and facts."""

    model: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        """True when Ctrl-C stopped the run (the best adapter so far is kept)."""
        return bool(self.facts.get("interrupted"))


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
    loss_model, optimizer = accelerator.prepare(loss_module(peft_model), optimizer)
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
