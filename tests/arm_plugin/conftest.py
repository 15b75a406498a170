"""Registers the echo arm as another installed package would: a distribution's entry point on sys.path."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.backends import arms

HERE = Path(__file__).resolve().parent


@pytest.fixture
def echo_installed(tmp_path, monkeypatch):
    """A `echo_arm` distribution whose entry_points.txt names its arm under `advisor.arms`; gone after the test."""
    info = tmp_path / "echo_arm-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-arm\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[{arms.ENTRY_POINT_GROUP}]\necho = echo_arm:ECHO\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(HERE))
    arms.registry.cache_clear()
    yield
    arms.registry.cache_clear()
