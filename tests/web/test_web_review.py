"""The review page of drafted pairs in a real browser (Playwright driving Debian's Chromium) and over HTTP:
accept by mouse, reject and edit by keyboard, each decision on disk at once; bad decisions are 4xx."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.web.test_web_browser import Watched, _expect, browser  # noqa: F401 - the session's Chromium fixture
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


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "drafted.jsonl"
    _write(path, [_pair("How many planting pods does the Sprout Tower S3 hold?", "24 pods"),
                  _pair("How long is the pump off in each cycle?", "45 minutes"),
                  _pair("How long is the default light day of the mast?", "16-hour day"),
                  _pair("What colour is the Sprout Tower S3?", "green")])
    return path


@pytest.fixture
def review_server(pairs_file, tmp_path):
    srv = Server("--runs", str(tmp_path), "--review", str(pairs_file))
    yield srv
    code, out, err = srv.stop()
    assert code == 0, (out, err)
    assert "Traceback" not in err, err


def test_a_person_accepts_rejects_and_edits_in_the_browser_and_each_decision_is_saved(browser, review_server,  # noqa: F811
                                                                                        pairs_file):
    expect = _expect()
    watched = Watched(browser, review_server.url)
    page = watched.page
    page.goto("/review")
    expect(page.locator("#progress")).to_contain_text("0 of 4 reviewed")
    expect(page.locator("#passage mark")).to_have_text("24 planting pods")  # the answer, found fuzzily
    expect(page.locator("#question")).to_have_value("How many planting pods does the Sprout Tower S3 hold?")

    page.locator("#accept").click()  # by mouse
    expect(page.locator("#progress")).to_contain_text("1 of 4 reviewed: 1 accepted")
    assert [p["review"] for p in _read(pairs_file)] == ["accepted", "unreviewed", "unreviewed", "unreviewed"]
    expect(page.locator("#question")).to_have_value("How long is the pump off in each cycle?")
    expect(page.locator("#passage mark")).to_have_text("45 minutes")

    page.keyboard.press("r")  # by keyboard
    expect(page.locator("#progress")).to_contain_text("2 of 4 reviewed: 1 accepted, 0 edited, 1 rejected")
    assert _read(pairs_file)[1]["review"] == "rejected"

    page.keyboard.press("e")
    expect(page.locator("#question")).to_be_focused()
    page.locator("#question").fill("How many hours of light does the mast give by default?")
    page.locator("#answer").fill("16 hours")
    page.keyboard.press("Enter")
    expect(page.locator("#progress")).to_contain_text("3 of 4 reviewed: 1 accepted, 1 edited, 1 rejected, 1 to go")
    edited = _read(pairs_file)[2]
    assert (edited["question"], edited["answer"], edited["review"]) == (
        "How many hours of light does the mast give by default?", "16 hours", "edited")
    assert edited["origin"] == "drafted" and edited["span"] == [100, 100 + len(PASSAGE)]

    expect(page.locator("#question")).to_have_value("What colour is the Sprout Tower S3?")
    expect(page.locator("#passage mark")).to_have_count(0)  # 'green' is not in the passage: nothing marked
    page.keyboard.press("k")
    page.keyboard.press("u")  # undo the edit's decision: back to unreviewed, the edited text stays
    expect(page.locator("#progress")).to_contain_text("2 of 4 reviewed")
    assert _read(pairs_file)[2]["review"] == "unreviewed"
    assert watched.close() == []


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
