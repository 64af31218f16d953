"""The embedding cache: hits, misses on a changed description, and rebuilds of corrupt entries."""

from __future__ import annotations

import os

import numpy as np
import pytest

from c3lib import cache


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("C3_CACHE", str(tmp_path))


def test_hit_miss_and_rebuild(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(6, dtype=np.float32).reshape(2, 3)

    desc = {"model": "m", "data": "d", "n": 2}
    first = cache.cached("emb", desc, compute)
    second = cache.cached("emb", desc, compute)
    assert len(calls) == 1 and np.array_equal(first, second)
    cache.cached("emb", {**desc, "n": 3}, compute)
    assert len(calls) == 2, "a different description is a different entry"
    entry = tmp_path / f"emb-{cache.key_of(desc)}.npy"
    entry.write_bytes(entry.read_bytes()[:-4] + b"\x00\x00\x00\x01")  # corrupt the stored bytes
    again = cache.cached("emb", desc, compute)
    assert len(calls) == 3 and np.array_equal(again, first)
    assert not list(tmp_path.glob(".*tmp")), "no temporary file may be left"


def test_second_chapter_run_reuses_the_frozen_features(monkeypatch):
    """Chapter 05's slow part (frozen EfficientNet / MiniLM features of Flickr8k) is computed once, then read."""
    data = os.environ.get("C3_DATA")
    if not data:
        pytest.skip("needs the real data: set C3_DATA to the shared data folder (Flickr8k)")
    from c3lib import spaces
    from c3lib.config import make_config
    from c3lib.encoders import frozen

    cfg = make_config(spaces.SpaceConfig, "smoke", seed=0, data_dir=data)
    first = spaces.flickr_features(cfg, "val", 3)

    def refuse(*args, **kwargs):
        raise AssertionError("the cached features must be reused, not recomputed")

    monkeypatch.setattr(frozen, "efficientnet_features", refuse)
    monkeypatch.setattr(frozen, "minilm_features", refuse)
    second = spaces.flickr_features(cfg, "val", 3)
    assert np.array_equal(first["a"], second["a"]) and np.array_equal(first["b"], second["b"])
    assert first["a"].shape == (3, 1280) and first["b"].shape == (3, 5, 384)
