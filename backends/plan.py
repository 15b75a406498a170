"""One arm's settings, resolved once: the options as given, every measured default filled in, checked.

`runner.prepare_build` makes one `ArmPlan` per arm before any model loads, and everything downstream (the build,
the training loop, retrieval, the time estimate, the distributed checks, the stage fingerprint) reads it.
Each default is filled here, in `resolve`, or by the arm's plan hook (`arms.Arm.plan_hook`, for the fields only
that arm reads), from the constant that holds it beside its reason:

- answer length: `base.fit_max_new_tokens` (the references' 95th percentile, 32 to 256 tokens);
- LoRA and the loop: `training.config.TrainConfig` (measured on the sample with SmolLM2-135M), overridden by the
  arm's `train_defaults` (the hybrid's, in `arms.BUILT_IN`), then by the options given; epochs when none
  are given: `finetune.default_epochs` (about 300 examples seen);
- chunking and retrieval: `chunking`, `index` and `rag.DEFAULT_CONTEXT_K`;
- few-shot demonstrations: `fewshot.default_shots` (as many as fit in about 384 prompt tokens), filled by
  the prompt arm's hook `fewshot.plan_shots`;
- the hybrid's RAFT share: `hybrid.DEFAULT_ORACLE_SHARE`, filled by its hook `hybrid.plan_hybrid`.

Light module: nothing heavy is imported, here or by what it imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from advisor.backends import arms
from advisor.backends.base import BuildSettings, QAPair, fit_max_new_tokens
from advisor.errors import InputError

if TYPE_CHECKING:
    from advisor.backends.memory import Estimate
    from advisor.backends.rag import RetrievalSettings
    from advisor.backends.training.config import TrainConfig


@dataclass(frozen=True)
class ArmPlan:
    """What one arm is built and evaluated with; `None` for the parts the arm does not use.

    `settings` holds the options as given (saved that way, so a default measured later is not frozen into
    old records), with the answer length fitted. `rag_index` is set only for an arm that copies another arm's
    built index (`arms.Arm.reuses_index_of`: the hybrid copies RAG's), one given in its options or one a
    validation built beside it: where the index came from, not what it is (the fingerprint leaves it out; the
    recorded settings show it).
    """

    arm: arms.Arm
    settings: BuildSettings
    training: TrainConfig | None = None  # [trains]
    retrieval: RetrievalSettings | None = None  # [retrieves]
    shots: int | None = None  # [prompt] demonstrations per input
    oracle_share: float | None = None  # [hybrid] share of training prompts that hold the right chunk
    rag_index: str | None = None  # [reuses_index_of] a built RAG index to copy instead of building one
    memory: Estimate | None = None  # the memory check's estimate (runner.prepare), None where none was made
    memory_available: float | None = None  # bytes the device had for it when checked

    def precision(self) -> dict[str, Any]:
        """How the generator is held, as metrics.json records it: the dtype resolved from --dtype, 4-bit or not,
        checkpointing, and the memory check's estimate against what the device had."""
        from advisor.backends.precision import resolve_dtype

        data: dict[str, Any] = {"dtype": resolve_dtype(self.settings.device, self.settings.dtype),
                                "quantize": self.settings.quantize}
        if self.training is not None:
            data["gradient_checkpointing"] = self.training.gradient_checkpointing
        if self.memory is not None:
            data["memory"] = self.memory.to_json()
        if self.memory_available is not None:
            data["memory_available_mb"] = round(self.memory_available / 1e6, 1)
        return data

    @property
    def name(self) -> str:
        return self.arm.name

    def recorded(self) -> dict[str, Any]:
        """The settings as metrics.json records them: as given, plus a reused RAG index under the arm's section."""
        data = self.settings.to_json()
        if self.rag_index is not None:
            section = self.arm.section
            data[section] = {**data.get(section, {}), "rag_index": self.rag_index}
        return data


def resolve(name: str, settings: BuildSettings, train: Sequence[QAPair] | None = None,
            pairs: Sequence[QAPair] | None = None) -> ArmPlan:
    """The plan of arm `name`: defaults filled and every option checked (InputError naming the option).

    `pairs` fits the answer length when it was not given; `train` (the training pairs) fills the defaults
    that depend on them (epochs, demonstrations) and checks --shots against them. Model names are checked
    by `check_models`, once per run.
    """
    arm = arms.get(name)
    if settings.max_new_tokens is None and pairs is not None:
        settings = replace(settings, max_new_tokens=fit_max_new_tokens(list(pairs)))
    plan = ArmPlan(arm, settings)
    if arm.trains:
        plan = replace(plan, training=_training(arm, settings, train))
    if arm.retrieves:
        plan = replace(plan, retrieval=_retrieval(settings))
    hook = arm.plan_step()
    return hook(plan, train) if hook is not None else plan


def _training(arm: arms.Arm, settings: BuildSettings, train: Sequence[QAPair] | None) -> TrainConfig:
    from advisor.backends.training.config import TrainConfig
    from advisor.backends.training.examples import split_pairs

    config = TrainConfig.from_settings(settings, **dict(arm.train_defaults))
    if "epochs" not in arm.train_defaults and settings.training.epochs is None and train is not None:
        from advisor.backends.finetune import default_epochs

        try:
            fit, _ = split_pairs(train, config.seed, config.val_fraction, config.mode)
        except InputError:  # too few pairs: the build says so, as this arm's failure, and the other arms run
            return config
        config = replace(config, epochs=default_epochs(len(fit)))
    return config


def _retrieval(settings: BuildSettings) -> RetrievalSettings:
    from advisor.backends.chunking import check_window
    from advisor.backends.rag import retrieval_options

    from advisor.backends.store import check_store

    options = retrieval_options(settings)
    check_window(options.chunk_tokens, options.chunk_overlap)
    check_store(options.store, settings)  # reachable, key accepted, collection fits: before any model loads
    return options


def check_models(settings: BuildSettings, names: Sequence[str]) -> None:
    """The generator, and the embedder when an arm among `names` embeds, resolve (no model is loaded).

    With an endpoint the generator is needed only by the arms that train (`--generator none` says there is
    none; validate lists those arms as not applicable before this check)."""
    from advisor.backends.embedder import resolve_embedder
    from advisor.backends.generator import resolve as resolve_generator

    training = [n for n in names if arms.get(n).trains]
    if settings.endpoint is None or training:
        if settings.generator.strip().lower() == "none":
            needs = f"{', '.join(training)} trains a local model" if training else \
                "answering in-process needs a local model (or --endpoint URL to answer through)"
            raise InputError(f"--generator none: {needs}")
        resolve_generator(settings.generator)
    if any(arms.get(n).embeds for n in names):
        resolve_embedder(settings.embedder)
