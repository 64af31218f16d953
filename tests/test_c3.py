"""The C3 transform: exact algebra on constructed inputs, seeded noise, scikit-learn behaviour, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from c3lib.c3 import VARIANTS, C3Transform

RNG = np.random.default_rng(0)
TXT = RNG.normal(size=(200, 16)) + 3 * np.eye(16)[0]  # text lives around +e0
IMG = RNG.normal(size=(150, 16)) + 3 * np.eye(16)[1]  # images around +e1: a modality gap


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_means_are_of_normalised_rows_and_not_renormalised():
    t = C3Transform().fit(TXT, X_target=IMG)
    np.testing.assert_allclose(t.source_mean_, _unit(TXT).mean(0))
    np.testing.assert_allclose(t.target_mean_, _unit(IMG).mean(0))
    assert np.linalg.norm(t.source_mean_) < 0.99


def test_collapse_without_noise_is_exact():
    t = C3Transform.variant("C2-collapse").fit(TXT, X_target=IMG)
    np.testing.assert_allclose(t.transform(TXT), _unit(_unit(TXT) - _unit(TXT).mean(0)))
    np.testing.assert_allclose(t.transform(IMG, modality="target"), _unit(_unit(IMG) - _unit(IMG).mean(0)))


def test_c1_only_normalises():
    t = C3Transform.variant("C1").fit(TXT)
    np.testing.assert_allclose(t.transform(TXT), _unit(TXT))
    np.testing.assert_allclose(t.transform(IMG, modality="target"), _unit(IMG))


def test_collapse_removes_the_gap_between_modalities():
    t = C3Transform.variant("C2-collapse").fit(TXT, X_target=IMG)
    before = np.linalg.norm(_unit(TXT).mean(0) - _unit(IMG).mean(0))
    after = np.linalg.norm(t.transform(TXT).mean(0) - t.transform(IMG, modality="target").mean(0))
    assert before > 0.8 and after < 0.1 * before


def test_noise_is_seeded_sized_and_only_in_training():
    a, b = C3Transform(seed=3).fit(TXT, X_target=IMG), C3Transform(seed=3).fit(TXT, X_target=IMG)
    np.testing.assert_array_equal(a.transform(TXT), b.transform(TXT))
    assert not np.array_equal(a.transform(TXT), a.transform(TXT)), "each call draws fresh noise"
    np.testing.assert_array_equal(a.transform(IMG, modality="target"), a.transform(IMG, modality="target"))
    assert C3Transform().noise_std == pytest.approx(math.sqrt(0.016))
    # noise std: compare against the noiseless collapse before renormalisation
    big = np.tile(TXT[:1], (20000, 1))
    t = C3Transform.variant("C2-corrupt", noise_std=0.05).fit(big)
    moved = t.transform(big) - _unit(big)
    assert np.std(moved) == pytest.approx(0.05, rel=0.1)


def test_span_only_noise_has_no_component_along_the_gap():
    twin = C3Transform.variant("span-only", noise_std=0.3, seed=5).fit(TXT, X_target=IMG)
    noise = twin.draw_noise(TXT.shape)
    g = twin.gap_direction()
    np.testing.assert_allclose(noise @ g, 0, atol=1e-12)
    full = C3Transform.variant("C2-corrupt", noise_std=0.3, seed=5).fit(TXT).draw_noise(TXT.shape)
    assert np.abs(full @ g).mean() > 0.1, "ordinary noise does reach along the gap"
    t = C3Transform.variant("span-only", noise_std=0.3, seed=5).fit(TXT, X_target=IMG)
    np.testing.assert_allclose(t.transform(TXT), _unit(_unit(TXT) + noise))  # no collapse, span noise


def test_torch_in_torch_out():
    t = C3Transform(seed=0).fit(torch.tensor(TXT, dtype=torch.float32), X_target=IMG)
    out = t.transform(torch.tensor(IMG, dtype=torch.float32), modality="target")
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (150, 16)


def test_sklearn_clone_and_pipeline():
    t = C3Transform.variant("C3", seed=1)
    c = clone(t)
    assert c.get_params() == t.get_params() and not hasattr(c, "source_mean_")
    pipe = Pipeline([("scale", FunctionTransformer(lambda x: 2 * x)), ("c3", C3Transform.variant("C2-collapse"))])
    out = pipe.fit_transform(TXT, c3__X_target=IMG)
    np.testing.assert_allclose(out, C3Transform.variant("C2-collapse").fit(TXT).transform(TXT))
    assert set(VARIANTS) == {"C1", "C2-collapse", "C2-corrupt", "C3", "span-only"}


@pytest.mark.parametrize("call,match", [
    (lambda t: t.transform(np.ones((2, 5))), "fitted on dimension 16"),
    (lambda t: t.transform(np.full((2, 16), np.nan)), "NaN"),
    (lambda t: t.transform(np.zeros((2, 16))), "zero vector"),
    (lambda t: t.transform(TXT, modality="image"), "modality must be"),
])
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call(C3Transform().fit(TXT, X_target=IMG))


def test_unfitted_and_unknown_variant_and_missing_target():
    with pytest.raises(RuntimeError, match="not fitted"):
        C3Transform().transform(TXT)
    with pytest.raises(ValueError, match="unknown C3 variant 'C4'"):
        C3Transform.variant("C4")
    with pytest.raises(ValueError, match="gap direction"):
        C3Transform.variant("span-only").fit(TXT)
    with pytest.raises(RuntimeError, match="target mean"):
        C3Transform.variant("C3").fit(TXT).transform(IMG, modality="target")
