"""Fixtures of the analyses tests: the fixed test rule base and the bundled one, loaded and compiled once."""

from __future__ import annotations

import pytest
from tests.support.analyses import MINI

from advisor.engine import compile_rules
from advisor.rulebase import load_rules


@pytest.fixture(scope="session")
def mini():
    """The fixed test rule base (tests/analyses/data/mini_rules.yaml)."""
    return load_rules(MINI)


@pytest.fixture(scope="session")
def mini_compiled(mini):
    """The test rule base, compiled."""
    return compile_rules(mini)


@pytest.fixture(scope="session")
def default_rules():
    """The bundled rule base."""
    return load_rules(None)


@pytest.fixture(scope="session")
def default_compiled(default_rules):
    """The bundled rule base, compiled."""
    return compile_rules(default_rules)
