"""Fixtures of the endpoint tests: one real `transformers serve` on loopback for the whole session, serving the
default generator's converted folder, and a fault proxy in front of it for each test that wants one."""

from __future__ import annotations

import pytest
from tests.support.endpoint import FaultProxy, Server, serving_missing, transformers_serve


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    """The default generator (SmolLM2-135M-Instruct, dequantized once into the advisor cache) behind
    `transformers serve`; skipped only when the serving packages are missing."""
    missing = serving_missing()
    if missing:
        pytest.skip(missing)
    from advisor.backends.base import DEFAULT_GENERATOR
    from advisor.backends.generator import weights_folder

    folder = weights_folder(DEFAULT_GENERATOR)
    log = tmp_path_factory.mktemp("serve") / "transformers-serve.log"
    with transformers_serve(folder, log) as running:
        yield running


@pytest.fixture
def proxy(server):
    """A fault proxy in front of the server; set `proxy.plan` (see tests.support.endpoint.script)."""
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    faults = FaultProxy(port)
    yield faults
    faults.close()
