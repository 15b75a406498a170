"""The validation arms, each one record: its name, label, cost rank, what it needs, its options and its backend.

Every reader of arm facts (the runner, the evidence, the report, the web app, the CLI's choices, the time
estimate) looks them up here, so adding an arm is adding one `Arm` record. Light module: the backend is a
lazy import path ("module:Class"), imported only when the arm is built or loaded, so the core stays free of
torch.

To add an arm from another package, point an entry point of the group `advisor.arms` at an `Arm` (or at a
function returning one) in that package's metadata, e.g. in its pyproject.toml:

    [project.entry-points."advisor.arms"]
    echo = "my_package.arm:ECHO"

It then appears in `advisor build`'s and `--approaches`' choices, in validation.json and in the report, with
no change here. Its backend subclasses `advisor.backends.base.Backend`; its options class is a pydantic model
(defaults and validators), read with `BuildSettings.options_for(arm)`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from advisor.backends.options import HybridOptions, PromptOptions, RetrievalOptions, TrainingOptions
from advisor.errors import InputError, did_you_mean
from advisor.outcomes import PROMPT_LABEL

if TYPE_CHECKING:
    from advisor.backends.base import Backend, QAPair
    from advisor.backends.plan import ArmPlan

    PlanHook = Callable[[ArmPlan, Sequence[QAPair] | None], ArmPlan]

ENTRY_POINT_GROUP = "advisor.arms"
BASELINE = "untouched"  # the untouched model (zero-shot), measured beside every arm; not an arm itself
BASELINE_LABEL = "untouched model (zero-shot)"
ANSWER_SECONDS = 1.0  # rough seconds to answer one input on 2 CPU cores with the default models (time-left estimate)


@dataclass(frozen=True)
class Arm:
    """One validation arm.

    `cost_rank` orders arms cheapest first: a tie in the measurements goes to the lower rank, and tables list
    arms in this order. `section` names the arm's options section in BuildSettings (rag and hybrid share
    `retrieval`'s chunking; fine-tuning and hybrid share `training`); an arm from another package keeps its
    options under its own name. `build_seconds` and `scales_with` feed the time-left estimate only.

    `plan_hook` ("module:function", imported when the arm is planned) fills the plan fields only this arm
    reads: it takes the plan resolved so far and the training pairs (None when not known yet) and returns
    the plan. `reuses_index_of` names an arm whose built index this one copies when a validation built it
    in the same run. `colour` draws the arm's bars in the report's charts (None: the next palette colour).
    """

    name: str
    label: str
    cost_rank: int
    backend: str  # "module:Class", imported on demand
    options: type[BaseModel]
    section: str
    retrieves: bool = False  # puts retrieved chunks in front of the generator
    trains: bool = False  # fine-tunes the generator on the training pairs
    needs_documents: bool = False  # refused without --docs; listed as not applicable in a validation
    embeds: bool = False  # loads the sentence embedder (retrieval, or picking similar examples)
    build_seconds: float = 5.0  # rough seconds to build on 50 training pairs (or 12 documents)
    scales_with: str = "pairs"  # "pairs" or "documents": what the build time grows with
    answer_factor: float = 1.5  # answering time relative to the untouched model (longer prompts take longer)
    train_defaults: Mapping[str, Any] = field(default_factory=dict)  # [trains] TrainConfig defaults of this arm
    plan_hook: str | None = None  # "module:function" filling this arm's own plan fields
    reuses_index_of: str | None = None  # the arm whose index this one copies when the run built it
    colour: str | None = None  # its bars in charts

    def backend_class(self) -> type[Backend]:
        """The Backend class, imported now."""
        cls: type[Backend] = _imported(self.backend)
        return cls

    def plan_step(self) -> PlanHook | None:
        """The plan hook, imported now; None when the arm has no fields of its own to plan."""
        return _imported(self.plan_hook) if self.plan_hook else None


def _imported(path: str) -> Any:
    """The object a "module:name" path names, its module imported now."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


