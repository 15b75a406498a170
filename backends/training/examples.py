"""Training examples and their batches: chat examples with the loss on the answer, document windows, the
seeded train/validation split, length-sorted batches and right-padded tensors. torch is imported only to
collate."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from advisor.backends.base import Document, QAPair
from advisor.errors import InputError

log = logging.getLogger(__name__)

IGNORE = -100  # the label of positions that carry no loss
MIN_TRAIN_PAIRS = 8  # pairs needed to train on Q&A (at least 2 of them are held out for validation)
MIN_VAL = 2


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
