"""The manifest.json of a built pipeline, read through advisor's one file reader and typed, for every backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from advisor.errors import InputError

MANIFEST = "manifest.json"


class Models(BaseModel):
    """The models a pipeline was built with."""

    model_config = ConfigDict(extra="allow", strict=True)
    embedder: Optional[str] = None
    generator: Optional[str] = None


class Manifest(BaseModel):
    """The fields of a build's manifest that loading relies on; more fields are allowed."""

    model_config = ConfigDict(extra="allow", strict=True)
    approach: str
    models: Models = Field(default_factory=Models)
    settings: dict[str, Any] = Field(default_factory=dict)
    retrieval: dict[str, Any] = Field(default_factory=dict)
    generator: Optional[str] = None
    generator_path: Optional[str] = None
    interrupted: bool = False


def read_manifest_file(out: str | Path, approach: str | None = None, needs: tuple[str, ...] = ()) -> dict[str, Any]:
    """OUT/manifest.json as plain data, checked (types, `approach`, the dotted fields in `needs`); InputError if not."""
    from advisor.answers import check_model
    from advisor.datafiles import read_data_file

    path = Path(out) / MANIFEST
    if not path.exists():
        raise InputError(f"{out} holds no built pipeline (no {MANIFEST}); run 'advisor build' first")
    data = read_data_file(path, "manifest")
    manifest = check_model(data, Manifest, str(path), "manifest")
    if approach is not None and manifest.approach != approach:
        raise InputError(f"{out} holds a '{manifest.approach}' build, not '{approach}'")
    for field in needs:
        value: Any = data
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, str) or not value:
            raise InputError(f"{path}: {field}: missing; rebuild the pipeline with 'advisor build'")
    return data
