"""Pydantic models for what crosses the boundary: rule bases, answers files, case libraries, recommendation JSON.

The engine never touches these in its hot loop: `advisor.engine.compile_rules` turns a `RuleBase` into plain
tuples once. Models forbid unknown keys so a typo in a rule file is reported instead of silently ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional, cast

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

# What the questionnaire can recommend; the arms a validation builds are another list (advisor.backends.arms).
RECOMMENDABLE: tuple[str, ...] = ("rag", "fine-tuning", "hybrid")
UNKNOWN = "unknown"

Approach = Literal["rag", "fine-tuning", "hybrid"]
# What a case may expect: one of the approaches (the best of the three), or `prompt` (start with few-shot
# prompting: the verdict's `start_with`, see `advisor.outcomes`)
Expected = Literal["prompt", "rag", "fine-tuning", "hybrid"]
Pull = Annotated[float, Field(ge=-100, le=100)]  # bounded so that sums stay finite
Weight = Annotated[float, Field(ge=0, le=100)]


def _not_bool(value: object) -> object:
    """YAML reads yes/no/on/off as true/false: refuse them where a number is meant."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()} (YAML reads yes/no/on/off as true/false)")
    return value


Version = Annotated[Literal[1], BeforeValidator(_not_bool)]

# The answers contract (format version 1): question ids and their values, in order. Never change these.
CONTRACT_QUESTIONS: dict[str, tuple[str, ...]] = {
    "knowledge_change": ("static", "yearly", "monthly", "weekly", "daily", "realtime"),
    "external_knowledge": ("none", "some", "most"),
    "style_adaptation": ("none", "light", "strong"),
    "hallucination_cost": ("low", "medium", "high", "critical"),
    "traceability": ("none", "preferred", "required"),
    "cost_pressure": ("low", "medium", "high"),
    "ml_expertise": ("none", "some", "strong"),
    "labeled_examples": ("none", "tens", "hundreds", "thousands"),
    "data_sensitivity": ("public", "internal", "regulated"),
    "latency_budget": ("relaxed", "seconds", "subsecond"),
}


def _as_list(value: object) -> object:
    """Accept a single source string where a list of sources is expected."""
    return [value] if isinstance(value, str) else value


class _Strict(BaseModel):
    # defer_build: schemas are built on first use, so importing this module stays cheap.
    # strict: no quiet conversions (yes -> 1.0, "2" -> 2); whole numbers are still accepted where floats are.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True, defer_build=True)


class ApproachInfo(_Strict):
    """How an approach is presented, and what to do first once it is recommended."""

    label: str
    summary: str = ""
    next_steps: list[str] = Field(default_factory=list)


class Factor(_Strict):
    """A trade-off factor; its weight scales the pulls of every question that feeds it."""

    id: str = Field(min_length=1)
    label: str = ""
    weight: Weight = 1.0
    description: str = ""


class Value(_Strict):
    """One allowed answer to a question, with its pull toward each approach and why."""

    value: str = Field(min_length=1)
    label: str = ""
    pull: dict[Approach, Pull] = Field(default_factory=dict)
    because: str = ""
    source: list[str] = Field(default_factory=list)

    _src = field_validator("source", mode="before")(_as_list)


class Question(_Strict):
    """A question of the questionnaire; it feeds one factor."""

    id: str = Field(min_length=1)
    factor: str
    text: str
    help: str = ""
    values: list[Value] = Field(min_length=1)
    default: Optional[str] = None  # required (and neutral) for questions outside the contract


