"""The verdict block: held / not held / within noise from an interval, with the size and power the book needs."""

import math

import numpy as np
import pytest

from c3lib import verdict as V


def _scores(rng, k, n, shift, item, sigma_seed=1.0, sigma_noise=20.0):
    """Per-seed per-item scores (k, n): the items' own difficulty (shared by both variants: paired), a seed
    offset and seed-by-item noise."""
    return item + shift + rng.normal(0, sigma_seed, (k, 1)) + rng.normal(0, sigma_noise, (k, n))


def _trials(k, effect_in_seed_stds, trials=100, n=500, seed=0):
    rng = np.random.default_rng(seed)
    sd = math.sqrt(1.0 + 20.0 ** 2 / n)  # the std over seeds of a variant's mean score
    words = []
    for _ in range(trials):
        item = rng.normal(0, 30, n)
        a = _scores(rng, k, n, effect_in_seed_stds * sd, item)
        b = _scores(rng, k, n, 0.0, item)
        words.append(V.difference(a, b, "a beats b", "score, a − b").verdict)
    return words


@pytest.mark.parametrize("k", [3, 6])
def test_same_distribution_is_within_noise_at_the_intervals_level(k):
    # A 95 % interval leaves 5 % outside by construction, so 100 trials count 95 ± 2; 400 trials pin the rate:
    # at most 7 % (the nominal 5 % plus three binomial standard errors) may come out held or not held.
    words = _trials(k, 0.0, trials=400)
    assert words.count(V.WITHIN_NOISE) >= 372, words.count(V.WITHIN_NOISE)


def test_two_seed_stds_better_is_held_in_at_least_80_of_100_with_six_seeds():
    # With k seeds a side, a 2-std effect is 2 / sqrt(2 / k) standard errors: 2.45 at k = 3, where even a test
    # that knew the variance would find it in 69 % of runs; at k = 6 it is 3.46.
    words = _trials(6, 2.0)
    assert words.count(V.HELD) >= 80, words.count(V.HELD)
    assert words.count(V.NOT_HELD) == 0


def test_a_reversed_effect_is_not_held_and_an_ordering_needs_its_sign():
    rng = np.random.default_rng(1)
    item = rng.normal(0, 30, 400)
    better, worse = _scores(rng, 3, 400, 10.0, item), _scores(rng, 3, 400, 0.0, item)
    assert V.difference(better, worse, "c", "s").verdict == V.HELD
    assert V.difference(worse, better, "c", "s").verdict == V.NOT_HELD


def test_pairing_removes_item_difficulty():
    # The items differ hugely (std 30), the variants by 1 everywhere with little noise: paired, that is clear.
    rng = np.random.default_rng(2)
    item = rng.normal(0, 30, 500)
    a = item + 1.0 + rng.normal(0, 0.5, (3, 500))
    b = item + rng.normal(0, 0.5, (3, 500))
    v = V.difference(a, b, "c", "s")
    assert v.verdict == V.HELD and v.n == 500 and v.seeds == 3
    assert v.low < 1.0 < v.high and v.high - v.low < 0.5


def test_one_value_per_variant_is_not_enough_and_seed_values_give_a_t_interval():
    assert V.difference([1.0], [0.0], "c", "s").verdict == V.NOT_ENOUGH
    v = V.difference([10.0, 11.0, 12.0], [1.0, 2.0, 3.0], "c", "s")
    assert v.verdict == V.HELD and v.effect == pytest.approx(9.0) and v.method == "Welch t over seeds"
    # Welch with equal variances 1 and 3 seeds: df 4, t 2.776, se sqrt(2/3)
    assert v.high - v.effect == pytest.approx(2.7764451 * math.sqrt(2 / 3), rel=1e-5)


def test_regions_and_exact_values():
    assert V.exact(0.03, "c", "s", V.near_zero(0.05)).verdict == V.HELD
    assert V.exact(0.07, "c", "s", V.near_zero(0.05)).verdict == V.NOT_HELD
    assert V.exact(float("nan"), "c", "s", V.below(1)).verdict == V.NOT_ENOUGH
    assert V.one_sample([0.01, -0.02, 0.0, 0.01], "c", "s", V.near_zero(0.05), unit="groups").verdict == V.HELD
    wide = V.one_sample([0.2, -0.2, 0.1, -0.1], "c", "s", V.near_zero(0.05), unit="groups")
    assert wide.verdict == V.WITHIN_NOISE and wide.n == 4
    assert str(V.above(0)) == "> 0" and str(V.below(0.5)) == "< 0.5" and str(V.near_zero(0.05)) == "|x| < 0.05"


def test_all_of_is_as_strong_as_its_weakest_part():
    held = V.exact(1.0, "p", "s", V.above(0))
    noise = V.Verdict("p", "", "s", "> 0", V.WITHIN_NOISE, 0.5, -0.1, 1.1)
    lost = V.exact(-1.0, "p", "s", V.above(0))
    assert V.all_of([held, held], "c", "s").verdict == V.HELD
    assert V.all_of([held, noise], "c", "s").verdict == V.WITHIN_NOISE
    assert V.all_of([held, noise, lost], "c", "s").verdict == V.NOT_HELD
    assert V.all_of([], "c", "s").verdict == V.NOT_RUN


def test_bad_scores_are_refused_by_name():
    with pytest.raises(ValueError, match="NaN"):
        V.difference([[1.0, float("nan")]], [[1.0, 2.0]], "c", "s")
    with pytest.raises(ValueError, match="same n items"):
        V.difference(np.zeros((2, 3)), np.zeros((2, 4)), "c", "s")


def test_round_trip_through_json():
    v = V.exact(0.5, "c", "s", V.above(0), space="x", key="v_c")
    assert V.from_dict(v.to_dict()) == v
    assert V.counts([v, v])[V.HELD] == 2
