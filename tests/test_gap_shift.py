"""Chapter 10's shift direction: orthogonal to the span of the embeddings, seeded."""

from __future__ import annotations

import numpy as np

from c3lib.chapters.ch10_gap_shift import orthogonal_direction
from c3lib.data.standins import bag_of_words_captions


def test_direction_is_orthogonal_to_the_span():
    rng = np.random.default_rng(0)
    emb = np.zeros((200, 10))
    emb[:, :3] = rng.normal(size=(200, 3))
    c, diag = orthogonal_direction(emb, np.random.default_rng(1))
    assert np.linalg.norm(c) == np.float64(1.0) or abs(np.linalg.norm(c) - 1) < 1e-12
    assert np.abs(c[:3]).max() < 1e-10 and diag["span_dims"] <= 3
    assert diag["variance_fraction_along_c"] < 1e-20
    c2, _ = orthogonal_direction(emb, np.random.default_rng(1))
    np.testing.assert_array_equal(c, c2)


def test_full_rank_falls_back_to_least_variance_direction():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(500, 4)) * np.array([10.0, 5.0, 2.0, 0.01])
    c, diag = orthogonal_direction(emb, rng, var_kept=1.0)
    assert abs(abs(c[3]) - 1) < 1e-3 and diag["variance_fraction_along_c"] < 1e-5


def test_bag_of_words_captions_shapes():
    caps, emb = bag_of_words_captions(5, 8, np.random.default_rng(0))
    assert len(caps) == 5 and emb.shape == (5, 8) and all(c.endswith(" .") for c in caps)
