"""The JSON API against a real uvicorn server: the CLI's answers byte for byte, its messages for bad input,
and no request that reads outside --runs or stops the server."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import yaml
from tests.support.web import SAMPLE_ANSWERS, cli, minute_bracketed

from advisor.models import CONTRACT_QUESTIONS
from advisor.rulebase import load_rules

API_PATHS = {"/api/questions", "/api/recommend", "/api/report", "/api/runs", "/api/runs/{name}"}
COSTS = {"queries_per_day": 2000, "tokens_per_query": 900, "price_per_1k_tokens": 0.002, "currency": "EUR"}


def raw_get(server, path: str) -> tuple[int, str]:
    """GET a path exactly as written (no client-side normalisation of '..' or '%2F')."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_questions_are_the_rule_base_in_order_with_the_contract_values(client):
    data = client.get("/api/questions").json()
    rulebase = load_rules()
    assert [q["id"] for q in data["questions"]] == [q.id for q in rulebase.questions]
    by_id = {q.id: q for q in rulebase.questions}
    for q in data["questions"]:
        assert tuple(v["value"] for v in q["values"]) == tuple(v.value for v in by_id[q["id"]].values)
        assert q["text"] and q["default"] == (by_id[q["id"]].default or "unknown")
    contract = [q for q in data["questions"] if q["id"] in CONTRACT_QUESTIONS]
    assert [q["id"] for q in contract] == list(CONTRACT_QUESTIONS)
    for q in contract:
        assert tuple(v["value"] for v in q["values"]) == CONTRACT_QUESTIONS[q["id"]] and q["default"] == "unknown"
    extra = {q["id"]: q for q in data["questions"] if q["id"] not in CONTRACT_QUESTIONS}
    assert set(extra) == {"knowledge_location", "style_kind"}
    assert all(q["default"] == "not_sure" and q["help"] and q["sources"] for q in extra.values())
    assert any(q["sources"] for q in data["questions"]) and any(q["help"] for q in data["questions"])
    assert {a["id"] for a in data["approaches"]} == {"rag", "fine-tuning", "hybrid"}  # the contract's three


def test_recommend_gives_what_the_cli_gives_for_yaml_and_json(client, tmp_path):
    cli_json = json.loads(cli("recommend", str(SAMPLE_ANSWERS), "--format", "json").stdout)
    got = client.post(
        "/api/recommend", content=SAMPLE_ANSWERS.read_text(), headers={"content-type": "application/yaml"}
    )
    assert got.status_code == 200 and got.json() == cli_json
    document = {"version": 1, "answers": {"knowledge_change": "static", "style_adaptation": "strong"}, "costs": COSTS}
    path = tmp_path / "with-costs.json"
    path.write_text(json.dumps(document))
    cli_json = json.loads(cli("recommend", str(path), "--format", "json").stdout)
    got = client.post("/api/recommend", json=document).json()
    assert got == cli_json
    assert got["recommendation"] == "fine-tuning" and got["costs"]["currency"] == "EUR" and got["unknowns"]["ask_next"]


@pytest.mark.parametrize("fmt,ending", [("html", "html"), ("md", "md")])
def test_report_is_byte_identical_to_advisor_report(client, tmp_path, fmt, ending):
    text = SAMPLE_ANSWERS.read_text()
    (tmp_path / "answers.yaml").write_text(text)
    document = {**yaml.safe_load(text), "costs": COSTS}
    (tmp_path / "answers.json").write_text(json.dumps(document))
    for name, body, kind in (
        ("answers.yaml", text, "application/yaml"),
        ("answers.json", json.dumps(document), "application/json"),
    ):
        outputs = []
        for step in range(3):  # CLI, API, CLI: the API's bytes equal one of the CLI's (the report shows the minute)
            if step == 1:
                response = client.post(
                    f"/api/report?format={fmt}&answers_file={name}", content=body, headers={"content-type": kind}
                )
                assert response.status_code == 200, response.text
                assert f'filename="report.{ending}"' in response.headers["content-disposition"]
                outputs.append(response.content)
            else:
                result = cli("report", name, "-o", f"cli.{ending}", cwd=tmp_path)
                assert result.returncode == 0, result.stderr
                outputs.append((tmp_path / f"cli.{ending}").read_bytes())
        assert minute_bracketed(*outputs), name
    assert b"Estimated cost a month (EUR)" in outputs[1]  # the last document carried costs: so does its report


def test_html_report_gets_a_policy_allowing_only_its_own_inline_styles(client):
    response = client.post("/api/report?format=html", json={"version": 1, "answers": {}})
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "'sha256-" in policy and "script-src" not in policy
    assert "unsafe-inline" not in policy


