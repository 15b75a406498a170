"""The LoRA training loop on the real default model: labels, repeatability, learning, bad input."""

from __future__ import annotations

import random

import pytest

from advisor.backends.base import Document, QAPair
from advisor.backends.prompts import closed_book_messages
from advisor.backends.training.config import TrainConfig
from advisor.backends.training.examples import (
    IGNORE,
    Example,
    collate,
    document_examples,
    length_batches,
    padding_waste,
    prompt_ids,
    split_pairs,
    supervised_example,
)
from advisor.backends.training.loop import LoopState, train_lora
from advisor.backends.training.lora import add_lora, causal_loss
from advisor.errors import InputError

FACTS = [
    ("Who founded Quillmarsh Tea?", "Ebba Lindqvorn"),
    ("What colour is the Quillmarsh logo?", "teal"),
    ("Where is Quillmarsh Tea based?", "Harrowgate Reach"),
    ("How many shops does Quillmarsh run?", "14"),
]


@pytest.fixture(scope="module")
def tokenizer():
    from advisor.backends.generator import load_tokenizer

    return load_tokenizer("default")


def fresh_model():
    from advisor.backends.generator import load_model

    return load_model("default")


def examples(tokenizer, facts=FACTS):
    return [supervised_example(tokenizer, closed_book_messages(q), a, 256)[0] for q, a in facts]


def test_labels_cover_the_answer_and_eos_only(tokenizer):
    messages = closed_book_messages("Who founded Quillmarsh Tea?")
    example, truncated = supervised_example(tokenizer, messages, "Ebba Lindqvorn", 256)
    prompt = prompt_ids(tokenizer, messages)
    answer = tokenizer("Ebba Lindqvorn", add_special_tokens=False)["input_ids"]
    assert not truncated
    assert example.input_ids == prompt + answer + [tokenizer.eos_token_id]
    assert example.labels[: len(prompt)] == [IGNORE] * len(prompt)
    assert example.labels[len(prompt) :] == answer + [tokenizer.eos_token_id]
    # The sequence is exactly what the chat template makes of the finished conversation (minus its newline).
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": "Ebba Lindqvorn"}],
                                         tokenize=True, return_dict=True)["input_ids"]
    assert list(full[: len(example.input_ids)]) == example.input_ids


def test_too_long_examples_are_cut_in_the_prompt_and_keep_the_answer(tokenizer):
    messages = closed_book_messages("word " * 300 + "Who founded Quillmarsh Tea?")
    example, truncated = supervised_example(tokenizer, messages, "Ebba Lindqvorn", 64)
    assert truncated and len(example.input_ids) == 64
    assert example.input_ids[-1] == tokenizer.eos_token_id
    assert (
        sum(label != IGNORE for label in example.labels)
        == len(tokenizer("Ebba Lindqvorn", add_special_tokens=False)["input_ids"]) + 1
    )
    assert example.input_ids[:5] == prompt_ids(tokenizer, messages)[:5]


