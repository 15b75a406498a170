"""`build rag` and `query` through click's CliRunner, end to end on the tiny corpus; bad input exits 2."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from advisor.cli import main

CONTRACT_FIELDS = {"approach", "questions", "retrieval", "answers", "baseline", "latency_ms", "build_seconds", "models"}


@pytest.fixture(scope="module")
def built_dir(tmp_path_factory, corpus_factory, pairs_factory):
    root = tmp_path_factory.mktemp("cli")
    docs = corpus_factory(root / "docs")
    qa = pairs_factory(root / "qa.jsonl")
    out = root / "out"
    result = CliRunner().invoke(main, ["build", "rag", "--docs", str(docs), "--qa", str(qa), "--out", str(out),
                                        "--eval-limit", "2", "--test-fraction", "0.5", "--max-new-tokens", "8",
                                        "--k", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_build_writes_metrics_in_the_contract_shape(built_dir):
    out, output = built_dir
    metrics = json.loads((out / "metrics.json").read_text())
    assert CONTRACT_FIELDS <= set(metrics)
    assert metrics["approach"] == "rag" and metrics["questions"] == 2 and metrics["interrupted"] is False
    assert metrics["retrieval"]["k"] == 2 and metrics["retrieval"]["questions"] == 4
    assert 0.0 <= metrics["retrieval"]["recall_at_k"] <= 1.0
    assert set(metrics["answers"]) == set(metrics["baseline"]["answers"]) == {"answer_match", "exact_match", "f1",
                                                                              "contains"}
    assert metrics["latency_ms"]["p50"] > 0 and metrics["build_seconds"] > 0
    assert metrics["models"] == {"generator": "SmolLM2-135M-Instruct", "embedder": "all-MiniLM-L6-v2"}
    assert json.loads((out / "manifest.json").read_text())["approach"] == "rag"
    assert len([line for line in (out / "answers.jsonl").read_text().splitlines() if '"answer"' in line]) == 2
    assert "held-out questions answered" in output and "metrics.json" in output


def test_query_answers_and_names_the_documents_used(built_dir):
    out, _ = built_dir
    question = "Who founded Pelling Bakery?"
    result = CliRunner().invoke(main, ["query", str(out), question, "--max-new-tokens", "8", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["approach"] == "rag" and answer["sources"][0] == "places/bakery.md"
    # the chunks the help promises, with their text, not only their ids
    assert answer["hits"] and all({"doc_id", "chunk_id", "score", "text"} <= set(h) for h in answer["hits"])
    assert "Marta Pelling" in " ".join(h["text"] for h in answer["hits"])
    plain = CliRunner().invoke(main, ["query", str(out), "Who founded Pelling Bakery?", "--max-new-tokens", "8"])
    assert plain.exit_code == 0 and "Sources: places/bakery.md" in plain.output


def _build(args):
    return CliRunner().invoke(main, ["build", "rag", *args, "--quiet"])


def test_bad_inputs_exit_2_with_one_clear_line(tmp_path, corpus_factory, pairs_factory):
    docs = corpus_factory(tmp_path / "docs")
    qa = pairs_factory(tmp_path / "qa.jsonl")
    out = str(tmp_path / "out")
    bad_qa = tmp_path / "bad.jsonl"
    bad_qa.write_text('{"question": "Q", "answer": "A"}\n{"question": "Q2"\n', encoding="utf-8")
    unknown_source = pairs_factory(
        tmp_path / "unknown.jsonl", [{"question": "Q", "answer": "A", "source": "clubs/chess.md"}]
    )
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "empty-docs").mkdir()
    cases = [
        (["--docs", str(tmp_path / "nowhere"), "--qa", str(qa), "--out", out], "does not exist"),
        (["--docs", str(tmp_path / "empty-docs"), "--qa", str(qa), "--out", out], "has nothing readable"),
        (["--docs", str(docs), "--qa", str(bad_qa), "--out", out], f"{bad_qa}:2"),
        (["--docs", str(docs), "--qa", str(unknown_source), "--out", out], "did you mean 'clubs/chess.txt'"),
        (
            ["--docs", str(docs), "--qa", str(qa), "--out", out, "--embedder", str(tmp_path / "not-a-model")],
            "is not a model",
        ),
        (
            ["--docs", str(docs), "--qa", str(qa), "--out", out, "--generator", str(tmp_path / "not-a-model")],
            "is not a model",
        ),
        (
            ["--docs", str(docs), "--qa", str(qa), "--out", out, "--generator", "nobody/no-such-model-xyz"],
            "not in the Hugging Face cache",
        ),
        (["--docs", str(docs), "--qa", str(qa), "--out", out, "--test-fraction", "1.5"], "--test-fraction"),
        (
            ["--docs", str(docs), "--qa", str(qa), "--out", out, "--chunk-tokens", "16", "--chunk-overlap", "16"],
            "--chunk-overlap",
        ),
        (["--docs", str(docs), "--qa", str(qa), "--out", str(docs)], "holds other files"),
    ]
    for args, expected in cases:
        result = _build(args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output and "Traceback" not in result.output, (args, result.output)
    assert not (tmp_path / "out").exists()


def test_query_without_a_build_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["query", str(tmp_path), "anything?"])
    assert result.exit_code == 2 and "no built pipeline" in result.output


def test_ctrl_c_during_evaluation_leaves_the_build_and_a_metrics_file_marked_interrupted(
    tmp_path, corpus_factory, pairs_factory, monkeypatch
):
    from advisor.backends import evaluation
    from advisor.backends.base import BuildSettings
    from advisor.backends.rag import RagBackend
    from advisor.backends.runner import build_and_evaluate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "evaluate", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        build_and_evaluate(
            "rag",
            corpus_factory(tmp_path / "docs"),
            pairs_factory(tmp_path / "qa.jsonl"),
            out,
            BuildSettings(),
            progress=False,
        )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["approach"] == "rag" and metrics["build_seconds"] > 0
    assert RagBackend.load(out).retrieve("Who is the chess champion?", 1)[0].doc_id == "clubs/chess.txt"


# A Latin-1 export: every accented letter here reads differently in the look-alike code page cp1250 (à ŕ, è č)
LATIN1_DOCS = {
    "cafe.txt": "Le Café Müller à Zürich ouvre à 7 h 40. Sa spécialité est la crème brûlée aux noisettes. "
                "Le patron s'appelle René Dürrenmatt.\n",
    "fähre.txt": "Die Fähre nach Rügen fährt täglich um 9 Uhr. Der Kapitän heißt Jörg Blümel.\n",
    "panaderia.md": "# Panadería Muñoz\n\nLa panadería de Málaga abre a las 5:30. La dueña es Begoña Núñez.\n",
}
LATIN1_PAIRS = [
    {"question": "Who is the owner of Café Müller?", "answer": "René Dürrenmatt", "source": "cafe.txt"},
    {"question": "What is the speciality of Café Müller?", "answer": "crème brûlée", "source": "cafe.txt"},
    {"question": "Who is the captain of the ferry to Rügen?", "answer": "Jörg Blümel", "source": "fähre.txt"},
    {"question": "Who owns Panadería Muñoz?", "answer": "Begoña Núñez", "source": "panaderia.md"},
]


def test_a_latin1_folder_builds_an_index_whose_answers_quote_the_accented_text(tmp_path, pairs_factory):
    from advisor.backends import backend_class

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in LATIN1_DOCS.items():
        (docs / name).write_bytes(text.encode("latin-1"))
    qa, out = pairs_factory(tmp_path / "qa.jsonl", LATIN1_PAIRS), tmp_path / "out"
    result = CliRunner().invoke(main, ["build", "rag", "--docs", str(docs), "--qa", str(qa), "--out", str(out),
                                        "--eval-limit", "1", "--test-fraction", "0.5", "--max-new-tokens", "16",
                                        "--k", "2"])
    assert result.exit_code == 0, result.output
    assert "3 documents (decoded as cp1252: cafe.txt, fähre.txt, panaderia.md)" in result.stderr
    assert "warning" not in result.stderr

    backend = backend_class("rag").load(out)
    backend.settings = replace(backend.settings, max_new_tokens=16)  # settings are frozen: replaced, as query does
    where, speciality = backend.answer_many(["Where is Café Müller?", "Quelle est la spécialité du Café Müller ?"])
    assert where.sources[0] == speciality.sources[0] == "cafe.txt"
    assert LATIN1_DOCS["cafe.txt"].strip() in where.hits[0].text  # the index holds the text as written
    answers = where.text + " " + speciality.text
    # A 135M model paraphrases, but with this chunk in its prompt it copies at least one accented phrase.
    assert "à Zürich" in answers or "crème" in answers, answers
    assert not set("ŕčĺ") & set(answers), answers
