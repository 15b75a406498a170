"""The review page of `advisor serve --review PAIRS`: a person accepts, edits or rejects each drafted pair.

Each decision rewrites the pairs file atomically at once (under a lock, from the file as it is on disk), so
closing the browser or stopping the server loses nothing decided. Rejected pairs stay in the file, marked;
`validate` never uses them. Light: the drafted-pairs file module and rapidfuzz, no models.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal, Optional

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from advisor.backends.draftfile import DraftedPair, read_drafted, review_counts, write_pairs
from advisor.errors import InputError
from advisor.modelfiles import validation_problems
from advisor.web.security import read_body

MAX_TEXT = 2000  # characters of an edited question or answer


class ReviewPairOut(BaseModel):
    """A drafted pair as the page shows it: `highlight` is where the answer sits in the passage (or None)."""

    index: int
    question: str
    answer: str
    source: str
    span: tuple[int, int]
    passage: str
    review: str
    highlight: Optional[tuple[int, int]]


class ReviewOut(BaseModel):
    """GET /api/review: the file, every pair, and how many carry each review state."""

    file: str
    pairs: list[ReviewPairOut]
    counts: dict[str, int]


class DecisionIn(BaseModel):
    """POST /api/review/{index}: accept, reject, or edit (with the new question and answer)."""

    decision: Literal["accept", "edit", "reject", "undo"]
    question: Optional[str] = Field(None, max_length=MAX_TEXT)
    answer: Optional[str] = Field(None, max_length=MAX_TEXT)


_STATE = {"accept": "accepted", "edit": "edited", "reject": "rejected", "undo": "unreviewed"}


class ReviewFile:
    """One drafted pairs file under review; every decision is read, applied and written under one lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        read_drafted(self.path)  # not a drafted pairs file: one line, exit 2, before the server starts

    def view(self) -> ReviewOut:
        """Every pair with its answer located in its passage, and the counts."""
        return _view(self.path, read_drafted(self.path))

    def decide(self, index: int, decision: DecisionIn) -> ReviewOut:
        """Apply one decision to pair `index` and save the file atomically."""
        with self._lock:
            pairs = read_drafted(self.path)
            if not 0 <= index < len(pairs):
                raise StarletteHTTPException(404, f"no pair {index} in {self.path.name} (it holds {len(pairs)})")
            pair = pairs[index]
            update: dict[str, Any] = {"review": _STATE[decision.decision]}
            if decision.decision == "edit":
                question, answer = (decision.question or "").strip(), (decision.answer or "").strip()
                if not question or not answer:
                    raise InputError("edit: 'question' and 'answer' must both be non-empty text")
                update |= {"question": " ".join(question.split()), "answer": " ".join(answer.split())}
            pairs[index] = DraftedPair.model_validate({**pair.model_dump(), **update})
            write_pairs(self.path, pairs)
            return _view(self.path, pairs)


def _view(path: Path, pairs: list[DraftedPair]) -> ReviewOut:
    from advisor.backends.draftchecks import answer_span

    shown = [ReviewPairOut(index=i, question=p.question, answer=p.answer, source=p.source, span=p.span,
                           passage=p.passage, review=p.review, highlight=answer_span(p.answer, p.passage))
             for i, p in enumerate(pairs)]
    return ReviewOut(file=path.name, pairs=shown, counts=review_counts([p.review for p in pairs]))


def add_routes(app: FastAPI, review: ReviewFile | None, page: Any) -> None:
    """The review page and its API; without --review, the page says how to start one."""

    def missing() -> None:
        raise StarletteHTTPException(404, "no pairs file to review: start 'advisor serve --review PAIRS' with a "
                                          "file written by 'advisor draft'")

    @app.get("/review", response_class=HTMLResponse, include_in_schema=False)
    async def review_page() -> HTMLResponse:
        if review is None:
            missing()
        assert review is not None
        return page("review.html.j2", file=review.path.name)

    @app.get("/api/review", response_model=ReviewOut, tags=["api"])
    async def review_pairs() -> ReviewOut:
        """The drafted pairs under review (`advisor serve --review PAIRS`), each with its passage."""
        if review is None:
            missing()
        assert review is not None
        return await run_in_threadpool(review.view)

    @app.post("/api/review/{index}", response_model=ReviewOut, tags=["api"],
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": DecisionIn.model_json_schema()}}}})
    async def review_decide(index: int, request: Request) -> ReviewOut:
        """Accept, edit or reject pair `index` (body: DecisionIn); the file is saved atomically before the answer."""
        if review is None:
            missing()
        assert review is not None
        body = await read_body(request.stream(), request.headers.get("content-length"))  # bounded, as every body
        try:
            decision = DecisionIn.model_validate_json(body)
        except ValidationError as exc:
            where, problem = validation_problems(exc)[0]
            raise InputError(f"request body: '{where}': {problem}") from None
        return await run_in_threadpool(review.decide, index, decision)
