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


def _files(folder, name, desc):
    stem = folder / f"{name}-{cache.key_of(desc)}"
    return stem.with_suffix(".npy"), stem.with_suffix(".sha256")


def test_an_entry_carries_its_key_so_swapped_files_are_rebuilt(tmp_path):
    a, b = np.zeros((2, 3)), np.ones((2, 3))
    cache.cached("e", {"k": "a"}, lambda: a)
    cache.cached("e", {"k": "b"}, lambda: b)
    (npy_a, sha_a), (npy_b, sha_b) = _files(tmp_path, "e", {"k": "a"}), _files(tmp_path, "e", {"k": "b"})
    for x, y in ((npy_a, npy_b), (sha_a, sha_b)):  # swap both files of the two entries
        x.rename(tmp_path / "swap")
        y.rename(x)
        (tmp_path / "swap").rename(y)
    with pytest.warns(RuntimeWarning, match="swapped or copied"):
        np.testing.assert_array_equal(cache.cached("e", {"k": "a"}, lambda: a), a)


def test_an_entry_written_before_entries_named_their_key_loads_unchanged(tmp_path):
    arr = np.arange(6.0)
    cache.cached("old", {"k": 1}, lambda: arr)
    npy, sha = _files(tmp_path, "old", {"k": 1})
    sha.write_text(cache.file_sha256(npy) + "\n")  # the hash file as the earlier code wrote it
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = cache.cached("old", {"k": 1}, lambda: pytest.fail("an intact old entry must load, not recompute"))
    np.testing.assert_array_equal(got, arr)
    assert sha.read_text().split() == [cache.file_sha256(npy), npy.stem]  # and is given its key


def test_a_replaced_input_is_seen_even_with_the_same_size_and_mtime(tmp_path):
    f = tmp_path / "img.jpg"
    f.write_bytes(b"A" * 64)
    st = f.stat()
    first = cache.inputs_digest([f])
    f.write_bytes(b"B" * 64)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.inputs_digest([f]) != first