class Rule(_Strict):
    """A combination rule: fires when every listed question has one of the listed values."""

    id: str = Field(min_length=1)
    when: dict[str, list[str]] = Field(min_length=1)
    effect: dict[Approach, Pull] = Field(default_factory=dict)
    weight: Weight = 1.0
    because: str
    source: list[str] = Field(default_factory=list)
    note: Optional[str] = None
    start_with: Optional[Literal["prompt"]] = Field(
        default=None,
        description="when the rule fires, the verdict says to start with few-shot prompting (its `start_with`)",
    )
    # A veto rule: where it alone decides the verdict (without it another approach would win), the verdict is
    # forced rather than preferred, and the confidence is at most this.
    confidence_when_decisive: Optional[Annotated[float, Field(ge=0, le=1)]] = Field(
        default=None, description="the most confidence a verdict may have where this rule alone decides it"
    )

    _src = field_validator("source", mode="before")(_as_list)

    @field_validator("when", mode="before")
    @classmethod
    def _when_lists(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: _as_list(v) for k, v in value.items()}
        return value


class Scoring(_Strict):
    """How raw scores become [0, 1] scores and a confidence."""

    scale: float = Field(default=2.0, gt=0, le=1e6, description="raw score divided by this before the logistic")
    margin_scale: float = Field(
        default=2.5, gt=0, le=1e6, description="raw margin at which confidence is ~76% of its range"
    )
    confidence_floor: float = Field(default=0.2, ge=0, le=1, description="confidence of a perfect tie")
    tie_order: list[Approach] = Field(default_factory=lambda: cast("list[Approach]", list(RECOMMENDABLE)))


_REFERENCE_KEY = r"[A-Za-z0-9][A-Za-z0-9._:-]*"
_PUBLIC_URL = r"https?://[^\s<>\"'()\[\]{}|\\^`]+"


class Reference(_Strict):
    """A work the rule base cites: `source: [key]` in a value or rule names it by its key."""

    # the patterns are for editors; the validators below say the same in words
    key: str = Field(
        description="what `source:` cites, e.g. ovadia-2023", json_schema_extra={"pattern": f"^{_REFERENCE_KEY}$"}
    )
    title: str = Field(min_length=1)
    authors: list[str] = Field(default_factory=list, description="authors' names; give these or a publisher")
    publisher: str = Field(default="", description="who published it (a journal, a preprint server, a company)")
    year: Optional[Annotated[int, Field(ge=1000, le=2100)]] = Field(default=None, description="omit when undated")
    url: Optional[str] = Field(
        default=None,
        description="public http(s) address, where there is one",
        json_schema_extra={"pattern": f"^{_PUBLIC_URL}$"},
    )
    label: Optional[str] = Field(
        default=None, min_length=1, description="short citation label; default from authors or publisher and year"
    )

    @field_validator("key")
    @classmethod
    def _one_word(cls, value: str) -> str:
        if not re.fullmatch(_REFERENCE_KEY, value):
            raise PydanticCustomError(
                "reference_key",
                "a reference key is one word of letters, digits, '-', '_', '.' or ':' (found {found})",
                {"found": repr(value)},
            )
        return value

    @field_validator("url")
    @classmethod
    def _public_url(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not re.fullmatch(_PUBLIC_URL, value):
            raise PydanticCustomError(
                "reference_url",
                "expected an http:// or https:// address without spaces, quotes or brackets (found {found})",
                {"found": repr(value)},
            )
        return value

    @model_validator(mode="after")
    def _someone(self) -> Reference:
        if not self.publisher.strip() and not any(a.strip() for a in self.authors):
            raise PydanticCustomError(
                "reference_by",
                "reference {key} names neither authors nor a publisher; give one of them",
                {"key": repr(self.key)},
            )
        return self


class RuleBase(_Strict):
    """A whole rule base: approaches, factors, questions, combination rules and scoring settings."""

    version: Version
    name: str = "custom"
    description: str = ""
    approaches: dict[Approach, ApproachInfo]
    factors: list[Factor] = Field(min_length=1)
    questions: list[Question] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)
    scoring: Scoring = Field(default_factory=Scoring)
    # None: sources are plain-text citations (rule bases written before references existed); a list:
    # every source is the key of one of these
    references: Optional[list[Reference]] = Field(
        default=None, description="the works cited; with this section every source is one of its keys"
    )


