"""Where a RAG index lives: the one interface both stores answer through, and which store the options name.

Two stores: hnswlib files plus the in-process BM25 in the run folder (`index.ChunkIndex`, the default), and
Qdrant (`qdrant_store.QdrantStore`): embedded on disk in the run folder, in an embedded storage folder
elsewhere, or on a server or cluster by URL. The RAG arm, the hybrid, `advisor query` and evaluation only
call `ChunkStore.retrieve`, so they do not care which one holds the chunks. Light module: no client imported.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from advisor.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from advisor.backends.base import BuildSettings, Hit

STORES = ("hnswlib", "qdrant")
DEFAULT_STORE = "hnswlib"
DEFAULT_COLLECTION = "advisor"
RUN_FOLDER_STORAGE = "qdrant"  # the embedded Qdrant storage's folder inside a run folder
API_KEY_VARIABLE = "QDRANT_API_KEY"


class ChunkStore(abc.ABC):
    """A searchable index of chunks: top-k hits per question, by dense, lexical or fused retrieval."""

    @abc.abstractmethod
    def retrieve(self, queries: list[str], vectors: np.ndarray, k: int, mode: str | None = None) -> list[list[Hit]]:
        """Top-k chunks per query, best first: mode 'dense', 'lexical', or a fusion (default: the store's)."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the manifest records about retrieval (its 'retrieval' section), the store included."""

    def close(self) -> None:
        """Release what the store holds open (a client, a lock); searching afterwards is an error."""
        return None


@dataclass(frozen=True)
class StoreSettings:
    """The store a build writes to or reads from, resolved from the retrieval options and checked.

    `url` is a server (never with a key in it: the key comes from QDRANT_API_KEY); `path` an embedded
    storage folder outside the run folder; neither means embedded in the run folder. `text_field` and
    `doc_field` name the payload fields of an existing collection, which is then only read.
    """

    kind: str = DEFAULT_STORE
    url: str | None = None
    path: str | None = None
    collection: str = DEFAULT_COLLECTION
    text_field: str | None = None
    doc_field: str | None = None

    @property
    def read_only(self) -> bool:
        """An existing collection evaluated as it is: nothing is written to it."""
        return self.text_field is not None

    @property
    def where(self) -> str:
        """'server', 'path' (an embedded storage folder) or 'run folder' (embedded, replaced with the build)."""
        return "server" if self.url else "path" if self.path else "run folder"

    @property
    def shared(self) -> bool:
        """Updated in place and possibly read by others (a server or a storage folder outside the run folder)."""
        return self.url is not None or self.path is not None

    def label(self) -> str:
        """How messages name it: 'Qdrant at http://host:6333, collection docs'."""
        place = f"Qdrant at {self.url}" if self.url else f"the Qdrant storage {self.path}" if self.path else \
            "the run folder's Qdrant storage"
        return f"{place}, collection '{self.collection}'"


def _check_url(url: str) -> str:
    """A server URL safe to record: http(s), a host, no user, password, query or fragment."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--qdrant-url {url!r}: expected http://HOST:PORT or https://HOST (a Qdrant server)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InputError(f"--qdrant-url: give the server's address only (scheme, host, port, path); "
                         f"put the API key in {API_KEY_VARIABLE}, it is never written anywhere")
    return url.rstrip("/")


def store_settings(settings: BuildSettings) -> StoreSettings:
    """The store the retrieval options name, checked without connecting: any Qdrant option implies Qdrant."""
    given = settings.retrieval
    qdrant_options = {"--qdrant-url": given.qdrant_url, "--qdrant-path": given.qdrant_path,
                      "--collection": given.collection, "--text-field": given.text_field,
                      "--doc-field": given.doc_field}
    named = [flag for flag, value in qdrant_options.items() if value is not None]
    kind = given.store or ("qdrant" if named else DEFAULT_STORE)
    if kind == "hnswlib":
        if named:
            verb = "is an option" if len(named) == 1 else "are options"
            raise InputError(f"{', '.join(named)} {verb} of --store qdrant, not --store hnswlib")
        return StoreSettings()
    if given.qdrant_url and given.qdrant_path:
        raise InputError("give either --qdrant-url (a server) or --qdrant-path (an embedded storage folder), not both")
    if (given.text_field is None) != (given.doc_field is None):
        raise InputError("--text-field and --doc-field go together: they name the payload fields of an existing "
                         "collection holding each chunk's text and its document id")
    if given.text_field is not None and not (given.qdrant_url or given.qdrant_path):
        raise InputError("--text-field and --doc-field read an existing collection: say where it is with "
                         "--qdrant-url URL (a server) or --qdrant-path FOLDER (an embedded storage)")
    if given.lexical not in (None, "bm25"):
        raise InputError(f"--store qdrant keeps BM25 as sparse vectors; lexical '{given.lexical}' is only "
                         "available with --store hnswlib")
    collection = given.collection if given.collection is not None else DEFAULT_COLLECTION
    if not collection.strip() or any(c in collection for c in '<>:"/\\|?*\0'):
        raise InputError(f"--collection {collection!r}: expected a name without <>:\"/\\|?* characters")
    return StoreSettings(
        kind="qdrant",
        url=_check_url(given.qdrant_url) if given.qdrant_url else None,
        path=str(Path(given.qdrant_path).expanduser().resolve()) if given.qdrant_path else None,
        collection=collection,
        text_field=given.text_field,
        doc_field=given.doc_field,
    )


def check_store(store: StoreSettings, settings: BuildSettings) -> None:
    """Before any model loads: the store is reachable, accepts the key, and its collection fits the embedder
    (vector size, and for a collection advisor built, the embedder and chunking). Exit 2 with one line if not."""
    if store.kind == "qdrant" and store.shared:
        from advisor.backends.qdrant_store import check_collection

        check_collection(store, settings, settings.embedder)
