"""Draft question/answer pairs from documents with the run's generator, and keep only those their source backs.

    summary = draft(Path("docs"), Path("runs/drafted.jsonl"), n=40, settings=BuildSettings())

Passages are the RAG chunker's windows, taken round-robin over the documents in a seeded order (never the
first N). For each, the generator gets a fixed prompt with one worked example and a sentence of the passage to
ask about; several sentences, several candidates. Every candidate meets the LLM-free checks of `draftchecks`,
then the round-trip retrieval check (the project's own retriever must rank the source document in its top k
for the question alone), the near-duplicate check and one pair per passage. A journal beside the pairs file
records each finished passage, so an interrupted draft resumes where it stopped; the pairs file and the
summary are rewritten atomically after each round. Light at import: models load inside `draft`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import BaseModel

from advisor.atomic import check_output_file, write_text
from advisor.backends.base import BuildSettings, Document
from advisor.backends.chunking import Chunk
from advisor.backends.draftchecks import CHECKS, near_duplicate, parse_reply, text_check
from advisor.backends.draftfile import DraftedPair, read_drafted, write_pairs
from advisor.errors import InputError

PROMPT_VERSION = 1  # bump when the prompt changes, so a journal of the old prompt is not resumed
DEFAULT_N = 60
DEFAULT_CANDIDATES = 3
MIN_PASSAGE_WORDS = 20
MIN_SENTENCE_WORDS = 5
DRAFT_TOKENS = 64  # new tokens per reply: a question and a short answer fit in about 40

SYSTEM = "You write test questions about documents. Reply with one question and its short answer."
INSTRUCTIONS = (
    "Write one question that a user of these documents would ask, answered by this sentence of the passage:\n"
    "\"{focus}\"\n"
    "The question must make sense without the passage and must not contain the answer. The answer is a few "
    "words copied from the sentence.\nReply in exactly two lines:\nQuestion: ...\nAnswer: ..."
)
EXAMPLE_PASSAGE = (
    "The Halden reading room opens at 8:30 on weekdays and at 10:00 on Saturdays. Members may borrow up to six "
    "books at a time; loans last three weeks and can be renewed twice online."
)
EXAMPLE_FOCUS = "Members may borrow up to six books at a time; loans last three weeks and can be renewed twice online."
EXAMPLE_REPLY = "Question: How many books can a member of the Halden reading room borrow at once?\nAnswer: six books"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_KEY = re.compile(r"\d|(?<!^)\b[A-Z]")


def _user(passage: str, focus: str) -> str:
    return f"Passage:\n{passage.strip()}\n\n" + INSTRUCTIONS.format(focus=focus.strip())


def draft_messages(passage: str, focus: str) -> list[dict[str, str]]:
    """The fixed prompt: system line, one worked example, then the passage and the sentence to ask about."""
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": _user(EXAMPLE_PASSAGE, EXAMPLE_FOCUS)},
        {"role": "assistant", "content": EXAMPLE_REPLY},
        {"role": "user", "content": _user(passage, focus)},
    ]


def focus_sentences(passage: str, count: int) -> list[str]:
    """Up to `count` sentences of the passage to ask about: those of at least MIN_SENTENCE_WORDS words, the ones
    holding numbers and names first, then in passage order; deterministic."""
    sentences = [" ".join(s.split()) for s in _SENTENCE_END.split(passage)]
    sentences = [s for s in sentences if len(s.split()) >= MIN_SENTENCE_WORDS]
    ranked = sorted(range(len(sentences)), key=lambda i: (-min(3, len(_KEY.findall(sentences[i]))), i))
    return [sentences[i] for i in sorted(ranked[:count])]


def spread(chunks: list[Chunk], seed: int) -> list[Chunk]:
    """The passages to draft from, in drafting order: documents in a seeded order, each document's passages
    shuffled with the seed, then one passage of each document in turn, so any prefix covers the documents."""
    rng = random.Random(seed)
    by_doc: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        if len(chunk.text.split()) >= MIN_PASSAGE_WORDS:
            by_doc.setdefault(chunk.doc_id, []).append(chunk)
    doc_ids = sorted(by_doc)
    rng.shuffle(doc_ids)
    for doc_id in doc_ids:
        rng.shuffle(by_doc[doc_id])
    ordered: list[Chunk] = []
    for turn in range(max((len(v) for v in by_doc.values()), default=0)):
        ordered += [by_doc[d][turn] for d in doc_ids if turn < len(by_doc[d])]
    return ordered


class Candidate(BaseModel):
    """One reply of the generator for a passage and what became of it (`removed_by`: a key of CHECKS, or None
    when kept)."""

    reply: str
    question: str | None = None
    answer: str | None = None
    preamble: bool = False
    removed_by: str | None = None


class PassageRecord(BaseModel):
    """A finished passage in the journal: where it is, its candidates, and the seconds it took."""

    doc_id: str
    chunk_id: int
    start: int
    end: int
    candidates: list[Candidate]
    seconds: float


class DraftSummary(BaseModel):
    """draft.json: what was asked, what was drafted, how many each check removed, what was kept, how long."""

    asked: int
    kept: int
    passages: int
    passages_available: int
    documents: int
    documents_drafted_from: int
    candidates: int
    preambles_dropped: int
    removed: dict[str, int]
    checks: dict[str, str]
    seconds: float
    seconds_per_kept: float | None
    generator: str
    embedder: str
    k: int
    seed: int
    candidates_per_passage: int
    resumed_passages: int
    pairs_file: str
    note: str


@dataclass
class _Journal:
    """The journal of finished passages: one header line (what the draft depends on), then one line each."""

    path: Path
    key: str

    def read(self) -> list[PassageRecord]:
        """The finished passages of an earlier run with the same key (none when the key differs)."""
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            header = json.loads(lines[0]) if lines else None
        except ValueError:  # a header cut by an interruption: nothing to resume
            return []
        if not isinstance(header, dict) or header.get("key") != self.key:
            return []
        records = []
        for line in lines[1:]:
            try:
                records.append(PassageRecord.model_validate_json(line))
            except ValueError:  # a line cut by an interruption: that passage is drafted again
                break
        return records

    def start(self, records: list[PassageRecord]) -> None:
        """Begin the journal anew with these records (the kept part of an earlier one)."""
        text = json.dumps({"key": self.key}) + "\n" + "".join(r.model_dump_json() + "\n" for r in records)
        write_text(self.path, text, "draft journal")

    def append(self, record: PassageRecord) -> None:
        """Add a finished passage (flushed at once: a crash loses at most the passage being written)."""
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(record.model_dump_json() + "\n")
            handle.flush()


def summary_path(out: Path) -> Path:
    """The summary beside the pairs file: runs/drafted.jsonl -> runs/drafted.draft.json."""
    return out.with_name(out.stem + ".draft.json")


def work_dir(out: Path) -> Path:
    """The draft's own folder beside the pairs file (journal and retrieval index): runs/drafted.draft/."""
    return out.with_name(out.stem + ".draft")