class AnswersFile(_Strict):
    """An answers file (contract version 1). Values may be null or 'unknown'."""

    version: Version
    project: Optional[str] = None
    answers: dict[str, Any] = Field(default_factory=dict)  # values checked against the rule base
    costs: Optional[dict[str, Any]] = None  # optional cost assumptions, checked by advisor.analyses.costs


class Case(_Strict):
    """One labelled scenario of a case library."""

    name: str = Field(min_length=1)
    expected: Expected  # `prompt` is checked against the verdict's start_with, an approach against its recommendation
    why: str = ""  # optional: a hand-written case is not refused for a missing comment (`case_warnings` notes it)
    answers: dict[str, Any]
    source: list[str] = Field(default_factory=list)

    _src = field_validator("source", mode="before")(_as_list)


class CaseLibrary(_Strict):
    """A case library (contract version 1)."""

    version: Version
    cases: list[Case]


class FactorOut(BaseModel):
    """One factor's weighted pull in the recommendation JSON."""

    model_config = ConfigDict(populate_by_name=True, extra="allow", defer_build=True)
    id: str
    rag: float
    fine_tuning: float = Field(alias="fine-tuning")
    hybrid: float
    because: str


class _Pulls(BaseModel):
    """The three per-approach numbers an explanation row carries (keys `rag`, `fine-tuning`, `hybrid`)."""

    def pull(self, approach: str) -> float:
        """The value for one approach ('rag', 'fine-tuning' or 'hybrid')."""
        return cast(float, getattr(self, "fine_tuning" if approach == "fine-tuning" else approach))

    def pulls(self) -> dict[str, float]:
        """{approach: value} for the three approaches, in their order."""
        return {a: self.pull(a) for a in RECOMMENDABLE}


class FactorPull(_Pulls):
    """One factor's weighted pull as the engine explains it: `FactorOut` plus what the engine adds.

    Dumped by alias (`fine-tuning`) it is the factor entry of the recommendation JSON, keys in this order.
    """

    model_config = ConfigDict(populate_by_name=True, defer_build=True)
    id: str
    label: str
    rag: float
    # built by name (`fine_tuning=`), read and written as `fine-tuning`; validation_alias rather than alias keeps
    # the constructor's keyword the field name for type checkers
    fine_tuning: float = Field(validation_alias=AliasChoices("fine-tuning", "fine_tuning"),
                               serialization_alias="fine-tuning")
    hybrid: float
    because: str
    answers: dict[str, str]  # the factor's questions and their answers ('unknown' included)
    weight: float
    source: list[str]


class FiredRule(_Pulls):
    """A combination rule that fired, with its weighted effect (the `rules` entries of the recommendation JSON)."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)
    id: str
    when: dict[str, str]  # the rule's questions and the answers that made it fire
    rag: float
    fine_tuning: float = Field(validation_alias=AliasChoices("fine-tuning", "fine_tuning"),
                               serialization_alias="fine-tuning")  # as in FactorPull
    hybrid: float
    because: str
    source: list[str]
    note: Optional[str]


class FlipOut(BaseModel):
    """A single-answer change that changes the recommendation."""

    model_config = ConfigDict(populate_by_name=True, extra="allow", defer_build=True)
    question: str
    from_: str = Field(validation_alias=AliasChoices("from", "from_"), serialization_alias="from")  # as fine_tuning
    to: str
    recommendation: Approach


class RecommendationOut(BaseModel):
    """The recommendation JSON of the contract (`recommend --format json`); more fields are allowed."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    version: Literal[1]
    recommendation: Approach
    scores: dict[Approach, float]
    confidence: float = Field(ge=0, le=1)
    factors: list[FactorOut]
    flips: list[FlipOut]


class CaseReportOut(BaseModel):
    """The JSON of `advisor cases --format json`."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    total: int
    agree: int
    accuracy: float
    confusion: dict[str, dict[str, int]]
    disagreements: list[dict[str, Any]]
