"""The LoRA adapter and its loss: which layers it targets, attaching it, and the next-token loss taken on the
labelled positions only. torch and peft are imported inside the functions."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from advisor.backends.training.config import TrainConfig
from advisor.backends.training.examples import IGNORE, Example, collate
from advisor.errors import InputError, first_line


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
        raise InputError(f"LoRA cannot be applied to this model ({first_line(exc)})") from None


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


def loss_module(peft_model: Any):
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
