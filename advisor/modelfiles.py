"""Structured input read into pydantic models, with every problem as one line naming the file and the place.

Every typed file (answers, rule bases, case libraries, run manifests, metrics, validation runs) is read by
`read_model_file`: the text through `advisor.datafiles`, then `check_model`, whose pydantic errors become
`file: place: problem` (`rules[3].weight: Input should be a valid number`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from advisor.datafiles import read_data_file
from advisor.errors import InputError
from advisor.text import show

if TYPE_CHECKING:
    from pydantic import ValidationError


def format_loc(loc: tuple[Any, ...]) -> str:
    """('rules', 3, 'when') -> 'rules[3].when'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            out += ("." if out else "") + (text if text.isprintable() and text.strip() else repr(text))
    return out or "(top level)"


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """Every pydantic error as (place, message), e.g. ('rules[3].weight', 'Input should be ...')."""
    problems = []
    for err in exc.errors(include_url=False):
        msg = " ".join(str(err["msg"]).split())
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "literal_error" and err["loc"] and err["loc"][-1] == "version":
            msg = f"unsupported version {show(err.get('input'))}; this advisor reads version 1"
        problems.append((format_loc(tuple(err["loc"])), msg))
    return problems


def describe_validation_error(exc: ValidationError, name: str) -> list[str]:
    """Every pydantic error as 'name: place: message'."""
    return [f"{name}: {place}: {msg}" for place, msg in validation_problems(exc)]


def validation_input_error(exc: ValidationError, name: str) -> InputError:
    """One InputError from a pydantic error: the first problem, and how many more there are."""
    lines = describe_validation_error(exc, name)
    more = f" (and {len(lines) - 1} more problem(s))" if len(lines) > 1 else ""
    return InputError(lines[0] + more)


def check_mapping(data: Any, name: str, what: str, versioned: bool = True) -> dict:
    """`data` if it is a mapping; else one InputError saying what the file must be."""
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "nothing"
        top = " with 'version: 1' at the top" if versioned else ""
        raise InputError(f"{name}: the {what} must be a mapping{top}, found {kind}")
    return data


def read_model_file(path: str | os.PathLike, model_class: Any, what: str) -> Any:
    """Read a YAML/JSON file into a pydantic model; any problem is one InputError naming the file and place."""
    return check_model(read_data_file(path, what), model_class, str(path), what)


def check_model(data: Any, model_class: Any, name: str, what: str) -> Any:
    """Validate parsed data (a mapping) as a pydantic model; any problem is one InputError naming the place."""
    from pydantic import ValidationError

    version = model_class.model_fields.get("version")
    data = check_mapping(data, name, what, versioned=version is not None and version.is_required())
    try:
        return model_class.model_validate(data)
    except ValidationError as exc:
        raise validation_input_error(exc, name) from None