def test_answers_download_is_the_answers_file_the_cli_reads(client, tmp_path):
    document = {"version": 1, "project": "Shop <b>bot</b>", "answers": {"knowledge_change": "Weekly"}, "costs": COSTS}
    text = client.post("/api/answers?format=yaml", json=document).text
    data = yaml.safe_load(text)
    assert data["answers"]["knowledge_change"] == "weekly" and len(data["answers"]) == len(load_rules().questions)
    assert data["answers"]["style_kind"] == "not_sure"  # a question outside the contract, at its neutral default
    assert data["project"] == "Shop <b>bot</b>" and data["costs"] == COSTS
    path = tmp_path / "downloaded.yaml"
    path.write_text(text)
    from_file = json.loads(cli("recommend", str(path), "--format", "json").stdout)
    assert client.post("/api/recommend", json=document).json() == from_file
    as_json = client.post("/api/answers?format=json", content=text, headers={"content-type": "application/yaml"}).json()
    assert as_json == data


BAD_DOCUMENTS = [
    ("malformed JSON", '{"version": 1, "answers": {'),
    ("unknown question", '{"version": 1, "answers": {"knowledge_chang": "weekly"}}'),
    ("value outside the list", '{"version": 1, "answers": {"knowledge_change": "hourly"}}'),
    ("not text", '{"version": 1, "answers": {"knowledge_change": 3}}'),
    ("wrong version", '{"version": 2, "answers": {}}'),
    ("not a mapping", "[1, 2]"),
    ("empty", " "),
    ("unknown field", '{"version": 1, "answer": {}}'),
    ("bad costs", '{"version": 1, "answers": {}, "costs": {"queries_per_day": -1}}'),
    ("answers without their wrapper", '{"knowledge_change": "weekly", "external_knowledge": "most"}'),
]