def _key(documents: list[Document], settings: BuildSettings, candidates: int, model_name: str) -> str:
    facts = [PROMPT_VERSION, candidates, settings.seed, settings.k, settings.embedder, model_name,
             [(d.id, d.sha256) for d in documents]]
    if settings.endpoint is None:
        from advisor.backends.precision import held_as

        held = held_as(settings.device, settings.dtype, settings.quantize)
        if held is not None:  # another precision drafts other text
            facts.append(held)
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]


def _refuse_reviewed(out: Path) -> None:
    """A pairs file a person has reviewed is never overwritten by a new draft."""
    if not out.is_file():
        return
    try:
        pairs = read_drafted(out)
    except InputError:
        return  # not a drafted file, or empty: check_output_file and the atomic writer decide
    reviewed = sum(p.review != "unreviewed" for p in pairs)
    if reviewed:
        raise InputError(f"--out {out} holds {reviewed} pairs a person reviewed; draft into another file "
                         "(a new draft would replace their decisions)")


def plan_passages(documents: list[Document], settings: BuildSettings, n: int) -> list[Chunk]:
    """The passages in drafting order (the chunker's windows, spread), checked against --n; no model loaded."""
    from advisor.backends.chunking import chunk_documents
    from advisor.backends.embedder import load_embedder_tokenizer
    from advisor.backends.rag import retrieval_options

    options = retrieval_options(settings)
    chunks = chunk_documents(documents, load_embedder_tokenizer(settings.embedder), options.chunk_tokens,
                             options.chunk_overlap)
    passages = spread(chunks, settings.seed)
    if not passages:
        raise InputError(f"the documents hold no passage of at least {MIN_PASSAGE_WORDS} words to draft from")
    if n > len(passages):
        raise InputError(f"--n {n} is more than the documents allow: they give {len(passages)} passages of at "
                         f"least {MIN_PASSAGE_WORDS} words and a draft keeps one pair a passage; ask for at most "
                         f"{len(passages)}")
    return passages


