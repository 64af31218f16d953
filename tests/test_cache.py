"""The embedding cache: hits, misses on a changed description, and rebuilds of corrupt entries."""

from __future__ import annotations

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
