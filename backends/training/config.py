"""The LoRA and loop settings of one training run: `TrainConfig`, checked once when made."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from advisor.backends.base import BuildSettings
from advisor.errors import InputError

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MODES = ("qa", "documents", "both")


@dataclass(frozen=True)
class TrainConfig:
    """LoRA and loop settings, checked once when made; defaults measured on the sample corpus with SmolLM2-135M
    (see the report). A build gets its config from its plan (`plan.resolve`), which fills these defaults."""

    mode: str = "qa"
    epochs: int = 6
    lr: float = 1e-3
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ALL_LINEAR
    batch_size: int = 8
    max_length: int = 512
    val_fraction: float = 0.15
    patience: int = 2
    warmup_fraction: float = 0.06
    weight_decay: float = 0.0
    chunk_tokens: int = 256  # document windows for --mode documents|both
    seed: int = 0
    accumulation: int = 1  # gradient accumulation steps; batch_size is the global batch whatever the processes
    gradient_checkpointing: bool = False  # --gradient-checkpointing on, or auto where the memory check needs it
    dtype: str = "fp32"  # the base weights' dtype, resolved from --dtype; the adapter and the loss stay fp32
    quantize: str | None = None  # "4bit": QLoRA on NF4 weights

    @classmethod
    def from_settings(cls, settings: BuildSettings, **defaults: Any) -> "TrainConfig":
        """The config for a build: these defaults, overridden by the arm's, then by the options given."""
        from advisor.backends.precision import resolve_dtype

        values: dict[str, Any] = dict(defaults)
        for key, value in settings.training.model_dump(exclude_none=True).items():
            values["chunk_tokens" if key == "doc_chunk_tokens" else key] = value
        values["gradient_checkpointing"] = values.get("gradient_checkpointing") == "on"  # auto: the memory check
        return cls(seed=settings.seed, dtype=resolve_dtype(settings.device, settings.dtype),
                   quantize=settings.quantize, **values)

    def __post_init__(self) -> None:
        """Normalise option types and reject impossible values with one clear message."""
        modules = self.target_modules
        if isinstance(modules, str):
            modules = tuple(m.strip() for m in modules.split(",") if m.strip())
        object.__setattr__(self, "target_modules", tuple(modules))
        if self.mode not in MODES:
            raise InputError(f"--mode {self.mode!r} is not one of {', '.join(MODES)}")
        for name in ("epochs", "rank", "batch_size", "max_length", "chunk_tokens", "accumulation"):
            value = getattr(self, name)
            if isinstance(value, float) and value.is_integer():  # the CLI parses --epochs as a number
                value = int(value)
                object.__setattr__(self, name, value)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be a positive whole number, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise InputError(f"--lr must be a number between 0 and 1 (e.g. 5e-4), got {self.lr!r}")
        if not 0 <= self.dropout < 1:
            raise InputError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}")
        if not self.target_modules:
            raise InputError("--target-modules is empty; give module names such as q_proj,v_proj or all-linear")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data
