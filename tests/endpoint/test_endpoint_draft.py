"""`advisor draft` through a real OpenAI-compatible server: the endpoint's model drafts, no local generator
loads, the summary names the model, and the key is sent but written nowhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.endpoint.test_endpoint_validate import KEY, advisor, endpoint_args

pytestmark = pytest.mark.slow
SAMPLE = Path(__file__).resolve().parents[2] / "sample" / "docs"


def test_the_endpoints_model_drafts_and_the_summary_names_it(server, proxy, tmp_path):
    docs = tmp_path / "docs"
    for name in ("products/sprout-tower-s3.md", "policies/security-access.md"):
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE / name, docs / name)
    out = tmp_path / "drafted.jsonl"
    done = advisor("draft", "--docs", str(docs), "--out", str(out), "--n", "1", "--candidates", "2", "--quiet",
                   "--generator", "none", *endpoint_args(proxy.url, server.model))
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "drafted.draft.json").read_text(encoding="utf-8"))
    assert summary["generator"] == server.model and summary["candidates"] >= 2
    asked = proxy.chat_requests()
    assert len(asked) >= summary["passages"] and all(s.authorization == f"Bearer {KEY}" for s in asked)
    assert all(s.body["model"] == server.model for s in asked)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != docs and docs not in p.parents]
    assert written and not any(KEY in p.read_text(encoding="utf-8", errors="replace") for p in written)
