"""`advisor draft` end to end with the real generator and retriever on two documents; resume; bad input exits 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.support.cli import assert_input_error
from click.testing import CliRunner

from advisor.backends.data import load_documents, load_pairs
from advisor.backends.draftchecks import CHECKS, answer_in_passage
from advisor.backends.draftfile import read_drafted
from advisor.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "sample" / "docs"


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("draft-docs")
    for name in ("products/sprout-tower-s3.md", "policies/security-access.md"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE / name, folder / name)
    return folder


def _draft(docs: Path, out: Path, n: int, *more: str):
    return CliRunner().invoke(main, ["draft", "--docs", str(docs), "--out", str(out), "--n", str(n),
                                     "--candidates", "1", "--quiet", *more])


def test_draft_writes_checked_pairs_and_its_summary_then_resumes_after_an_interruption(docs, tmp_path):
    out = tmp_path / "drafted.jsonl"
    result = _draft(docs, out, 1)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "drafted.draft.json").read_text(encoding="utf-8"))
    assert summary["asked"] == 1 and summary["passages"] >= 2 and summary["documents_drafted_from"] == 2
    assert summary["candidates"] == sum(summary["removed"].values()) + summary["kept"] + _kept_beyond_n(tmp_path)
    assert set(summary["removed"]) == set(CHECKS)
    assert "removed by each check" in result.output and "wrote" in result.output
    texts = {d.id: d.text for d in load_documents(docs)}
    pairs = read_drafted(out)
    assert len(pairs) == summary["kept"] <= 1
    for pair in pairs:
        assert pair.origin == "drafted" and pair.review == "unreviewed"
        assert texts[pair.source][pair.span[0]:pair.span[1]] == pair.passage
        assert answer_in_passage(pair.answer, pair.passage)
    assert len(load_pairs(out, load_documents(docs))) == len(pairs)  # the format validate reads

    journal = tmp_path / "drafted.draft" / "journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines()
    journal.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2], encoding="utf-8")  # a crash
    again = _draft(docs, out, 2)
    assert again.exit_code == 0, again.output
    resumed = json.loads((tmp_path / "drafted.draft.json").read_text(encoding="utf-8"))
    assert resumed["resumed_passages"] == summary["passages"] - 1  # the cut line's passage was drafted again
    assert resumed["passages"] >= summary["passages"]
    now = read_drafted(out)
    assert [p.question for p in now[: len(pairs)]] == [p.question for p in pairs]  # kept, not redrafted
    if resumed["kept"] < 2:
        assert "kept only" in again.output and resumed["note"] in again.output


def _kept_beyond_n(folder: Path) -> int:
    """Candidates that passed every check but are beyond --n (the journal keeps them for a larger --n)."""
    journal = folder / "drafted.draft" / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()[1:]]
    kept = sum(c["removed_by"] is None for r in records for c in r["candidates"])
    summary = json.loads((folder / "drafted.draft.json").read_text(encoding="utf-8"))
    return kept - summary["kept"]


def test_a_reviewed_file_is_not_overwritten_by_a_new_draft(docs, tmp_path):
    out = tmp_path / "drafted.jsonl"
    out.write_text(json.dumps({"question": "How tall is the S3?", "answer": "1.62 metres", "origin": "drafted",
                               "source": "products/sprout-tower-s3.md", "span": [0, 5], "review": "accepted"})
                   + "\n", encoding="utf-8")
    assert_input_error(_draft(docs, out, 1), "holds 1 pairs a person reviewed")


@pytest.mark.parametrize("args, fragments", [
    (["--n", "0"], ["--n must be at least 1, got 0"]),
    (["--n", "500"], ["--n 500 is more than the documents allow", "ask for at most"]),
    (["--candidates", "0"], ["--candidates must be at least 1"]),
    (["--price-in", "1"], ["--price-in"]),
    (["--dtype", "fp16"], ["--dtype fp16 needs a GPU"]),
])
def test_bad_options_exit_2_with_one_line(docs, tmp_path, args, fragments):
    result = CliRunner().invoke(main, ["draft", "--docs", str(docs), "--out", str(tmp_path / "p.jsonl"), *args])
    assert_input_error(result, *fragments)
    assert not (tmp_path / "p.jsonl").exists()


def test_documents_without_text_exit_2_with_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_input_error(_draft(empty, tmp_path / "p.jsonl", 1), "documents folder", "has nothing readable")
    blank = tmp_path / "blank"
    blank.mkdir()
    (blank / "a.md").write_text("   \n\n", encoding="utf-8")
    assert_input_error(_draft(blank, tmp_path / "p.jsonl", 1), "1 empty (a.md)")
    short = tmp_path / "short"
    short.mkdir()
    (short / "a.md").write_text("Too short to ask anything about.", encoding="utf-8")
    assert_input_error(_draft(short, tmp_path / "p.jsonl", 1), "no passage of at least 20 words")
