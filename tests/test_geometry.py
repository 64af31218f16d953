"""Definition 1 and the collapse measurements on inputs whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from c3lib import geometry


def _embeddings_with_rank(k, n=400, d=32, seed=0):
    rng = np.random.default_rng(seed)
    emb = np.zeros((n, d))
    emb[:, :k] = rng.normal(size=(n, k))
    return emb


@pytest.mark.parametrize("k", [1, 3, 10])
def test_effective_dimension_equals_rank_of_isotropic_block(k):
    assert geometry.effective_dimension(_embeddings_with_rank(k), 0.99) == k


def test_effective_dimension_on_known_spectrum():
    # variances 100, 10, 1 along three axes: shares 0.901, 0.991, 1.0
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20000, 3))
    z = (z - z.mean(0)) / z.std(0)
    emb = z * np.sqrt([100.0, 10.0, 1.0])
    assert geometry.effective_dimension(emb, 0.90) == 1
    assert geometry.effective_dimension(emb, 0.99) == 2
    assert geometry.effective_dimension(emb, 0.999) == 3


def test_effective_dimension_is_rotation_invariant():
    emb = _embeddings_with_rank(4, d=16)
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(16, 16)))
    assert geometry.effective_dimension(emb @ q) == geometry.effective_dimension(emb)


def test_centroid_gap_exact():
    x = np.array([[1.0, 0, 0], [0, 2.0, 0]])
    y = np.array([[0, 0, 3.0], [0, 0, 1.0]])
    np.testing.assert_allclose(geometry.centroid_gap(x, y), [0.5, 0.5, -1.0])


def test_cone_effect_exact():
    assert geometry.mean_pairwise_cosine(np.array([[1.0, 0], [0, 1.0], [1.0, 0]])) == pytest.approx(1 / 3)


@pytest.mark.parametrize("bad,match", [
    (np.zeros(5), r"shape \(n, d\)"),
    (np.array([[1.0, np.nan], [0, 1]]), "NaN"),
    (np.array([[0.0, 0.0], [1.0, 0.0]]), "zero vector"),
])
def test_bad_inputs_fail_clearly(bad, match):
    with pytest.raises(ValueError, match=match):
        geometry.mean_pairwise_cosine(bad)


def test_bad_threshold():
    with pytest.raises(ValueError, match="threshold"):
        geometry.effective_dimension(_embeddings_with_rank(2), 1.5)


def test_mlp_collapse_deepens_and_is_seeded():
    a = geometry.mlp_collapse_sweep(depth=20, width=64, n_inputs=2000, every=5, seed=1)
    b = geometry.mlp_collapse_sweep(depth=20, width=64, n_inputs=2000, every=5, seed=1)
    assert a["layer"] == [0, 5, 10, 15, 20]
    assert a["effective_dim"] == b["effective_dim"]
    assert a["effective_dim"][-1] < a["effective_dim"][0]
    assert a["effective_dim"][0] >= 60  # N(0, I) inputs use nearly every dimension
