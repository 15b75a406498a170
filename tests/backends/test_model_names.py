"""Model names are checked against the hub cache before anything loads: offline, an uncached id is one line."""

from __future__ import annotations

import pytest

from advisor.errors import InputError


@pytest.mark.parametrize("name", ["no-such-org/no-such-model", "bad id with spaces/x"])
def test_an_uncached_generator_or_embedder_id_is_refused_offline(monkeypatch, name):
    from advisor.backends.embedder import resolve_embedder
    from advisor.backends.generator import resolve

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match=r"generator '.*' is not in the Hugging Face cache and HF_HUB_OFFLINE"):
        resolve(name)
    with pytest.raises(InputError, match=r"embedder '.*' is not in the Hugging Face cache and HF_HUB_OFFLINE"):
        resolve_embedder(name)


def test_a_cached_hub_id_is_accepted_offline(monkeypatch, tmp_path):
    """A model whose config.json is in the hub cache resolves to its id (the hub layout, written by hand)."""
    from advisor.backends.generator import resolve

    snapshot = tmp_path / "models--acme--tiny" / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "models--acme--tiny" / "refs").mkdir()
    (tmp_path / "models--acme--tiny" / "refs" / "main").write_text("0123456789abcdef")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    assert resolve("acme/tiny").path == "acme/tiny"
