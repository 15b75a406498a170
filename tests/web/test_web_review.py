"""The review page of drafted pairs over HTTP: bad decisions are 4xx and leave the file alone; a file not drafted
is refused at start. (In the browser: test_web_browser.py, which owns the session's Chromium.)"""

from __future__ import annotations

import json

import httpx
import pytest
from tests.support.web import Server, cli

PASSAGE = ("The Sprout Tower S3 holds 24 planting pods. Its pump runs 15 minutes on, then 45 minutes off, "
           "around the clock. The light mast follows a 16-hour day by default.")


def _pair(question: str, answer: str, review: str = "unreviewed") -> dict:
    return {"question": question, "answer": answer, "source": "products/s3.md", "origin": "drafted",
            "span": [100, 100 + len(PASSAGE)], "passage": PASSAGE, "review": review}


def _write(path, pairs) -> None:
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")


def _read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def review_files(tmp_path):
    """A drafted pairs file of four unreviewed pairs about PASSAGE."""
    path = tmp_path / "drafted.jsonl"
    _write(path, [_pair("How many planting pods does the Sprout Tower S3 hold?", "24 pods"),
                  _pair("How long is the pump off in each cycle?", "45 minutes"),
                  _pair("How long is the default light day of the mast?", "16-hour day"),
                  _pair("What colour is the Sprout Tower S3?", "green")])
    return path


@pytest.fixture
def pairs_file(tmp_path):
    return review_files(tmp_path)


@pytest.fixture
def review_server(pairs_file, tmp_path):
    srv = Server("--runs", str(tmp_path), "--review", str(pairs_file))
    yield srv
    code, out, err = srv.stop()
    assert code == 0, (out, err)
    assert "Traceback" not in err, err


def test_bad_decisions_are_4xx_and_leave_the_file_alone(review_server, pairs_file):
    before = pairs_file.read_bytes()
    with httpx.Client(base_url=review_server.url, timeout=60) as client:
        missing = client.post("/api/review/9", json={"decision": "accept"})
        assert missing.status_code == 404 and "holds 4" in missing.json()["detail"]
        empty = client.post("/api/review/0", json={"decision": "edit", "question": " ", "answer": "x"})
        assert empty.status_code == 422 and "non-empty" in empty.json()["detail"]
        unknown = client.post("/api/review/0", json={"decision": "maybe"})
        assert unknown.status_code == 422 and "'decision'" in unknown.json()["detail"]
        huge = client.post("/api/review/0", content=b'{"decision": "edit", "question": "' + b"x" * 2_000_000 + b'"}')
        assert huge.status_code == 413
        listed = client.get("/api/review").json()
        assert listed["counts"] == {"unreviewed": 4, "accepted": 0, "edited": 0, "rejected": 0}
        assert listed["pairs"][1]["highlight"] == [PASSAGE.index("45 minutes"), PASSAGE.index("45 minutes") + 10]
    assert pairs_file.read_bytes() == before


def test_serve_refuses_a_pairs_file_not_drafted_for_review(tmp_path):
    people = tmp_path / "qa.jsonl"
    people.write_text(json.dumps({"question": "Who?", "answer": "Ann"}) + "\n", encoding="utf-8")
    done = cli("serve", "--port", "0", "--review", str(people))
    code, err = done.returncode, done.stderr
    assert code == 2
    assert err.strip().count("\n") == 0 and "not a drafted pair" in err and "qa.jsonl:1" in err, err


def test_the_menu_links_to_the_review_page_only_when_a_pairs_file_is_served(tmp_path):
    from fastapi.testclient import TestClient

    from advisor.web.app import create_app

    with TestClient(create_app(runs_dir=tmp_path, review=review_files(tmp_path))) as client:
        assert 'href="/review"' in client.get("/").text and 'href="/review"' in client.get("/runs").text
    with TestClient(create_app(runs_dir=tmp_path)) as client:
        assert 'href="/review"' not in client.get("/").text
        assert client.get("/review").status_code == 404
