"""C3Transform: exact algebra on constructed inputs, seeded noise, sklearn clone/Pipeline, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from c3lib.transform import DEFAULT_NOISE_STD, C3Transform


def _data(seed=0, n=50, d=8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + 3 * np.eye(d)[0], rng.normal(size=(n, d)) - 3 * np.eye(d)[0]


def test_means_are_means_of_normalised_rows_not_renormalised():
    src = np.array([[2.0, 0.0], [0.0, 5.0]])
    tgt = np.array([[-1.0, 0.0], [-3.0, 0.0]])
    t = C3Transform().fit(src, tgt)
    np.testing.assert_allclose(t.mean_source_, [0.5, 0.5])
    np.testing.assert_allclose(t.mean_target_, [-1.0, 0.0])
    assert DEFAULT_NOISE_STD == pytest.approx(0.016 ** 0.5)


def test_inference_collapse_exact():
    src = np.array([[2.0, 0.0], [0.0, 5.0]])
    tgt = np.array([[-1.0, 0.0], [-3.0, 0.0]])
    t = C3Transform().fit(src, tgt)
    out = t.transform(np.array([[0.0, 3.0]]), modality="target", train=False)
    np.testing.assert_allclose(out, [[np.sqrt(0.5), np.sqrt(0.5)]])  # (0,1) - (-1,0) = (1,1) -> unit
    out_s = t.transform(np.array([[4.0, 0.0]]), modality="source", train=False)
    np.testing.assert_allclose(out_s, [[np.sqrt(0.5), -np.sqrt(0.5)]])  # (1,0) - (.5,.5)


def test_c1_is_plain_normalisation_and_train_adds_seeded_noise():
    src, tgt = _data()
    c1 = C3Transform.variant("C1").fit(src, tgt)
    np.testing.assert_allclose(c1.transform(src), src / np.linalg.norm(src, axis=1, keepdims=True))
    a = C3Transform(seed=3).fit(src, tgt).transform(src)
    b = C3Transform(seed=3).fit(src, tgt).transform(src)
    c = C3Transform(seed=4).fit(src, tgt).transform(src)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0)
    # train=False never adds noise
    t = C3Transform(seed=3).fit(src, tgt)
    np.testing.assert_array_equal(t.transform(src, train=False), t.transform(src, train=False))


def test_training_transform_matches_formula():
    src, tgt = _data()
    t = C3Transform(seed=7).fit(src, tgt)
    eps = np.random.default_rng(7).normal(0, DEFAULT_NOISE_STD, size=src.shape)
    x = src / np.linalg.norm(src, axis=1, keepdims=True) - t.mean_source_ + eps
    np.testing.assert_allclose(t.transform(src), x / np.linalg.norm(x, axis=1, keepdims=True))


def test_span_only_noise_is_orthogonal_to_gap():
    src, tgt = _data()
    t = C3Transform.variant("span-only", noise_std=1.0).fit(src, tgt)
    eps = t.noise(1000)
    assert np.abs(eps @ t.gap_direction()).max() < 1e-10
    assert np.linalg.norm(eps, axis=1).mean() > 1.0  # the rest of the noise is still there
    full = C3Transform.variant("C2-corrupt", noise_std=1.0).fit(src, tgt).noise(1000)
    assert np.abs(full @ t.gap_direction()).mean() > 0.5


def test_torch_in_torch_out():
    src, tgt = _data()
    t = C3Transform().fit(torch.tensor(src), torch.tensor(tgt))
    out = t.transform(torch.tensor(tgt, dtype=torch.float32), modality="target", train=False)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), t.transform(tgt, modality="target", train=False), atol=1e-6)


def test_clone_and_pipeline():
    src, tgt = _data()
    t = C3Transform.variant("C2-collapse", seed=2)
    c = clone(t)
    assert c.get_params() == t.get_params() and not hasattr(c, "mean_source_")
    pipe = Pipeline([("scale", FunctionTransformer(lambda x: 2 * x)), ("c3", t)])
    out = pipe.fit_transform(src)
    np.testing.assert_allclose(out, C3Transform.variant("C2-collapse").fit(src).transform(src))
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=0.2)


def test_state_round_trip():
    src, tgt = _data()
    t = C3Transform(seed=5).fit(src, tgt)
    u = C3Transform.from_state(t.state())
    np.testing.assert_array_equal(t.transform(src), u.transform(src))
    np.testing.assert_array_equal(t.transform(tgt, "target", False), u.transform(tgt, "target", False))


def test_bad_inputs_raise_clear_errors():
    src, tgt = _data()
    with pytest.raises(RuntimeError, match="not fitted"):
        C3Transform().transform(src)
    t = C3Transform().fit(src, tgt)
    with pytest.raises(ValueError, match="dim 5 but the transform was fitted on dim 8"):
        t.transform(src[:, :5])
    bad = src.copy(); bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        t.transform(bad)
    with pytest.raises(ValueError, match="NaN"):
        C3Transform().fit(bad)
    with pytest.raises(ValueError, match="dim 5 but X_source has dim 8"):
        C3Transform().fit(src, tgt[:, :5])
    with pytest.raises(ValueError, match="unknown variant"):
        C3Transform.variant("C4")
    with pytest.raises(ValueError, match="modality"):
        t.transform(src, modality="image")
    with pytest.raises(ValueError, match="train=False"):
        t.transform(tgt, modality="target", train=True)
    with pytest.raises(RuntimeError, match="no target mean"):
        C3Transform().fit(src).transform(tgt, modality="target", train=False)
    with pytest.raises(ValueError, match="span_only"):
        C3Transform.variant("span-only").fit(src)
    with pytest.raises(ValueError, match="zero norm"):
        t.transform(np.zeros((1, 8)))


def test_huge_inputs_and_noise_keep_their_directions():
    """A row norm that overflows float64 (entries ~1e154, noise_std ~1e155) must not zero the rows."""
    src, tgt = _data()
    ref = C3Transform.variant("C2-collapse").fit(src, tgt).transform(src, train=False)
    big = C3Transform.variant("C2-collapse").fit(src * 1e154, tgt * 1e154).transform(src * 1e154, train=False)
    np.testing.assert_allclose(big, ref, atol=1e-12)
    noisy = C3Transform(noise_std=1e155, seed=3).fit(src, tgt)
    out = noisy.transform(src)
    eps = C3Transform(noise_std=1e155, seed=3).fit(src, tgt).noise(len(src)) / 1e155  # the draws, rescaled
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1)
    np.testing.assert_allclose(out, eps / np.linalg.norm(eps, axis=1, keepdims=True), atol=1e-9)  # noise dominates
    with pytest.raises(FloatingPointError, match="noise_std"):
        C3Transform(noise_std=1e308).fit(src, tgt).transform(src)
