"""Session fixtures of the distributed tests: the tiny project and the launched runs everyone compares."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.launch import VALIDATE, advisor, check, write_project


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    return write_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="session")
def validations(project, tmp_path_factory) -> tuple[Path, Path]:
    """The same `validate` (fine-tuning and rag) as one process and as two torchrun processes."""
    base = tmp_path_factory.mktemp("validate")
    one, two = base / "one", base / "two"
    check(advisor([*VALIDATE, "--qa", str(project), "--out", str(one)]))
    check(advisor([*VALIDATE, "--qa", str(project), "--out", str(two)], nproc=2))
    return one, two