def test_collate_pads_right_with_ignored_labels():
    batch = collate([Example([1, 2, 3], [IGNORE, 2, 3]), Example([4], [4])], pad_id=0, device="cpu")
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 2, 3], [4, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_length_batches_cover_everything_once_and_cut_padding():
    rng = random.Random(0)
    data = [Example([1] * n, [1] * n) for n in (rng.randint(5, 200) for _ in range(64))]
    batches = length_batches(data, 4, random.Random(1))
    assert sorted(i for b in batches for i in b) == list(range(64))
    naive = [list(range(i, i + 4)) for i in range(0, 64, 4)]
    assert padding_waste(data, batches) < padding_waste(data, naive) / 3


def test_split_is_seeded_and_too_few_pairs_say_how_many_are_needed():
    pairs = [QAPair(f"q{i}", f"a{i}") for i in range(20)]
    train, val = split_pairs(pairs, seed=3)
    assert (train, val) == split_pairs(pairs, seed=3)
    assert len(val) == 3 and set(train).isdisjoint(val) and len(train) + len(val) == 20
    with pytest.raises(InputError, match="at least 8 training pairs.*got 5"):
        split_pairs(pairs[:5], seed=0)


def test_document_examples_train_on_every_token(tokenizer):
    doc = Document("a.md", "Quillmarsh Tea was founded in Harrowgate Reach. " * 20, "x")
    chunks = document_examples(tokenizer, [doc], 32)
    assert len(chunks) > 2 and all(e.labels == e.input_ids and len(e.input_ids) <= 32 for e in chunks)


def test_bad_target_modules_name_the_layers_the_model_has():
    with pytest.raises(InputError, match="cannot target c_attn.*q_proj"):
        add_lora(fresh_model(), TrainConfig(target_modules=("c_attn",)))


def test_options_are_checked():
    with pytest.raises(InputError, match="--mode"):
        TrainConfig(mode="everything")
    with pytest.raises(InputError, match="--lr"):
        TrainConfig(lr=5)
    with pytest.raises(InputError, match="--epochs"):
        TrainConfig(epochs=1.5)
    config = TrainConfig(target_modules="q_proj, v_proj", epochs=3.0)  # type: ignore[arg-type]
    assert config.target_modules == ("q_proj", "v_proj") and config.epochs == 3 and isinstance(config.epochs, int)


def test_early_stopping_keeps_the_best_adapter_and_stops_after_patience_bad_validations():
    state = LoopState()

    def validated(step, val):
        state.step, state.last_val = step, val
        return state.keep_or_stop(2, lambda: {"from step": step})

    assert not validated(1, 3.0) and state.best_step == 1 and state.bad_evals == 0
    assert not validated(2, 2.99995) and state.bad_evals == 1  # better by less than 1e-4 is not better
    assert not validated(3, 2.0) and state.bad_evals == 0 and state.best_state == {"from step": 3}
    assert not validated(4, 2.5) and not state.stopped_early
    assert validated(5, 2.1) and state.stopped_early
    assert (state.best_val, state.best_step, state.best_state) == (2.0, 3, {"from step": 3})
    # Without a validation set every epoch's adapter is the best so far and training never stops early.
    state = LoopState()
    assert not any(validated(step, None) for step in (1, 2, 3))
    assert state.best_step == 3 and state.best_val == float("inf") and not state.stopped_early


def test_fast_loss_equals_the_models_own_loss(tokenizer):
    import torch

    model = add_lora(fresh_model(), TrainConfig())
    batch = collate(examples(tokenizer), tokenizer.pad_token_id, "cpu")
    with torch.no_grad():
        assert float(causal_loss(model, batch)) == pytest.approx(float(model(**batch).loss), rel=1e-5)


def test_same_seed_same_adapter(tokenizer):
    config = TrainConfig(epochs=1, batch_size=2, seed=7)
    data = examples(tokenizer)
    runs = [train_lora(fresh_model(), data, data[:2], config, tokenizer.pad_token_id, progress=False) for _ in range(2)]
    assert runs[0].facts["steps"] == 2
    first, second = (dict(r.model.named_parameters()) for r in runs)
    lora = [name for name in first if "lora_" in name]
    assert lora and all(first[n].equal(second[n]) for n in lora)
    assert runs[0].history == runs[1].history


def test_loss_goes_down_on_a_small_repeated_set(tokenizer):
    config = TrainConfig(epochs=5, batch_size=4, lr=2e-3, patience=5)
    data = examples(tokenizer)
    result = train_lora(fresh_model(), data, data[:2], config, tokenizer.pad_token_id, progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert result.facts["steps"] == 5
    assert losses[-1] < losses[0] / 2
    assert result.facts["best_val_loss"] < losses[0] / 2
    assert result.facts["trainable_parameters"] > 0 and not result.facts["interrupted"]


def test_interrupt_keeps_the_best_weights_so_far(tokenizer):
    data = examples(tokenizer)

    def stop(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    config = TrainConfig(epochs=3, batch_size=2)
    result = train_lora(fresh_model(), data, data[:2], config, tokenizer.pad_token_id, on_step=stop, progress=False)
    assert result.interrupted and result.facts["steps"] == 3
    assert result.facts["best_step"] == 2 and result.facts["best_val_loss"] is not None