def _kept_pairs(records: list[PassageRecord], texts: dict[str, str], n: int) -> list[DraftedPair]:
    pairs = []
    for record in records:
        for c in record.candidates:
            if c.removed_by is None and c.question and c.answer:
                passage = texts[record.doc_id][record.start:record.end]
                pairs.append(DraftedPair(question=c.question, answer=c.answer, source=record.doc_id,
                                         span=(record.start, record.end), passage=passage))
    return pairs[:n]


def summarise(records: list[PassageRecord], n: int, kept: int, available: int, documents: int,
              settings: BuildSettings, candidates: int, model_name: str, resumed: int, out: Path) -> DraftSummary:
    """The summary of the journal's passages, with the plain note on what was kept."""
    removed = {name: 0 for name in CHECKS}
    every = [c for r in records for c in r.candidates]
    for c in every:
        if c.removed_by is not None:
            removed[c.removed_by] += 1
    seconds = round(sum(r.seconds for r in records), 2)
    if kept >= n:
        note = f"kept {kept} pairs of {len(every)} candidates, as asked"
    else:
        worst = max(removed, key=lambda name: removed[name])
        note = (f"kept only {kept} of the {n} pairs asked: the documents' {available} passages are used up; the "
                f"check that removed most was '{worst}' ({removed[worst]} of {len(every)} candidates: "
                f"{CHECKS[worst]})")
    return DraftSummary(
        asked=n, kept=kept, passages=len(records), passages_available=available, documents=documents,
        documents_drafted_from=len({r.doc_id for r in records}), candidates=len(every),
        preambles_dropped=sum(c.preamble for c in every), removed=removed, checks=dict(CHECKS), seconds=seconds,
        seconds_per_kept=round(seconds / kept, 2) if kept else None, generator=model_name,
        embedder=settings.embedder, k=settings.k, seed=settings.seed, candidates_per_passage=candidates,
        resumed_passages=resumed, pairs_file=str(out), note=note,
    )


