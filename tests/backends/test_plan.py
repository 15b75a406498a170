"""Each arm's settings are resolved once, into a frozen plan: options as given, measured defaults filled."""

from __future__ import annotations

import dataclasses

import pytest

from advisor.backends.base import BuildSettings, QAPair
from advisor.backends.options import HybridOptions, PromptOptions, RetrievalOptions, TrainingOptions
from advisor.backends.plan import resolve
from advisor.errors import InputError


def _pairs(n: int, words: int = 3) -> list[QAPair]:
    return [QAPair(question=f"q{i}?", answer=" ".join(["w"] * words), line=i + 1) for i in range(n)]


def test_a_given_option_reaches_the_training_config_and_the_defaults_fill_the_rest():
    plan = resolve("fine-tuning", BuildSettings(training=TrainingOptions(rank=4)), _pairs(40))
    assert plan.training is not None and plan.training.rank == 4 and plan.training.lr == 1e-3
    assert plan.training.epochs == 6  # default_epochs: about 300 examples seen over the 34 fit pairs
    assert plan.retrieval is None and plan.shots is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.training.rank = 8  # type: ignore[misc]


def test_the_hybrid_takes_its_own_training_defaults_from_its_record():
    plan = resolve("hybrid", BuildSettings(hybrid=HybridOptions(oracle_share=0.5)), _pairs(40))
    assert plan.training is not None and (plan.training.epochs, plan.training.batch_size) == (2, 4)
    assert plan.oracle_share == 0.5 and plan.retrieval is not None and plan.retrieval.context_k == 2
    given = resolve("hybrid", BuildSettings(training=TrainingOptions(batch_size=2, epochs=1)), _pairs(40))
    assert given.training is not None and (given.training.epochs, given.training.batch_size) == (1, 2)


def test_the_answer_length_and_the_demonstrations_are_fitted_to_the_pairs():
    plan = resolve("prompt", BuildSettings(), _pairs(20), _pairs(20, words=100))
    assert plan.settings.max_new_tokens == 158 and plan.shots is not None and plan.shots >= 1
    assert resolve("prompt", BuildSettings(max_new_tokens=12), _pairs(20), _pairs(20)).settings.max_new_tokens == 12
    assert resolve("prompt", BuildSettings(prompt=PromptOptions(shots=3)), _pairs(20)).shots == 3


def test_impossible_options_are_refused_naming_the_option():
    with pytest.raises(InputError, match="--shots 30 is more than the 20 training pairs"):
        resolve("prompt", BuildSettings(prompt=PromptOptions(shots=30)), _pairs(20))
    with pytest.raises(InputError, match="--lr"):
        resolve("fine-tuning", BuildSettings(training=TrainingOptions(lr=3.0)))
    with pytest.raises(InputError, match="overlap"):
        resolve("rag", BuildSettings(retrieval=RetrievalOptions(chunk_tokens=16, chunk_overlap=16)))
    with pytest.raises(InputError, match="--k must be at least 1"):
        BuildSettings(k=0)
    with pytest.raises(InputError, match="unknown approach 'rga'.*did you mean 'rag'"):
        resolve("rga", BuildSettings())
