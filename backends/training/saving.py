"""A trained build's folder: the private working folder, publishing it atomically, the training record
(adapter, config, losses, manifest) and loading the saved adapter back onto its base model."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from advisor.atomic import staged_dir, write_text
from advisor.backends.training.config import TrainConfig
from advisor.backends.training.loop import TrainResult
from advisor.errors import InputError
from advisor.runrecords import MANIFEST_FILE, METRICS_FILE, Manifest, Measurements


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