def draft(docs_dir: str | Path, out: str | Path, n: int = DEFAULT_N, settings: BuildSettings | None = None,
          candidates: int = DEFAULT_CANDIDATES, progress: bool = False,
          echo: Callable[[str], None] | None = None) -> DraftSummary:
    """Draft up to n checked pairs from the documents into `out` (JSON Lines), its summary beside it; resumes an
    interrupted draft of the same documents and settings."""
    from advisor.backends.data import load_documents

    settings = settings or BuildSettings()
    out = Path(out)
    say = echo or (lambda message: None)
    if n < 1:
        raise InputError(f"--n must be at least 1, got {n}")
    if candidates < 1:
        raise InputError(f"--candidates must be at least 1, got {candidates}")
    check_output_file(out, "pairs file")
    _refuse_reviewed(out)
    documents = load_documents(docs_dir)
    passages = plan_passages(documents, settings, n)
    texts = {d.id: d.text for d in documents}

    from advisor.backends.generation import answerer, local_name

    model_name = settings.endpoint.model if settings.endpoint is not None else local_name(settings.generator)
    work = work_dir(out)
    work.mkdir(parents=True, exist_ok=True)
    journal = _Journal(work / "journal.jsonl", _key(documents, settings, candidates, model_name))
    records = journal.read()
    resumed = len(records)
    journal.start(records)
    if resumed:
        say(f"resuming: {resumed} passages were drafted before")

    def kept_questions() -> list[str]:
        return [c.question for r in records for c in r.candidates if c.removed_by is None and c.question]

    def save() -> DraftSummary:
        pairs = _kept_pairs(records, texts, n)
        write_pairs(out, pairs)
        summary = summarise(records, n, len(pairs), len(passages), len(documents), settings, candidates,
                            model_name, resumed, out)
        write_text(summary_path(out), summary.model_dump_json(indent=2) + "\n", "draft summary")
        return summary

    done = {(r.doc_id, r.chunk_id) for r in records}
    todo = [p for p in passages if (p.doc_id, p.chunk_id) not in done]
    if len(kept_questions()) >= n or not todo:
        return save()

    retriever = _retriever(documents, settings, work / "index", progress)
    model = answerer(settings)
    say(f"drafting from {len(passages)} passages of {len(documents)} documents with {model_name}")
    while todo and len(kept_questions()) < n:
        size = max(2, min(16, 2 * (n - len(kept_questions()))))  # about twice the passages still needed
        batch, todo = todo[:size], todo[size:]
        for record in _draft_round(batch, model, retriever, settings, candidates, kept_questions()):
            records.append(record)
            journal.append(record)
        summary = save()
        say(f"{summary.passages} passages, {summary.candidates} candidates, {summary.kept} kept")
    return save()


def _retriever(documents: list[Document], settings: BuildSettings, folder: Path, progress: bool):
    """The project's RAG retriever over the documents, built (or reused) in the draft's folder."""
    from advisor.backends.options import RetrievalOptions
    from advisor.backends.rag import RagBackend

    own = replace(settings, retrieval=RetrievalOptions(chunk_tokens=settings.retrieval.chunk_tokens,
                                                       chunk_overlap=settings.retrieval.chunk_overlap))
    backend = RagBackend(own)
    backend.build(documents, [], folder, progress=progress)
    return backend


def _draft_round(batch: list[Chunk], model, retriever, settings: BuildSettings, candidates: int,
                 kept: list[str]) -> list[PassageRecord]:
    """Generate and check the candidates of a round of passages; one PassageRecord each, in order."""
    started = time.perf_counter()
    prompts: list[tuple[int, list[dict[str, str]]]] = []
    for i, chunk in enumerate(batch):
        prompts += [(i, draft_messages(chunk.text, focus)) for focus in focus_sentences(chunk.text, candidates)]
    replies = model.complete([m for _, m in prompts], max_new_tokens=DRAFT_TOKENS, batch_size=settings.batch_size)
    found: list[list[Candidate]] = [[] for _ in batch]
    for (i, _), reply in zip(prompts, replies):
        parsed = parse_reply(reply.text)
        failed = text_check(parsed, batch[i].text)
        found[i].append(Candidate(reply=reply.text, question=parsed.question if parsed else None,
                                  answer=parsed.answer if parsed else None,
                                  preamble=bool(parsed and parsed.preamble), removed_by=failed))
    asking = [(i, c) for i, cs in enumerate(found) for c in cs if c.removed_by is None]
    if asking:
        hits = retriever.retrieve_many([c.question for _, c in asking], settings.k)
        for (i, c), top in zip(asking, hits):
            if batch[i].doc_id not in {h.doc_id for h in top}:
                c.removed_by = "retrieval"
    kept = list(kept)
    for cs in found:
        has_pair = False
        for c in cs:
            if c.removed_by is not None:
                continue
            if has_pair:
                c.removed_by = "spare"
            elif near_duplicate(c.question or "", kept):
                c.removed_by = "duplicate"
            else:
                has_pair = True
                kept.append(c.question or "")
    share = round((time.perf_counter() - started) / len(batch), 3)
    return [PassageRecord(doc_id=chunk.doc_id, chunk_id=chunk.chunk_id, start=chunk.start, end=chunk.end,
                          candidates=cs, seconds=share) for chunk, cs in zip(batch, found)]


