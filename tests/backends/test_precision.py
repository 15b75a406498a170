"""Precision and memory: --dtype, --gradient-checkpointing, --quantize and the memory check before loading.

The memory check's tests need no model (a config.json is enough, and the default's shape is read from its
converted copy or its GGUF header); the bf16 and checkpointing tests train the real default model briefly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor.backends.base import BuildSettings
from advisor.backends.memory import GB, ModelShape, check_plans, estimate, model_shape, workload
from advisor.backends.options import TrainingOptions
from advisor.backends.precision import resolve_dtype
from advisor.cli import main
from advisor.errors import InputError
from tests.support.cli import assert_input_error

# The shape of an 8B Llama-3-style model (the sizes its config.json gives).
LLAMA_8B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
            "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False,
            "max_position_embeddings": 8192, "torch_dtype": "bfloat16"}
# bf16 loss tolerance: bf16 keeps 8 bits of mantissa, so the small early LoRA updates are partly rounded away
# when added to bf16 outputs; over these 5 steps each step's train loss and the best validation loss stay within
# 5 % of fp32's (measured: 0.1 % at the first step, at most 3.6 % after, 0.8 % on the validation loss).
BF16_LOSS_TOLERANCE = 0.05


def config_folder(tmp_path: Path, config: dict) -> Path:
    """A model folder holding only a config.json: enough for the memory check, which loads nothing."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def plans_for(generator: str, qa_file: Path, tmp_path: Path, **settings):
    from advisor.backends.runner import load_inputs

    inputs = load_inputs(None, qa_file, BuildSettings(generator=generator, **settings), ["fine-tuning"])
    return inputs


def test_the_default_models_parameters_are_counted_exactly_from_its_config():
    shape = model_shape("default")
    assert shape is not None and shape.layers == 30 and shape.hidden == 576 and shape.tied
    assert shape.params == 134_515_008  # sum of numel() over the loaded model's parameters


def test_8b_figures_follow_from_the_config(tmp_path):
    shape = ModelShape.from_config(LLAMA_8B)
    assert shape.params == pytest.approx(8.03e9, rel=0.01)  # Llama-3-8B's published size
    assert shape.lora_params(8, ("all-linear",)) == pytest.approx(21.0e6, rel=0.01)
    work = workload_like(train_batch=8, train_tokens=512, loss_tokens=64)
    bf16 = estimate(shape, work, "bf16", None, False, "cuda")
    nf4 = estimate(shape, work, "bf16", "4bit", True, "cuda")
    assert 16.0 * GB < bf16.weights < 16.2 * GB
    assert nf4.weights < bf16.weights / 2 and nf4.total < 16 * GB


def workload_like(**fields):
    from advisor.backends.memory import Workload

    return Workload(answer_batch=8, prompt_tokens=64, new_tokens=32, **fields)


def test_auto_dtype_is_fp32_on_cpu_and_fp16_is_refused_there():
    assert resolve_dtype("cpu", "auto") == "fp32" and resolve_dtype("cpu", "bf16") == "bf16"
    with pytest.raises(InputError, match="--dtype fp16 needs a GPU"):
        BuildSettings(dtype="fp16")


