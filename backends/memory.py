"""The memory check before loading: what one arm needs of the device, from the model's config and the run's sizes.

Arithmetic only, from the numbers in the model's config.json (or its GGUF header): weights (in the dtype, or
NF4 for `--quantize 4bit`), the LoRA adapter with its gradients and AdamW state (fp32, 16 bytes a
parameter), training activations (per token and layer, less with gradient checkpointing), the loss's
logits over the labelled positions, and for answering the KV cache and the prompt's pass. The constants
were fitted to peaks measured on this machine (`benchmarks/bench_memory.py`, which states the error).

`check_plans` compares each arm's estimate with the device's free memory (CUDA) or available RAM (CPU),
turns `--gradient-checkpointing auto` on where only checkpointing makes training fit, and otherwise refuses
with one line naming the estimate and what would make it fit. Light module: torch only for a CUDA query.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.backends.precision import BYTES, TORCH_NAMES, resolve_dtype
from advisor.errors import InputError

if TYPE_CHECKING:
    from advisor.backends.base import QAPair
    from advisor.backends.plan import ArmPlan

GB = 1e9
STORED_AS = {torch: ours for ours, torch in TORCH_NAMES.items()}  # config.json's torch_dtype -> ours
CHARS_PER_TOKEN = 3.5  # English BPE takes about 4 (the sample: questions 4.5, short answers 2.8, documents 4.0)
TEMPLATE_TOKENS = 32  # the chat template and system prompt around a question (SmolLM2: 26)
# Activations kept for the backward pass, per token and layer, in units of the hidden and MLP widths (norms,
# q/k/v/o, rotary copies, residuals and LoRA's dropout copies; gate, up, their product and down's input), held
# as fp32 whatever the weights: RMSNorm, softmax and rotary upcast, and peft casts LoRA's input to the adapter's
# fp32 (measured on CPU: bf16 weights kept 96 % of fp32's activation memory). Fitted to the peaks measured.
ACT_HIDDEN = 14
ACT_MLP = 5
ACT_BYTES = 4
ATTN_SCORES = 2  # attention weights and their softmax, kept per head where attention is not fused (CPU, MPS)
# With checkpointing only each layer's input is kept and one layer is recomputed at a time; on CPU the process
# still held 54-65 % of the activation memory measured without it (glibc keeps what the recomputation frees),
# so there the saving is taken as measured rather than as the arithmetic says.
CPU_CHECKPOINT_SHARE = 0.65
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4 bits, an 8-bit scale per 64 weights, a fp32 scale per 256 scales
ADAPTER_BYTES = 16  # fp32 weight, gradient and AdamW's two moments per LoRA parameter
RUNTIME = {"cuda": 0.6 * GB, "cpu": 0.5 * GB}  # CUDA context and kernels; on CPU torch and transformers themselves
LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only model that memory depends on, read from its config."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    context: int
    stored: str = "fp32"  # the dtype of the weights on disk (config's torch_dtype): a CPU load converts from it

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ModelShape":
        """From a config.json's fields (Llama, Mistral, Qwen, Gemma, Phi and GPT-2 names); InputError if absent."""
        config = config.get("text_config") or config

        def field(*names: str, default: Any = None) -> Any:
            for name in names:
                if config.get(name) is not None:
                    return config[name]
            if default is None:
                raise InputError(f"the generator's config.json has none of {', '.join(names)}: its memory "
                                 "cannot be estimated")
            return default

        hidden = int(field("hidden_size", "n_embd", "d_model"))
        heads = int(field("num_attention_heads", "n_head"))
        return cls(
            layers=int(field("num_hidden_layers", "n_layer", "num_layers")),
            hidden=hidden,
            intermediate=int(field("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden)),
            heads=heads,
            kv_heads=int(field("num_key_value_heads", default=heads)),
            head_dim=int(field("head_dim", default=hidden // heads)),
            vocab=int(field("vocab_size")),
            tied=bool(config.get("tie_word_embeddings", True)),
            context=int(field("max_position_embeddings", "n_positions", "seq_length", default=2048)),
            stored=STORED_AS.get(str(config.get("torch_dtype") or config.get("dtype")), "fp32"),
        )

    @property
    def linear_per_layer(self) -> int:
        """Parameters of one layer's attention and MLP projections (what 4-bit quantizes and LoRA adapts)."""
        q = self.heads * self.head_dim
        kv = self.kv_heads * self.head_dim
        return self.hidden * (2 * q + 2 * kv) + 3 * self.hidden * self.intermediate

    @property
    def embedding_params(self) -> int:
        """Input embeddings, the output head when it is not tied to them, and the norms."""
        return self.vocab * self.hidden * (1 if self.tied else 2) + (2 * self.layers + 1) * self.hidden

    @property
    def params(self) -> int:
        return self.layers * self.linear_per_layer + self.embedding_params

    def lora_params(self, rank: int, targets: Sequence[str]) -> int:
        """Parameters of a rank-`rank` LoRA adapter on the named projections of every layer."""
        q, kv, h, i = self.heads * self.head_dim, self.kv_heads * self.head_dim, self.hidden, self.intermediate
        sizes = {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                 "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}
        names = LINEAR_MODULES if tuple(targets) in (("all-linear",), ("all",)) else targets
        return self.layers * sum(rank * (a + b) for name in names if name in sizes for a, b in [sizes[name]])


@dataclass(frozen=True)
class Workload:
    """What one arm asks of the generator in one process: training (per-process batch, longest sequence, labelled
    tokens in it, LoRA size) and answering (batch, longest prompt, answer length)."""

    answer_batch: int
    prompt_tokens: int
    new_tokens: int
    train_batch: int = 0  # 0: the arm does not train
    train_tokens: int = 0
    loss_tokens: int = 0
    rank: int = 8
    targets: tuple[str, ...] = LINEAR_MODULES
    copies: int = 1  # copies of the weights held at once (the untouched model beside a tuned one)
    accumulation: int = 1


def gb(size: float) -> str:
    """Bytes as gigabytes, with two decimals below one."""
    return f"{size / GB:.2f} GB" if size < GB else f"{size / GB:.1f} GB"


@dataclass(frozen=True)
class Estimate:
    """Bytes one arm needs, by part, for one precision choice; `total` is what is compared with the device."""

    dtype: str
    quantize: str | None
    checkpointing: bool
    weights: float
    adapter: float
    activations: float
    kv_cache: float
    runtime: float
    copies: int = 1
    loading: float = 0.0  # a CPU load's peak: the file's weights and the converted copy at once

    @property
    def total(self) -> float:
        held = self.weights + self.adapter + max(self.activations, self.kv_cache)
        return max(held, self.loading) + self.runtime

    def describe(self) -> str:
        """'17.4 GB (weights 16.1 GB bf16, adapter and optimiser 0.2 GB, activations 0.9 GB, ...)'."""
        kind = "NF4" if self.quantize else self.dtype
        parts = [f"weights {gb(self.weights)} {kind}"
                 + (" in two copies, the tuned model's and the untouched one's" if self.copies > 1 else "")]
        if self.adapter:
            parts.append(f"adapter and optimiser {gb(self.adapter)}")
        if self.activations:
            parts.append(f"activations {gb(self.activations)}" + (" with checkpointing" if self.checkpointing else ""))
        parts.append(f"answering {gb(self.kv_cache)}")
        if self.loading > self.weights + self.adapter + max(self.activations, self.kv_cache):
            parts.append(f"loading {gb(self.loading)}, converting the weights from the file's dtype")
        return f"{gb(self.total)} ({', '.join(parts)})"

    def to_json(self) -> dict[str, Any]:
        return {"estimate_mb": round(self.total / 1e6, 1), "weights_mb": round(self.weights / 1e6, 1),
                "loading_mb": round(self.loading / 1e6, 1),
                "adapter_mb": round(self.adapter / 1e6, 1), "activations_mb": round(self.activations / 1e6, 1),
                "kv_cache_mb": round(self.kv_cache / 1e6, 1), "runtime_mb": round(self.runtime / 1e6, 1)}


def estimate(shape: ModelShape, work: Workload, dtype: str, quantize: str | None = None,
             checkpointing: bool = False, device: str = "cpu") -> Estimate:
    """The memory one arm needs with weights in `dtype` (or NF4), from the model's shape and the workload."""
    b = BYTES[dtype]
    if quantize:  # peft's prepare_model_for_kbit_training casts everything not in 4 bits to fp32
        weights = shape.layers * shape.linear_per_layer * NF4_BYTES + shape.embedding_params * 4
    else:
        weights = shape.params * b
    weights *= work.copies
    fused = device.startswith("cuda")  # flash / memory-efficient attention keeps no per-head scores
    adapter = activations = 0.0
    if work.train_batch:
        adapter = shape.lora_params(work.rank, work.targets) * ADAPTER_BYTES
        seq, tokens = work.train_tokens, work.train_batch * work.train_tokens
        per_layer = ACT_BYTES * (ACT_HIDDEN * shape.hidden + ACT_MLP * shape.intermediate
                                 + (0 if fused else ATTN_SCORES * shape.heads * seq))
        full = shape.layers * tokens * per_layer
        if not checkpointing:
            kept: float = full
        elif device.startswith("cuda"):  # each layer's input, and one layer's activations while it is recomputed
            kept = shape.layers * tokens * ACT_BYTES * shape.hidden + tokens * per_layer
        else:
            kept = CPU_CHECKPOINT_SHARE * full
        logits = work.train_batch * work.loss_tokens * shape.vocab * (b + 8)  # logits, fp32 copy, its gradient
        activations = kept + logits
    context = work.prompt_tokens + work.new_tokens
    kv = 2 * shape.layers * shape.kv_heads * shape.head_dim * context * work.answer_batch * b
    prefill = work.answer_batch * work.prompt_tokens * b * (4 * shape.hidden + 3 * shape.intermediate
                                                           + (0 if fused else shape.heads * work.prompt_tokens))
    kv_cache = kv + prefill + work.answer_batch * shape.vocab * 8
    runtime = RUNTIME["cuda" if device.startswith("cuda") else "cpu"]
    loading = 0.0
    if device == "cpu" and not quantize and shape.stored != dtype:  # the file's copy is read whole, then converted
        loading = shape.params * (BYTES[shape.stored] + b) + (work.copies - 1) * shape.params * b
    return Estimate(dtype, quantize, checkpointing, weights, adapter, activations, kv_cache, runtime, work.copies,
                    loading)


# ---------------------------------------------------------------------------------------------- inputs


def model_shape(name: str) -> ModelShape | None:
    """The generator's shape from its config.json or GGUF header, read without loading weights; None when no
    config can be read before loading (a hub model not downloaded yet)."""
    from advisor.backends.generator import cache_root, resolve

    source = resolve(name)
    if source.gguf_file:
        stem = Path(source.gguf_file).stem
        for config in sorted((cache_root() / "models").glob(f"{stem}-*/config.json")):
            return ModelShape.from_config(_read_json(config))
        return _gguf_shape(Path(source.path) / source.gguf_file)
    folder = Path(source.path).expanduser()
    if (folder / "config.json").is_file():
        return ModelShape.from_config(_read_json(folder / "config.json"))
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers always brings it
        return None
    found = try_to_load_from_cache(source.path, "config.json")
    return ModelShape.from_config(_read_json(Path(found))) if isinstance(found, str) else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable model config ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def _gguf_shape(path: Path) -> ModelShape:
    """The shape from a GGUF file's header (memory-mapped; no tensor is read)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def value(key: str) -> Any:
        field = reader.fields.get(key)
        return None if field is None else field.contents()

    arch = value("general.architecture")
    tokens = value("tokenizer.ggml.tokens")
    heads = value(f"{arch}.attention.head_count")
    hidden = value(f"{arch}.embedding_length")
    return ModelShape.from_config({
        "num_hidden_layers": value(f"{arch}.block_count"), "hidden_size": hidden,
        "intermediate_size": value(f"{arch}.feed_forward_length"), "num_attention_heads": heads,
        "num_key_value_heads": value(f"{arch}.attention.head_count_kv"),
        "head_dim": value(f"{arch}.attention.key_length"),
        "vocab_size": len(tokens) if tokens else None,
        "tie_word_embeddings": not any(t.name == "output.weight" for t in reader.tensors),
        "max_position_embeddings": value(f"{arch}.context_length"),
    })


def available_bytes(device: str) -> float | None:
    """Memory this process can use on `device`: a CUDA device's free memory, or the RAM available to each of
    this machine's processes (MemAvailable over LOCAL_WORLD_SIZE); None where it cannot be read (MPS)."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: torch sees no CUDA device (this torch is {torch.__version__})")
        index = int(device.split(":", 1)[1]) if ":" in device else torch.cuda.current_device()
        free, _ = torch.cuda.mem_get_info(index)
        return float(free)
    if device != "cpu":
        return None
    override = os.environ.get("ADVISOR_MEMORY_GB")  # for checking a plan meant for another machine
    if override:
        try:
            return float(override) * GB
        except ValueError:
            raise InputError(f"ADVISOR_MEMORY_GB={override!r}: expected a number of gigabytes") from None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            kb = next(int(line.split()[1]) for line in handle if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return kb * 1024 / local


def tokens_of(text: str) -> int:
    """An upper estimate of a text's tokens, without a tokenizer."""
    return int(len(text) / CHARS_PER_TOKEN) + 1


def workload(plan: ArmPlan, train: Sequence[QAPair], test: Sequence[QAPair], shape: ModelShape,
             copies: int = 1) -> Workload:
    """What `plan`'s arm asks of the generator, from the longest pairs it trains on and answers."""
    from advisor.backends import distributed

    settings = plan.settings
    answered = settings.answered(test)
    question = max((tokens_of(q) for p in answered for q in (p.question, p.paraphrase) if q), default=32)
    context = 0
    if plan.retrieval is not None:
        context = plan.retrieval.context_k * plan.retrieval.chunk_tokens
    if plan.shots:
        longest = sorted((tokens_of(p.question) + tokens_of(p.answer) + 8 for p in train), reverse=True)
        context += sum(longest[: plan.shots])
    work = Workload(answer_batch=settings.batch_size, prompt_tokens=min(shape.context, TEMPLATE_TOKENS + question
                    + context), new_tokens=settings.new_tokens, copies=copies)
    config = plan.training
    if config is None:
        return work
    limit = min(config.max_length, shape.context)
    answer = min(limit // 2, max((tokens_of(r) + 1 for p in train for r in (p.answer,)), default=1))
    pair = max((tokens_of(p.question) for p in train), default=0) + answer + TEMPLATE_TOKENS
    seq, loss = min(limit, pair + context), answer
    if config.mode in ("documents", "both"):
        seq, loss = max(seq if config.mode == "both" else 0, min(limit, config.chunk_tokens)), \
            max(loss if config.mode == "both" else 0, min(limit, config.chunk_tokens))
    batch = max(1, distributed.per_process_batch(config.batch_size, config.accumulation))
    return replace(work, train_batch=batch, train_tokens=seq, loss_tokens=loss, rank=config.rank,
                   targets=tuple(config.target_modules), accumulation=config.accumulation)


# ---------------------------------------------------------------------------------------------- the check


def check_plans(plans: dict[str, ArmPlan], train: Sequence[QAPair], test: Sequence[QAPair],
                untouched_beside_tuned: bool = True) -> dict[str, ArmPlan]:
    """Each plan with its memory estimate, and `--gradient-checkpointing auto` resolved; InputError (one line)
    for the first arm that cannot fit, naming the estimate and what would make it fit.

    `untouched_beside_tuned`: the untouched model may be loaded while a tuned arm is held (a `build`, whose
    evaluation answers with both); `validate` lets go of it before the tuned arms, so it passes False."""
    if not plans:
        return plans
    settings = next(iter(plans.values())).settings
    local = [name for name, plan in plans.items() if settings.endpoint is None or plan.training is not None]
    if not local or settings.generator.strip().lower() == "none":
        return plans
    shape = model_shape(settings.generator)
    if shape is None:
        return plans
    device = settings.device
    available = available_bytes(device)
    dtype = resolve_dtype(device, settings.dtype)
    checked = dict(plans)
    for name in local:
        plan = plans[name]
        trains = plan.training is not None
        copies = 2 if trains and untouched_beside_tuned and settings.endpoint is None else 1
        work = workload(plan, train, test, shape, copies)
        wanted = (settings.training.gradient_checkpointing or "auto") if trains else "off"
        ckpt = wanted == "on"
        found = estimate(shape, work, dtype, settings.quantize, ckpt, device)
        if available is not None and found.total > available and wanted == "auto":
            with_ckpt = estimate(shape, work, dtype, settings.quantize, True, device)
            if with_ckpt.total <= available:
                found, ckpt = with_ckpt, True
        if available is not None and found.total > available:
            raise InputError(refusal(name, found, available, shape, work, device))
        if trains and plan.training is not None:
            plan = replace(plan, training=replace(plan.training, gradient_checkpointing=ckpt))
        checked[name] = replace(plan, memory=found, memory_available=available)
    return checked


def refusal(arm: str, found: Estimate, available: float, shape: ModelShape, work: Workload, device: str) -> str:
    """One line: the estimate, what the device has, and the options that would make it fit."""
    fits = fixes(found, available, shape, work, device)
    where = "free on" if device.startswith("cuda") else "available per process on"
    advice = f"it would fit with {'; or '.join(fits)}" if fits else \
        "nothing here makes it fit: use a device with more memory or a smaller --generator"
    return (f"memory check: {arm} needs about {found.describe()}, but {gb(available)} is {where} "
            f"{device}; {advice} (more processes do not help: each holds all the weights)")


def fixes(found: Estimate, available: float, shape: ModelShape, work: Workload, device: str) -> list[str]:
    """The options, one at a time and then together, whose estimate fits in `available`, with that estimate."""
    half = "bf16" if found.dtype == "fp32" else found.dtype
    on_gpu = device.startswith("cuda")
    tries: list[tuple[str, dict[str, Any]]] = []
    if found.dtype == "fp32":
        tries.append(("--dtype bf16", {"dtype": half}))
    if work.train_batch and not found.checkpointing:
        tries.append(("--gradient-checkpointing", {"checkpointing": True}))
    if work.train_batch > 1:
        tries.append((f"--gradient-accumulation {work.accumulation * work.train_batch} (a per-process batch of 1, "
                      "the same global batch)", {"train_batch": 1}))
    if work.copies > 1:
        tries.append(("advisor validate instead of build (it lets go of the untouched model before training)",
                      {"copies": 1}))
    if not found.quantize:
        tries.append(("--quantize 4bit" + ("" if on_gpu else " (on a CUDA GPU)"), {"quantize": "4bit", "dtype": half}))
    fits: list[str] = []
    for label, change in tries:
        got = _with(found, shape, work, device, **change)
        if got.total <= available:
            fits.append(f"{label} ({gb(got.total)})")
    if not fits and len(tries) > 1:
        together: dict[str, Any] = {}
        for _, change in tries:
            together.update(change)
        got = _with(found, shape, work, device, **together)
        if got.total <= available:
            fits.append(f"{' and '.join(label.split(' (')[0] for label, _ in tries)} together "
                        f"({gb(got.total)})")
    return fits


def _with(found: Estimate, shape: ModelShape, work: Workload, device: str, **change: Any) -> Estimate:
    """The estimate again with some of its choices changed."""
    dtype = change.pop("dtype", found.dtype)
    quantize = change.pop("quantize", found.quantize)
    checkpointing = change.pop("checkpointing", found.checkpointing)
    return estimate(shape, replace(work, **change), dtype, quantize, checkpointing, device)
