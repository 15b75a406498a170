"""Each pipeline's own options, typed: a model that refuses unknown keys, so a misspelt option is an error.

`None` means "the measured default of the approach", which lives beside the code that uses it (chunking,
index, training, hybrid, few-shot prompting). Light module: pydantic only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


class RetrievalOptions(_Options):
    """Chunking and retrieval [rag, hybrid]."""

    chunk_tokens: int | None = Field(None, ge=1)
    chunk_overlap: int | None = Field(None, ge=0)
    lexical: str | None = None
    fusion: str | None = None
    dense_weight: float | None = Field(None, ge=0, le=1)
    context_k: int | None = Field(None, ge=1)
    # Where the index lives (backends/store.py): hnswlib files in the run folder (the default), or Qdrant,
    # embedded in the run folder, in an embedded storage folder (qdrant_path) or on a server (qdrant_url; the
    # key comes from QDRANT_API_KEY, never from here). text_field and doc_field name the payload fields of an
    # existing collection, which is then only read.
    store: Literal["hnswlib", "qdrant"] | None = None
    qdrant_url: str | None = None
    qdrant_path: str | None = None
    collection: str | None = None
    text_field: str | None = None
    doc_field: str | None = None


class TrainingOptions(_Options):
    """LoRA and the training loop [fine-tuning, hybrid]; checked when the plan makes its TrainConfig."""

    mode: str | None = None
    epochs: float | None = None
    lr: float | None = None
    rank: int | None = None
    alpha: int | None = None
    dropout: float | None = None
    target_modules: str | tuple[str, ...] | None = None
    batch_size: int | None = None  # the global batch, whatever the number of processes
    accumulation: int | None = None  # forward passes per optimiser step
    max_length: int | None = None
    val_fraction: float | None = None
    patience: int | None = None
    doc_chunk_tokens: int | None = None
    # on: recompute each layer's activations in the backward pass (less memory, about a third more time);
    # auto (None): on only where the memory check says training would not fit without it.
    gradient_checkpointing: Literal["auto", "on", "off"] | None = None


class HybridOptions(_Options):
    """RAFT-style training data [hybrid]: the share of prompts holding the right chunk, and an index to reuse."""

    oracle_share: float | None = Field(None, ge=0, le=1)
    rag_index: str | None = None


class PromptOptions(_Options):
    """Few-shot prompting [prompt]: demonstrations per input (None: the rule in backends/fewshot.py)."""

    shots: int | None = Field(None, ge=0)


class EndpointOptions(_Options):
    """An OpenAI-compatible endpoint that answers for the untouched model, `prompt` and `rag`.

    `url` is the `/v1` base URL as given (it may hold credentials or a query string, so it is never
    written anywhere: records name only its host, see `advisor.backends.endpoint.host_of`). The key is
    read from the environment variable `api_key_env` when a request is sent, never stored. Prices are per
    million tokens; `cache` is the folder of the run's answer cache.
    """

    url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(4, ge=1, le=256)
    price_in: float | None = Field(None, ge=0)
    price_out: float | None = Field(None, ge=0)
    price_source: str | None = None  # where the prices came from: the options or the answers file
    currency: str = "USD"
    timeout: float = Field(600.0, gt=0)  # seconds per request, as the openai client's default
    max_retries: int = Field(4, ge=0, le=20)  # for 408, 409, 429, 5xx, timeouts and dropped connections
    cache: str | None = None
