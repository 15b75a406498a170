"""The drafted pairs file: the pairs format `validate` reads plus where each pair came from and its review.

A drafted pair is a line of the usual JSON Lines pairs file (docs/formats.md) with additive fields:
`origin` "drafted", `source` (the document), `span` (the passage's character offsets in the document's
text), `passage` (that text, so a reviewer needs nothing else) and `review`, one of REVIEWS. The review
page reads and rewrites the file here, atomically after each decision; `validate` skips rejected pairs.
Light: pydantic and the atomic writer, no models.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from advisor.atomic import write_text
from advisor.backends.data import REVIEWS
from advisor.datafiles import parse_json
from advisor.errors import InputError
from advisor.modelfiles import validation_problems

DRAFTED = "drafted"
Review = Literal["unreviewed", "accepted", "edited", "rejected"]
REVIEWED = ("accepted", "edited")  # a person read the pair and kept it


class DraftedPair(BaseModel):
    """One drafted pair as stored; fields not named here (a person's own additions) are kept."""

    model_config = ConfigDict(extra="allow")

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    source: str
    origin: Literal["drafted"] = "drafted"
    span: tuple[int, int]
    passage: str = ""
    review: Review = "unreviewed"

    def line(self) -> str:
        """The pair as one JSON line."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False)


def write_pairs(path: str | Path, pairs: list[DraftedPair]) -> None:
    """Write the pairs file atomically (an interrupted write leaves the previous file whole)."""
    write_text(path, "".join(p.line() + "\n" for p in pairs), "pairs file")


def read_drafted(path: str | Path) -> list[DraftedPair]:
    """The pairs of a drafted file, checked; InputError (one line) when it is not a drafted pairs file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pairs file {path} {'does not exist' if not path.exists() else 'is not a file'}")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"pairs file {path} is not UTF-8 text") from None
    pairs: list[DraftedPair] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record = parse_json(line, where)  # nesting bounded, duplicate keys refused, as for every pairs file
        if not isinstance(record, dict) or record.get("origin") != DRAFTED:
            raise InputError(f"{where}: not a drafted pair (no \"origin\": \"drafted\"); the review page reviews "
                             "files written by 'advisor draft'")
        try:
            pairs.append(DraftedPair.model_validate(record))
        except ValidationError as exc:
            field, problem = validation_problems(exc)[0]
            raise InputError(f"{where}: '{field}': {problem}") from None
    if not pairs:
        raise InputError(f"pairs file {path} holds no pairs to review")
    return pairs


def review_counts(reviews: list[str]) -> dict[str, int]:
    """How many pairs carry each review state (every state named, zeros included)."""
    counted = Counter(reviews)
    return {state: counted.get(state, 0) for state in REVIEWS}


def pairs_origin(path: str | Path, used: int):
    """Where a pairs file's `used` pairs came from (runrecords.PairsOrigin), or None when none was drafted.

    Read after `data.load_pairs` has checked the file, so every line is a JSON object here."""
    from advisor.runrecords import PairsOrigin

    drafted = reviewed = rejected = 0
    for line in Path(path).read_text(encoding="utf-8-sig").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("origin") != DRAFTED:
            continue
        review = record.get("review", "unreviewed")
        if review == "rejected":
            rejected += 1
            continue
        drafted += 1
        reviewed += review in REVIEWED
    if not drafted and not rejected:
        return None
    return PairsOrigin(drafted=drafted, reviewed=reviewed, rejected=rejected, pairs=used)
