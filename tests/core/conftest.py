"""Fixtures for the core tests: the bundled rule base, compiled once, and files written on demand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.support.core import SUPPORT, VALIDATION

from advisor.engine import compile_rules
from advisor.rulebase import load_rules


@pytest.fixture(scope="session")
def rulebase():
    """The bundled rule base (a fresh copy per session; do not mutate)."""
    return load_rules()


@pytest.fixture(scope="session")
def compiled(rulebase):
    """The bundled rule base, compiled."""
    return compile_rules(rulebase)


@pytest.fixture
def support_answers():
    """A complete answer set (an internal support assistant)."""
    return dict(SUPPORT)


@pytest.fixture
def write(tmp_path):
    """write(name, data_or_text) -> path: YAML for .yaml/.yml, JSON for .json, text as is."""

    def _write(name: str, content) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif name.endswith(".json"):
            path.write_text(json.dumps(content), encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def answers_file(write):
    """An answers file for the support assistant, with a hostile project name."""
    return write("answers.yaml", {"version": 1, "project": "Acme <script>alert(1)</script> | x",
                                  "answers": dict(SUPPORT)})


@pytest.fixture
def validation_dir(write):
    """A folder holding a hand-written validation.json, with one failed approach."""
    path = write("val/validation.json", VALIDATION)
    return path.parent
