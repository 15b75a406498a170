"""Shared fixtures of the depth tests: a small fixed rule base, the bundled one, and a synthetic case library."""

from __future__ import annotations

import pytest
from depth_support import MINI

from advisor.engine import compile_rules
from advisor.rulebase import load_rules


@pytest.fixture(scope="session")
def mini():
    """The fixed test rule base (tests/depth/data/mini_rules.yaml)."""
    return load_rules(MINI)


@pytest.fixture(scope="session")
def mini_compiled(mini):
    return compile_rules(mini)


@pytest.fixture(scope="session")
def default_rules():
    return load_rules(None)


@pytest.fixture(scope="session")
def default_compiled(default_rules):
    return compile_rules(default_rules)