@pytest.mark.parametrize("what,body", BAD_DOCUMENTS, ids=[b[0] for b in BAD_DOCUMENTS])
def test_bad_documents_answer_422_with_the_cli_message(client, tmp_path, what, body):
    path = tmp_path / "bad.json"
    path.write_text(body)
    result = cli("recommend", str(path), "--format", "json")
    assert result.returncode == 2
    expected = result.stderr.strip().removeprefix("error: ").replace(str(path), "request body")
    response = client.post("/api/recommend", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json() == {"detail": expected}
    assert client.get("/api/health").status_code == 200


def test_plausible_mistakes_are_named_for_what_they_are(client):
    flat = client.post("/api/recommend", json={"knowledge_change": "weekly", "external_knowledge": "most"})
    assert flat.status_code == 422
    assert "put them under 'answers:', with 'version: 1' beside it" in flat.json()["detail"]
    assert "Field required" not in flat.json()["detail"]
    for headers in ({}, {"content-type": "text/plain"}, {"content-type": "application/json"}):
        sent = client.post("/api/recommend", content=SAMPLE_ANSWERS.read_text(), headers=headers)
        assert sent.status_code == 422, headers
        detail = sent.json()["detail"]
        assert "the body reads as YAML: send YAML with content-type: application/yaml" in detail, detail


def test_every_value_has_a_label_and_the_outcomes_name_prompting(client):
    data = client.get("/api/questions").json()
    assert all(v["label"] for q in data["questions"] for v in q["values"])
    assert [o["id"] for o in data["outcomes"]] == ["prompt", "rag", "fine-tuning", "hybrid"]
    assert data["outcomes"][0]["label"] == "Few-shot prompting first"


def test_non_utf8_and_bad_query_are_one_line_4xx(client):
    response = client.post("/api/recommend", content=b'{"version": 1, "project": "\xff"}')
    assert response.status_code == 422 and "not UTF-8" in response.json()["detail"]
    response = client.post("/api/report?format=pdf", json={"version": 1, "answers": {}})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("query.format: Input should be 'html' or 'md'")
    assert client.get("/api/nothing-here").status_code == 404


def test_a_10_mb_body_is_refused_with_413_and_the_server_keeps_serving(client):
    big = b'{"version": 1, "project": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = client.post("/api/recommend", content=big)
    assert response.status_code == 413 and "larger than the limit" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(10):
            yield b"x" * (1024 * 1024)

    response = client.post("/api/recommend", content=chunks())
    assert response.status_code == 413
    assert client.post("/api/recommend", json={"version": 1, "answers": {}}).status_code == 200


def test_runs_are_listed_with_their_status_and_verdict(client):
    runs = {r["name"]: r for r in client.get("/api/runs").json()}
    assert set(runs) == {
        "sample",
        "no-report",
        "with-nan",
        "broken",
        "in-progress",
        "stopped",
    }  # not the symlink, not not-a-run
    assert runs["sample"]["status"] == "done" and runs["sample"]["best_measured"] == "rag"
    assert runs["sample"]["verdict"].startswith("On 12 held-out questions, rag measured best")
    assert runs["broken"]["status"] == "corrupt" and "malformed JSON" in runs["broken"]["error"]
    assert runs["with-nan"]["status"] == "corrupt" and "NaN is not JSON" in runs["with-nan"]["error"]
    assert runs["in-progress"]["status"] == "running"
    assert runs["in-progress"]["progress"]["stage"] == "rag" and runs["in-progress"]["progress"]["stage_number"] == 3
    assert runs["stopped"]["status"] == "stopped"


def test_one_run_carries_its_evidence_and_a_corrupt_one_is_a_clear_422(client, runs_dir):
    detail = client.get("/api/runs/sample").json()
    assert detail["validation"]["approaches"]["rag"]["answers"]["contains"] == 0.75
    assert detail["validation"] == json.loads((runs_dir / "sample" / "validation.json").read_text())  # as written
    with_nan = client.get("/api/runs/with-nan")  # NaN is not JSON: the one reader refuses it, naming the file
    assert with_nan.status_code == 422 and "NaN is not JSON" in with_nan.json()["detail"]
    response = client.get("/api/runs/broken")
    assert response.status_code == 422
    assert re.fullmatch(r".*broken/validation\.json: line 1: malformed JSON: .*", response.json()["detail"])
    assert client.get("/api/runs/sample").status_code == 200


@pytest.mark.parametrize(
    "path,statuses",
    [
        ("/api/runs/..", {400}),
        ("/api/runs/%2E%2E", {400}),
        ("/api/runs/..%2F..%2Fetc", {404}),
        ("/api/runs/%2Fetc", {404}),
        ("/api/runs//etc", {404}),
        ("/api/runs/escape", {403}),
        ("/api/runs/.hidden", {400}),
        ("/api/runs/missing", {404}),
        ("/runs/escape", {403}),
        ("/runs/..%2F..%2Fetc%2Fpasswd", {404}),
    ],
)
def test_run_names_cannot_leave_the_runs_folder(server, path, statuses):
    status, text = raw_get(server, path)
    assert status in statuses, (status, text)
    assert "not for the web" not in text and "root:" not in text and "Traceback" not in text
    assert raw_get(server, "/api/health")[0] == 200


def test_run_pages_show_the_report_with_evidence_or_the_progress(client):
    page = client.get("/runs/sample")
    assert page.status_code == 200 and "Evidence" in page.text and "measured best" in page.text
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    policy = page.headers["content-security-policy"]
    assert "'sha256-" in policy and "default-src 'none'" in policy
    rendered = client.get("/runs/no-report")
    assert rendered.status_code == 200 and "Evidence" in rendered.text
    running = client.get("/runs/in-progress")
    assert "stage 3 of 5: rag" in running.text and 'src="/static/runs.js"' in running.text
    broken = client.get("/runs/broken")
    assert broken.status_code == 422 and "malformed JSON" in broken.text


def test_pages_load_nothing_from_outside_and_send_the_policy(client):
    for path in ("/", "/runs", "/api", "/runs/in-progress"):
        response = client.get(path)
        assert response.status_code == 200
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", response.text), path
        assert "<style" not in response.text and " style=" not in response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path
    for name in ("dom.js", "app.js", "runs.js", "style.css", "favicon.svg"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/favicon.ico").headers["content-type"].startswith("image/svg+xml")
    assert client.get("/static/../app.py").status_code == 404


def test_questionnaire_page_has_a_radio_per_contract_value(client):
    page = client.get("/").text
    for qid, values in CONTRACT_QUESTIONS.items():
        for value in ("unknown", *values):
            assert f'name="{qid}" value="{value}"' in page, (qid, value)
        assert re.search(f'name="{qid}" value="unknown" checked', page)


def test_questionnaire_page_shows_the_questions_outside_the_contract_at_their_default(client):
    page = client.get("/").text
    for q in load_rules().questions[len(CONTRACT_QUESTIONS):]:
        assert q.text in page
        for v in q.values:
            assert f'name="{q.id}" value="{v.value}"' in page, (q.id, v.value)
        assert re.search(f'name="{q.id}" value="{q.default}" checked', page)
        assert not re.search(f'name="{q.id}" value="unknown" checked', page)


def test_openapi_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    assert API_PATHS <= set(schema["paths"])
    assert "AnswersFile" in schema["components"]["schemas"]
    page = client.get("/api").text
    for path in API_PATHS:
        assert path in page


def test_the_app_and_the_running_server_load_no_torch(server):
    code = "import advisor.web.app, advisor.web.server, advisor.cli, sys\nprint('\\n'.join(sys.modules))"
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    for name in ("torch", "transformers", "sentence_transformers"):
        assert name not in loaded, name
    assert "fastapi" in loaded
    maps = open(f"/proc/{server.process.pid}/maps").read()
    assert "libtorch" not in maps  # maps lists the shared objects loaded; pydantic_core shows the list is real
    assert "pydantic_core" in maps
