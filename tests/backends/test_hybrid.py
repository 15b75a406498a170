"""The RAFT-style hybrid: training contexts (oracle plus distractors), and a real build that answers with sources."""

from __future__ import annotations

import json

import pytest

from advisor.backends.options import HybridOptions, TrainingOptions
from advisor.backends.base import BuildSettings, Document, Hit, QAPair
from advisor.backends.hybrid import DEFAULT_CONTEXT_K, HybridBackend, oracle_hit, raft_contexts
from advisor.backends.prompts import context_messages

DOCS = [
    Document(f"d{i}.md", f"Document {i} says the code word is word{i}. Nothing else here.", "0" * 64) for i in range(6)
]
PAIRS = [QAPair(f"What is code word {i}?", f"word{i % 6}", f"d{i % 6}.md") for i in range(10)]


def fake_retrieve(question: str, k: int) -> list[Hit]:
    """Every document's chunk, the asked one first, then the others in order (as a retriever would rank)."""
    n = int(question.split()[-1].rstrip("?")) % 6
    order = [n] + [i for i in range(6) if i != n]
    return [Hit(f"d{i}.md", 0, DOCS[i].text, 1.0 - j / 10) for j, i in enumerate(order)][:k]


def test_raft_contexts_mix_oracle_and_distractor_only_prompts_deterministically():
    contexts = raft_contexts(PAIRS, fake_retrieve, DOCS, k=3, oracle_share=0.8, seed=0)
    assert [len(c.hits) for c in contexts] == [3] * 10
    assert sum(c.oracle for c in contexts) == 8
    for pair, context in zip(PAIRS, contexts):
        holders = [h for h in context.hits if pair.answer in h.text]
        if context.oracle:
            assert len(holders) == 1 and holders[0].doc_id == pair.source
        else:
            assert holders == [] and all(h.doc_id != pair.source for h in context.hits)
    assert contexts == raft_contexts(PAIRS, fake_retrieve, DOCS, k=3, oracle_share=0.8, seed=0)
    other = raft_contexts(PAIRS, fake_retrieve, DOCS, k=3, oracle_share=0.8, seed=1)
    assert [c.oracle for c in other] != [c.oracle for c in contexts] or [c.hits for c in other] != [
        c.hits for c in contexts
    ]
    # The oracle's place among the chunks is shuffled, so the model cannot learn "the answer is first".
    places = {[h.doc_id for h in c.hits].index(p.source) for p, c in zip(PAIRS, contexts) if c.oracle}
    assert len(places) > 1


def test_oracle_falls_back_to_a_window_of_the_source_when_retrieval_missed_it():
    pair = QAPair("What is code word 2?", "word2", "d2.md")
    missed = [Hit("d0.md", 0, DOCS[0].text, 1.0)]
    hit = oracle_hit(pair, missed, {d.id: d for d in DOCS})
    assert hit.doc_id == "d2.md" and "word2" in hit.text


@pytest.fixture(scope="module")
def built_hybrid(tmp_path_factory, built_rag, tiny_documents, tiny_pairs):
    _, index = built_rag
    out = tmp_path_factory.mktemp("hybrid") / "out"
    settings = BuildSettings(
        k=3,
        max_new_tokens=8,
        training=TrainingOptions(epochs=1, batch_size=4),
        hybrid=HybridOptions(rag_index=str(index)),
    )
    backend = HybridBackend(settings)
    facts = backend.build(tiny_documents, tiny_pairs, out, progress=False)
    return backend, facts, out, settings


def test_hybrid_build_trains_on_context_and_answers_with_sources(built_hybrid, tiny_documents, tiny_pairs):
    backend, facts, out, settings = built_hybrid
    assert facts["train"]["steps"] == 2 and not facts["train"]["interrupted"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["approach"] == "hybrid" and manifest["context_k"] == DEFAULT_CONTEXT_K
    assert (out / "rag" / "manifest.json").is_file() and (out / "adapter" / "adapter_config.json").is_file()
    ids = {d.id for d in tiny_documents}
    answers = backend.answer_many([tiny_pairs[0].question, tiny_pairs[3].question])
    for answer in answers:
        assert answer.text and answer.sources and set(answer.sources) <= ids and len(answer.hits) == DEFAULT_CONTEXT_K
    assert backend.retrieve(tiny_pairs[0].question, 2)[0].doc_id in ids
    loaded = HybridBackend.load(out, settings)
    assert loaded.answer(tiny_pairs[0].question).text == answers[0].text


def test_hybrid_trains_on_exactly_the_prompt_it_answers_with(built_hybrid, tiny_pairs):
    backend, *_ = built_hybrid
    pair = tiny_pairs[0]
    messages = backend.training_messages([pair], [])[0]
    hits = backend.last_contexts[0].hits
    assert messages == context_messages(pair.question, hits)
    assert backend.prompt_with(pair.question, hits) == messages
