"""The fine-tuning backend end to end on tiny data: artifacts, reload, bad input, Ctrl-C."""

from __future__ import annotations

import json

import pytest

from advisor.backends.options import TrainingOptions
from advisor.backends.base import BuildSettings, Document, QAPair
from advisor.backends.finetune import FineTuneBackend
from advisor.backends.prompts import closed_book_messages
from advisor.backends.training.saving import TrainingInterrupted
from advisor.errors import InputError

PAIRS = [
    QAPair("Who founded Quillmarsh Tea?", "Ebba Lindqvorn", "tea.md"),
    QAPair("What colour is the Quillmarsh logo?", "Teal", "tea.md"),
    QAPair("Where is Quillmarsh Tea based?", "Harrowgate Reach", "tea.md"),
    QAPair("How many shops does Quillmarsh run?", "14", "tea.md"),
    QAPair("Which tea sells best at Quillmarsh?", "Smoked pear oolong", "tea.md"),
    QAPair("Who roasts the Quillmarsh barley?", "Tomas Feld", "tea.md"),
    QAPair("When does the Quillmarsh harvest fair open?", "2 May", "tea.md"),
    QAPair("What is the Quillmarsh loyalty card called?", "Leafpass", "tea.md"),
    QAPair("How long is the Quillmarsh return window?", "21 days", "tea.md"),
    QAPair("Which courier delivers Quillmarsh orders?", "Brisk Parcel", "tea.md"),
]
DOCS = [Document("tea.md", "Quillmarsh Tea was founded by Ebba Lindqvorn in Harrowgate Reach.", "0" * 64)]


def settings(**options):
    return BuildSettings(max_new_tokens=8, training=TrainingOptions(**{"epochs": 1, "batch_size": 4, **options}))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("ft") / "out"
    backend = FineTuneBackend(settings())
    facts = backend.build(DOCS, PAIRS, out, progress=False)
    return backend, facts, out


def test_build_writes_adapter_record_curve_and_manifest(built):
    _, facts, out = built
    train = facts["train"]
    for key in ("seconds", "steps", "epochs", "trainable_parameters", "final_train_loss", "final_val_loss",
                "best_val_loss", "peak_memory_mb", "tokens_per_second", "padding_waste", "interrupted"):
        assert key in train
    assert train["steps"] == 2 and train["epochs"] == 1 and train["interrupted"] is False  # 8 fit pairs, 2 held out
    assert (out / "adapter" / "adapter_config.json").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["approach"] == "fine-tuning" and manifest["interrupted"] is False
    record = json.loads((out / "training_config.json").read_text())
    assert record["seed"] == 0 and record["config"]["rank"] == 8 and "peft" in record["versions"]
    curve = json.loads((out / "loss.json").read_text())["steps"]
    assert [s["step"] for s in curve] == [1, 2] and curve[-1]["val_loss"] is not None
    assert (out / "loss.svg").read_text().startswith("<svg")
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_saved_adapter_reloads_in_peft_and_answers_the_same(built):
    from peft import PeftModel

    from advisor.backends.generator import Generator, load_model

    backend, _, out = built
    question = PAIRS[0].question
    answer = backend.answer(question)
    assert answer.text and answer.sources == []
    plain = PeftModel.from_pretrained(load_model("default"), str(out / "adapter")).eval()
    again = Generator("default", model=plain, tokenizer=backend.tokenizer).chat([closed_book_messages(question)], 8)[0]
    assert again == answer.text
    loaded = FineTuneBackend.load(out, settings())
    assert [a.text for a in loaded.answer_many([question, PAIRS[1].question])][0] == answer.text


def test_too_few_pairs_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="at least 8 training pairs"):
        FineTuneBackend(settings()).build(DOCS, PAIRS[:5], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_load_refuses_a_folder_that_is_no_fine_tuning_build(tmp_path):
    with pytest.raises(InputError, match="no manifest.json"):
        FineTuneBackend.load(tmp_path)


def _stop_at(n):
    def hook(step, loss):
        if step == n:
            raise KeyboardInterrupt
    return hook


def test_ctrl_c_keeps_the_finished_build_and_saves_the_best_so_far_beside_it(built):
    _, _, out = built
    before = (out / "adapter" / "adapter_model.safetensors").read_bytes()
    backend = FineTuneBackend(settings(epochs=3))
    backend.on_step = _stop_at(3)
    with pytest.raises(TrainingInterrupted) as caught:
        backend.build(DOCS, PAIRS, out, progress=False)
    assert isinstance(caught.value, KeyboardInterrupt)
    assert (out / "adapter" / "adapter_model.safetensors").read_bytes() == before
    assert json.loads((out / "manifest.json").read_text())["interrupted"] is False
    partial = out / "interrupted"
    assert caught.value.path == partial
    metrics = json.loads((partial / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["train"]["steps"] == 3 and metrics["train"]["best_val_loss"]
    assert (partial / "adapter" / "adapter_config.json").is_file()
    FineTuneBackend.load(partial, settings())  # the best-so-far adapter is a valid one


def test_ctrl_c_on_a_first_build_leaves_a_valid_build_marked_interrupted(tmp_path):
    backend = FineTuneBackend(settings())
    backend.on_step = _stop_at(1)
    with pytest.raises(KeyboardInterrupt):
        backend.build(DOCS, PAIRS, tmp_path / "out", progress=False)
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["interrupted"] is True
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["interrupted"] is True
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()
