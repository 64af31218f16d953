"""Property-based tests (hypothesis): any input gives a finite, documented result or a clear error.

"Clear" means a ValueError or TypeError raised by c3lib itself, never a traceback from inside numpy, torch or
pycocoevalcap, and never a NaN result. Examples are few and small so the file runs in seconds.
"""

from __future__ import annotations

import math
import traceback
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from c3lib import geometry
from c3lib.config import ConfigError, build
from c3lib.metrics import caption_metrics
from c3lib.trainer import TrainConfig
from c3lib.transform import C3Transform, VARIANTS

FAST = settings(max_examples=40, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def raised_by_c3lib(err: BaseException) -> bool:
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and "c3lib" in Path(frames[-1].filename).parts


def clear_or(fn):
    """``fn()``'s result, or ``None`` when it raised a clear error (anything else fails the test)."""
    try:
        return fn()
    except (ValueError, TypeError) as err:
        assert raised_by_c3lib(err), f"error from inside a library: {type(err).__name__}: {err}"
        return None


floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
arrays = st.tuples(st.integers(0, 6), st.integers(1, 5)).flatmap(
    lambda s: hnp.arrays(np.float64, s, elements=st.one_of(floats, st.floats(-3, 3))))


@FAST
@given(src=arrays, tgt=arrays, variant=st.sampled_from(sorted(VARIANTS)),
       noise_std=st.one_of(floats, st.floats(0, 1)), train=st.booleans())
def test_transform_is_finite_unit_rows_or_a_clear_error(src, tgt, variant, noise_std, train):
    def run():
        t = C3Transform.variant(variant, noise_std=noise_std).fit(src, tgt)
        return t.transform(src if train else tgt, modality="source" if train else "target", train=train)
    out = clear_or(run)
    if out is not None:
        assert np.isfinite(out).all()
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-9)


@FAST
@given(x=arrays, y=arrays, group_size=st.one_of(st.integers(-2, 8), st.floats(0, 5)), seed=st.integers(-2, 5))
def test_gap_statistics_are_finite_or_a_clear_error(x, y, group_size, seed):
    stats = clear_or(lambda: geometry.gap_statistics(x, y, group_size, seed))
    if stats is not None:
        summary = stats.summary()
        assert all(math.isfinite(v) for v in summary.values()), summary
        assert stats.num_groups >= 2
        assert -1 - 1e-9 <= summary["gap_direction_mean"] <= 1 + 1e-9


@FAST
@given(emb=arrays, threshold=st.one_of(floats, st.floats(0, 1)))
def test_effective_dimension_is_a_count_or_a_clear_error(emb, threshold):
    dim = clear_or(lambda: geometry.effective_dimension(emb, threshold))
    if dim is not None:
        assert 0 <= dim <= emb.shape[1]


caption = st.lists(st.sampled_from(["a", "b", "dog", " ", ".", "!?", "狗", "é"]), max_size=6).map("".join)


@settings(max_examples=25, deadline=5000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(preds=st.lists(caption, max_size=3), refs=st.lists(st.one_of(st.lists(caption, max_size=3), caption),
                                                           max_size=3))
def test_caption_metrics_are_finite_or_a_clear_error(preds, refs):
    m = clear_or(lambda: caption_metrics(preds, refs, meteor=False))
    if m is not None:
        assert m["SPICE"] is None
        assert all(v is not None and math.isfinite(v) and v >= 0 for k, v in m.items() if k != "SPICE"), m


NUMERIC = ("n_layer", "n_embd", "batch_size", "num_epochs", "patience", "lr", "weight_decay", "warmup_steps")


@FAST
@given(field=st.sampled_from(NUMERIC),
       value=st.one_of(st.integers(-3, 3), floats, st.text(max_size=3), st.booleans(), st.none()))
def test_configs_hold_valid_values_or_refuse_them(field, value):
    try:
        cfg = build(TrainConfig, "smoke", {field: value})
    except ConfigError as err:
        assert repr(field) in str(err)
        return
    got = getattr(cfg, field)
    assert isinstance(got, (int, float)) and not isinstance(got, bool) and math.isfinite(got) and got >= 0
    if field != "weight_decay" and field != "warmup_steps":
        assert got > 0


def test_the_properties_can_fail():
    """The checker itself: a library traceback is not a clear error."""
    with pytest.raises(AssertionError, match="inside a library"):
        clear_or(lambda: np.zeros(2).reshape(3))