BUILT_IN = (
    Arm("prompt", PROMPT_LABEL, 10, "advisor.backends.fewshot:PromptBackend", PromptOptions, "prompt",
        embeds=True, build_seconds=5.0, plan_hook="advisor.backends.fewshot:plan_shots"),
    Arm("rag", "RAG", 20, "advisor.backends.rag:RagBackend", RetrievalOptions, "retrieval",
        retrieves=True, needs_documents=True, embeds=True, build_seconds=20.0, scales_with="documents",
        colour="#2563eb"),
    Arm("fine-tuning", "fine-tuning", 30, "advisor.backends.finetune:FineTuneBackend", TrainingOptions, "training",
        trains=True, build_seconds=100.0, answer_factor=0.6, colour="#d97706"),
    # Context makes every step several times longer than closed-book: two epochs in small batches give
    # two dozen optimiser steps on a few dozen pairs. Prompts of two or three 128-word-piece chunks run
    # 350-550 tokens: allow 1024 so none is cut.
    Arm("hybrid", "hybrid", 40, "advisor.backends.hybrid:HybridBackend", HybridOptions, "hybrid",
        retrieves=True, trains=True, needs_documents=True, embeds=True, build_seconds=300.0,
        train_defaults={"epochs": 2, "batch_size": 4, "max_length": 1024},
        plan_hook="advisor.backends.hybrid:plan_hybrid", reuses_index_of="rag", colour="#059669"),
)


@functools.cache
def registry() -> dict[str, Arm]:
    """Every arm by name, cheapest first: the built-in ones and those registered under `advisor.arms`."""
    found = {arm.name: arm for arm in BUILT_IN}
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        arm = loaded() if callable(loaded) and not isinstance(loaded, Arm) else loaded
        if not isinstance(arm, Arm):
            raise TypeError(f"entry point {point.name} = {point.value} ({ENTRY_POINT_GROUP}) is not an Arm")
        if arm.name in found or arm.name == BASELINE:
            raise TypeError(f"entry point {point.name} = {point.value} ({ENTRY_POINT_GROUP}) registers the arm "
                            f"'{arm.name}', which already exists")
        found[arm.name] = arm
    return dict(sorted(found.items(), key=lambda item: (item[1].cost_rank, item[0])))


def names() -> tuple[str, ...]:
    """Every arm's name, cheapest first."""
    return tuple(registry())


def get(name: str, option: str = "", expected: str = "one of") -> Arm:
    """The arm called `name`; InputError naming the known ones otherwise (`option` prefixes the message)."""
    arms = registry()
    if name not in arms:
        known = tuple(arms)
        raise InputError(f"{option}unknown approach '{name}' (expected {expected} {', '.join(known)})"
                         f"{did_you_mean(name, known)}")
    return arms[name]


def label(name: str) -> str:
    """How readers see an arm (or the untouched model): its label, or its name when it is not registered."""
    if name == BASELINE:
        return BASELINE_LABEL
    arm = registry().get(name)
    return arm.label if arm else name


def cost_rank(name: str) -> int:
    """Where `name` stands cheapest first; unknown names after every registered arm."""
    arm = registry().get(name)
    return arm.cost_rank if arm else 1 << 30


def colours() -> dict[str, str]:
    """Each arm's chart colour by name, for the arms that have one."""
    return {a.name: a.colour for a in registry().values() if a.colour}


def needing_documents() -> tuple[str, ...]:
    """The arms that need documents, cheapest first."""
    return tuple(a.name for a in registry().values() if a.needs_documents)


def retrieving() -> tuple[str, ...]:
    """The arms that put retrieved chunks in front of the generator, cheapest first."""
    return tuple(a.name for a in registry().values() if a.retrieves)


def training() -> tuple[str, ...]:
    """The arms whose weights learn from the training pairs, cheapest first."""
    return tuple(a.name for a in registry().values() if a.trains)