def test_a_possible_configuration_is_accepted_with_its_estimate(qa_file, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_MEMORY_GB", "24")
    inputs = plans_for("default", qa_file, tmp_path)
    plans = check_plans(inputs.plans, inputs.train, inputs.test)
    plan = plans["fine-tuning"]
    assert plan.memory is not None and 0.5 * GB < plan.memory.total < 4 * GB
    assert plan.training is not None and plan.training.gradient_checkpointing is False
    assert plan.precision()["dtype"] == "fp32" and plan.precision()["memory"]["estimate_mb"] > 500


def test_auto_checkpointing_turns_on_only_where_training_would_not_fit_without_it(qa_file, tmp_path, monkeypatch):
    inputs = plans_for("default", qa_file, tmp_path, training=TrainingOptions(batch_size=8))
    shape = model_shape("default")
    assert shape is not None
    work = workload(inputs.plans["fine-tuning"], inputs.train, inputs.test, shape, copies=2)
    off, on = (estimate(shape, work, "fp32", None, ckpt, "cpu").total for ckpt in (False, True))
    assert on < off
    monkeypatch.setenv("ADVISOR_MEMORY_GB", str((on + off) / 2 / GB))
    plan = check_plans(inputs.plans, inputs.train, inputs.test)["fine-tuning"]
    assert plan.training is not None and plan.training.gradient_checkpointing is True
    refused = plans_for("default", qa_file, tmp_path, training=TrainingOptions(gradient_checkpointing="off"))
    with pytest.raises(InputError, match=r"memory check: fine-tuning needs about .* would fit with "
                                         r".*--gradient-checkpointing \("):
        check_plans(refused.plans, refused.train, refused.test)


def test_an_impossible_configuration_is_refused_before_loading_with_what_would_fit(tmp_path, qa_file, monkeypatch):
    monkeypatch.setenv("ADVISOR_MEMORY_GB", "48")
    folder = config_folder(tmp_path, LLAMA_8B)  # no weights at all: anything that tried to load them would fail
    result = CliRunner().invoke(main, ["build", "fine-tuning", "--generator", str(folder), "--qa", str(qa_file),
                                       "--out", str(tmp_path / "out"), "--quiet"])
    # build answers with the tuned model and the untouched one (the baseline), so it holds the weights twice
    assert_input_error(result, "memory check: fine-tuning needs about", "weights 64.2 GB fp32 in two copies",
                       "48.0 GB is available per process on cpu", "--dtype bf16 (", "each holds all the weights")
    assert not (tmp_path / "out").exists()


def test_nothing_fits_says_so(tmp_path, qa_file, monkeypatch):
    monkeypatch.setenv("ADVISOR_MEMORY_GB", "4")
    folder = config_folder(tmp_path, LLAMA_8B)
    result = CliRunner().invoke(main, ["build", "fine-tuning", "--generator", str(folder), "--qa", str(qa_file),
                                       "--out", str(tmp_path / "out"), "--dtype", "bf16", "--quiet"])
    assert_input_error(result, "weights 32.1 GB bf16 in two copies", "nothing here makes it fit")


@pytest.mark.parametrize("extra, fragments", [
    (["--quantize", "4bit"], ["--quantize 4bit", "CUDA GPU", "--device is cpu", "advisor[gpu]"]),
    (["--quantize", "4bit", "--device", "cuda"], ["--quantize 4bit needs the bitsandbytes package"]),
    (["--dtype", "fp16"], ["--dtype fp16 needs a GPU"]),
    (["--gradient-checkpointing", "sometimes"], []),
])
def test_precision_options_without_what_they_need_are_one_line(tmp_path, qa_file, extra, fragments):
    result = CliRunner().invoke(main, ["build", "fine-tuning", "--qa", str(qa_file), "--out", str(tmp_path / "out"),
                                       "--quiet", *extra])
    if fragments:
        assert_input_error(result, *fragments)
    else:
        assert result.exit_code == 2 and "Traceback" not in result.output


# ---------------------------------------------------------------------------------------------- real training


@pytest.fixture(scope="module")
def tokenizer():
    from advisor.backends.generator import load_tokenizer

    return load_tokenizer("default")


def train(tokenizer, **config):
    from advisor.backends.generator import load_model
    from advisor.backends.prompts import closed_book_messages
    from advisor.backends.training.config import TrainConfig
    from advisor.backends.training.examples import supervised_example
    from advisor.backends.training.loop import train_lora

    facts = [("Who founded Quillmarsh Tea?", "Ebba Lindqvorn"), ("What colour is the Quillmarsh logo?", "teal"),
             ("Where is Quillmarsh Tea based?", "Harrowgate Reach"), ("How many shops does Quillmarsh run?", "14")]
    data = [supervised_example(tokenizer, closed_book_messages(q), a, 256)[0] for q, a in facts]
    settings = TrainConfig(epochs=5, batch_size=4, lr=2e-3, patience=5, seed=3, **config)
    model = load_model("default", "cpu", settings.dtype)
    return train_lora(model, data, data[:2], settings, tokenizer.pad_token_id, progress=False)


@pytest.mark.slow
def test_bf16_trains_with_fp32_adapter_and_a_loss_close_to_fp32s(tokenizer):
    import torch

    full, half = train(tokenizer), train(tokenizer, dtype="bf16")
    params = dict(half.model.named_parameters())
    assert any(p.dtype == torch.bfloat16 for n, p in params.items() if "lora_" not in n)
    assert all(p.dtype == torch.float32 for n, p in params.items() if "lora_" in n)
    pairs = list(zip(full.history, half.history))
    assert len(pairs) == 5 and half.history[-1]["train_loss"] < half.history[0]["train_loss"] / 2  # it learns
    for a, b in pairs:
        assert math.isclose(a["train_loss"], b["train_loss"], rel_tol=BF16_LOSS_TOLERANCE), (a, b)
    assert math.isclose(full.facts["best_val_loss"], half.facts["best_val_loss"], rel_tol=BF16_LOSS_TOLERANCE)


@pytest.mark.slow
def test_gradient_checkpointing_gives_the_same_loss(tokenizer):
    plain, checkpointed = train(tokenizer), train(tokenizer, gradient_checkpointing=True)
    assert checkpointed.model.get_base_model().is_gradient_checkpointing
    assert not plain.model.get_base_model().is_gradient_checkpointing
    for a, b in zip(plain.history, checkpointed.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
    assert plain.facts["best_val_loss"] == pytest.approx(checkpointed.facts["best_val_loss"], abs=1e-4)


@pytest.mark.slow
def test_build_and_query_in_bf16_record_the_precision(tmp_path, monkeypatch):
    out, qa = tmp_path / "out", tmp_path / "qa.jsonl"
    sample = (Path(__file__).resolve().parents[2] / "sample" / "qa.jsonl").read_text(encoding="utf-8")
    qa.write_text("".join(sample.splitlines(keepends=True)[:14]), encoding="utf-8")  # 10 to train on: 2 steps
    result = CliRunner().invoke(main, ["build", "fine-tuning", "--qa", str(qa), "--out", str(out), "--dtype",
                                       "bf16", "--epochs", "1", "--eval-limit", "2", "--max-new-tokens", "8",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["precision"]["dtype"] == "bf16" and metrics["precision"]["gradient_checkpointing"] is False
    assert metrics["precision"]["memory"]["estimate_mb"] > 0 and metrics["settings"]["dtype"] == "bf16"
    assert json.loads((out / "training_config.json").read_text())["config"]["dtype"] == "bf16"
    assert json.loads((out / "manifest.json").read_text())["dtype"] == "bf16"
    answered = CliRunner().invoke(main, ["query", str(out), "Who founded Pelling Bakery?", "--max-new-tokens", "8"])
    assert answered.exit_code == 0 and answered.output.strip(), answered.output
    from advisor.backends.finetune import FineTuneBackend

    loaded = FineTuneBackend.load(out)
    import torch

    assert loaded.model.get_base_model().dtype == torch.bfloat16
    # query holds the built model in another precision when asked, and refuses one the device lacks
    import advisor.backends.finetune as finetune

    held: list[str] = []
    real_load = finetune.load_adapter

    def spy(out_dir, generator, device, dtype="fp32", quantize=None):
        held.append(dtype)
        return real_load(out_dir, generator, device, dtype, quantize)

    monkeypatch.setattr(finetune, "load_adapter", spy)
    again = CliRunner().invoke(main, ["query", str(out), "Who founded Pelling Bakery?", "--max-new-tokens", "8",
                                      "--dtype", "fp32"])
    assert again.exit_code == 0 and again.output.strip() and held == ["fp32"], again.output
    refused = CliRunner().invoke(main, ["query", str(out), "Who founded Pelling Bakery?", "--dtype", "fp16"])
    assert_input_error(refused, "--dtype fp16 needs a GPU")
