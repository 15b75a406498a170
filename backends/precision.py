"""Which number format the generator's weights are loaded in: `--dtype` and `--quantize`, checked and resolved.

`auto` is resolved once per run, before any model loads: bf16 on a CUDA device that supports it, fp16 on
other CUDA devices, fp32 on CPU and MPS. On this project's CPU (a Xeon with AMX) bf16 measured 1.08x fp32's
training tokens/s and 0.92x its answering time, within the shared machine's noise, with a higher load peak
(the default's weights are stored in fp32) (`benchmarks/bench_memory.py`), so fp32 stays the CPU default;
`--dtype bf16` is there for a CPU where it is measured faster. The LoRA adapter, its optimiser state and
the loss stay fp32 whatever the weights are (mixed precision through accelerate).

Light module: torch is imported only to ask a CUDA device what it supports.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache

from advisor.errors import InputError

DTYPES = ("auto", "bf16", "fp16", "fp32")
QUANTIZE = ("4bit",)
TORCH_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
CPU_AUTO = "fp32"  # measured: bf16 not clearly faster on this project's CPU (benchmarks/bench_memory.py)
GPU_EXTRA = "pip install 'advisor[gpu]' (bitsandbytes)"


def check(device: str, dtype: str, quantize: str | None) -> None:
    """The precision options against each other and the device, without importing torch (one line, exit 2)."""
    if dtype not in DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    if quantize is not None and quantize not in QUANTIZE:
        raise InputError(f"--quantize must be 4bit (or left out), got '{quantize}'")
    on_cuda = device.startswith("cuda")
    if dtype == "fp16" and not on_cuda and device != "mps":
        raise InputError(f"--dtype fp16 needs a GPU (--device cuda or mps); on {device} use bf16 or fp32")
    if quantize is not None:
        if not on_cuda:
            raise InputError(f"--quantize 4bit loads the weights through bitsandbytes on a CUDA GPU, and --device is "
                             f"{device}: run it with --device cuda on a machine with a GPU, after {GPU_EXTRA}")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise InputError(f"--quantize 4bit needs the bitsandbytes package, which is not installed: {GPU_EXTRA}")


def held_as(device: str, dtype: str, quantize: str | None) -> str | None:
    """How the weights are held, for records and keys: nf4, bf16 or fp16; None for fp32, which records made
    before --dtype existed leave unsaid, so theirs stay as they were."""
    precision = "nf4" if quantize else resolve_dtype(device, dtype)
    return None if precision == "fp32" else precision


@lru_cache(maxsize=None)
def resolve_dtype(device: str, dtype: str) -> str:
    """The dtype the weights are loaded in: `dtype`, or for auto the measured choice for `device`."""
    if dtype != "auto":
        return dtype
    if not device.startswith("cuda"):
        return CPU_AUTO
    import torch

    if not torch.cuda.is_available():
        raise InputError(f"--device {device}: torch sees no CUDA device (this torch is {torch.__version__})")
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def torch_dtype(dtype: str):
    """The torch dtype of a resolved dtype name."""
    import torch

    return getattr(torch, TORCH_NAMES[dtype])


def mixed_precision(dtype: str) -> str:
    """accelerate's mixed_precision for weights in `dtype`: autocast to it, the adapter's weights stay fp32."""
    return {"bf16": "bf16", "fp16": "fp16"}.get(dtype, "no")
