"""Claims as measured comparisons: each verdict is **held**, **not held** or **within noise**, with its effect,
its 95 % interval, the number of test items and of seeds.

A claim names a statistic (``CIDEr: C3 − C1``, ``|orthogonality|``) and the region where the paper says it
lies (:class:`Region`: above 0, below a bound, inside ``(−t, t)``). Its interval decides:

* **held**: the whole interval lies inside the region;
* **not held**: the whole interval lies outside it;
* **within noise**: the interval straddles the region's edge, so this run cannot tell.

The interval combines the two sources of noise a reader cares about:

* **test items** (which images were drawn for the test): a paired bootstrap over items. Both variants are
  scored on the same items, so the resampled items are the same for both, and item difficulty cancels.
  Its variance is the bootstrap variance of the mean paired difference of the seed-averaged per-item scores.
* **seeds** (training noise): the spread of the per-seed means, ``s_a²/k_a + s_b²/k_b`` (ddof = 1).

The two variances add (they are independent draws; the seed-by-item noise, which both would count, is taken
out of the item part by the two-way residual variance), and the interval is ``effect ± t · sqrt(V)`` with
Student's t at the Welch–Satterthwaite degrees of freedom of that sum, so few seeds widen it as they should.
Statistics of a whole set (FID, a gap length) have no per-item score: their seeds (or groups) alone give the
interval. A deterministic quantity (a simulation, a closed form) has no noise: :func:`exact` compares it with
the bound directly and says so. The bounds come from the paper's wording, never from our results.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Sequence

import numpy as np

HELD, NOT_HELD, WITHIN_NOISE = "held", "not held", "within noise"
NOT_ENOUGH = "not enough data"
NOT_RUN = "not run at this preset"
VERDICTS = (HELD, NOT_HELD, WITHIN_NOISE, NOT_ENOUGH, NOT_RUN)
LEVEL = 0.95
N_BOOT = 2000


@dataclasses.dataclass(frozen=True)
class Region:
    """Where a claim says its statistic lies: ``low < x < high`` (either side may be open-ended)."""

    low: float = -math.inf
    high: float = math.inf

    def __str__(self) -> str:
        if math.isinf(self.high):
            return f"> {self.low:g}"
        if math.isinf(self.low):
            return f"< {self.high:g}"
        if self.low == -self.high:
            return f"|x| < {self.high:g}"
        return f"in ({self.low:g}, {self.high:g})"


def above(bound: float = 0.0) -> Region:
    """The statistic exceeds ``bound`` (an ordering: ``a − b > 0``)."""
    return Region(low=bound)


def below(bound: float = 0.0) -> Region:
    """The statistic stays under ``bound``."""
    return Region(high=bound)


def near_zero(bound: float) -> Region:
    """``|statistic| < bound``."""
    return Region(-bound, bound)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One claim's outcome in one space."""

    claim: str  # the paper's claim, in words
    space: str  # where it was tested ("" when the chapter has one setting)
    statistic: str  # what ``effect`` measures, e.g. "CIDEr, C3 − C1"
    region: str  # where the claim puts the statistic, e.g. "> 0"
    verdict: str  # one of VERDICTS
    effect: float | None = None
    low: float | None = None  # the 95 % interval
    high: float | None = None
    n: int | None = None  # test items (or groups) behind the effect
    seeds: int | None = None  # seeds per compared variant (the fewest)
    method: str = ""  # how the interval was computed
    key: str = ""  # glue key of the verdict word on the chapter's page ("" : none)

    @property
    def held(self) -> bool | None:
        """True / False for held / not held, None otherwise (within noise, not enough data, not run)."""
        return {HELD: True, NOT_HELD: False}.get(self.verdict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def interval(self) -> str:
        """``"+5.2 [+1.0, +9.4]"``, or the verdict's word when there is no effect."""
        if self.effect is None:
            return "—"
        if self.low is None:
            return f"{self.effect:+.3g} (no interval)"
        if self.n is None and self.seeds is None:
            return f"{self.effect:+.3g} (exact)"
        return f"{self.effect:+.3g} [{self.low:+.3g}, {self.high:+.3g}]"


def decide(low: float, high: float, region: Region) -> str:
    """The verdict of an interval ``[low, high]`` against ``region``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return NOT_ENOUGH
    if low > region.low and high < region.high:
        return HELD
    if high <= region.low or low >= region.high:
        return NOT_HELD
    return WITHIN_NOISE


def _t_quantile(df: float, level: float = LEVEL) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, df)) if math.isfinite(df) else float(stats.norm.ppf(0.5 + level / 2))


def _as_scores(x: Any, name: str) -> np.ndarray:
    """``x`` as a float array ``(k, n)`` (seeds x items) or ``(k,)`` (one value per seed or group)."""
    a = np.asarray(x, dtype=float)
    if a.ndim not in (1, 2) or a.size == 0:
        raise ValueError(f"{name} must be a non-empty list of per-seed values (k,) or per-seed per-item scores "
                         f"(k, n); got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or inf: a score that could not be computed cannot enter a verdict")
    return a


def _item_variance(diff: np.ndarray, seed: int) -> float:
    """Paired bootstrap variance of the mean of per-item differences ``diff`` (n,)."""
    rng = np.random.default_rng([seed, 7])
    idx = rng.integers(0, len(diff), size=(N_BOOT, len(diff)))
    return float(diff[idx].mean(axis=1).var(ddof=1))


def _interaction(x: np.ndarray) -> float:
    """The seed-by-item residual variance of scores ``(k, n)`` (two-way layout, no replication); 0 for one seed."""
    k, n = x.shape
    if k < 2:
        return 0.0
    resid = x - x.mean(axis=0, keepdims=True) - x.mean(axis=1, keepdims=True) + x.mean()
    return float((resid ** 2).sum() / ((k - 1) * (n - 1)))


def _seed_part(means: np.ndarray) -> tuple[float, float]:
    """``(s²/k, k − 1)`` of per-seed means; ``(0, inf)`` with one seed (no estimate of training noise)."""
    k = len(means)
    return (float(means.var(ddof=1)) / k, k - 1.0) if k > 1 else (0.0, math.inf)


def _interval(effect: float, parts: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """``effect ± t · sqrt(sum of variances)``, t at the Welch–Satterthwaite df of the parts ``(var, df)``."""
    total = sum(v for v, _ in parts)
    if total == 0:
        return effect, effect
    denom = sum(v * v / df for v, df in parts if v > 0 and math.isfinite(df))
    df = total * total / denom if denom > 0 else math.inf
    half = _t_quantile(df) * math.sqrt(total)
    return effect - half, effect + half


def difference(a: Any, b: Any, claim: str, statistic: str, region: Region = Region(low=0.0), space: str = "",
               key: str = "", seed: int = 0) -> Verdict:
    """A claim about ``mean(a) − mean(b)``: per-seed per-item scores ``(k_a, n)`` and ``(k_b, n)`` on the same
    items (paired bootstrap over items plus the spread over seeds), or per-seed values ``(k_a,)`` and
    ``(k_b,)`` of a set-level statistic (the spread over seeds alone)."""
    a, b = _as_scores(a, "a"), _as_scores(b, "b")
    if a.ndim != b.ndim or (a.ndim == 2 and a.shape[1] != b.shape[1]):
        raise ValueError(f"a {a.shape} and b {b.shape} must both be (k, n) on the same n items, or both (k,)")
    seeds = min(len(a), len(b))
    if a.ndim == 1:
        effect = float(a.mean() - b.mean())
        if seeds < 2:
            return Verdict(claim, space, statistic, str(region), NOT_ENOUGH, effect, None, None, None, seeds,
                           "one value per variant: no noise estimate", key)
        low, high = _interval(effect, [_seed_part(a), _seed_part(b)])
        return Verdict(claim, space, statistic, str(region), decide(low, high, region), effect, low, high, None,
                       seeds, "Welch t over seeds", key)
    means_a, means_b = a.mean(axis=1), b.mean(axis=1)
    effect = float(means_a.mean() - means_b.mean())
    diff = a.mean(axis=0) - b.mean(axis=0)  # (n,) seed-averaged paired differences
    n = len(diff)
    if n < 2:
        return Verdict(claim, space, statistic, str(region), NOT_ENOUGH, effect, None, None, n, seeds,
                       "fewer than 2 test items", key)
    # the bootstrap of seed-averaged differences also carries the seed-by-item noise, which the per-seed means
    # already count: take it out, so that only the items' own spread of the effect is added
    interaction = _interaction(a) / (len(a) * n) + _interaction(b) / (len(b) * n)
    parts = [(max(_item_variance(diff, seed) - interaction, 0.0), n - 1.0), _seed_part(means_a), _seed_part(means_b)]
    low, high = _interval(effect, parts)
    method = "paired bootstrap over items + spread over seeds" if seeds > 1 else \
        "paired bootstrap over items (one seed: training noise not estimated)"
    return Verdict(claim, space, statistic, str(region), decide(low, high, region), effect, low, high, n, seeds,
                   method, key)


def one_sample(values: Any, claim: str, statistic: str, region: Region, space: str = "", key: str = "",
               seed: int = 0, unit: str = "seeds") -> Verdict:
    """A claim about ``mean(values)``: ``(k,)`` values (seeds, or groups as in Table 1: ``unit="groups"``) give a
    t interval; ``(k, n)`` per-seed per-item scores give the item bootstrap plus the seed spread."""
    v = _as_scores(values, "values")
    if v.ndim == 1:
        effect = float(v.mean())
        if len(v) < 2:
            return Verdict(claim, space, statistic, str(region), NOT_ENOUGH, effect, None, None, None, len(v),
                           f"one value: no noise estimate", key)
        low, high = _interval(effect, [_seed_part(v)])
        n, seeds = (len(v), None) if unit == "groups" else (None, len(v))
        return Verdict(claim, space, statistic, str(region), decide(low, high, region), effect, low, high, n,
                       seeds, f"t over {unit}", key)
    return difference(v, np.zeros_like(v[:1]), claim, statistic, region, space, key, seed)


def exact(value: float, claim: str, statistic: str, region: Region, space: str = "", key: str = "",
          why: str = "deterministic: no noise") -> Verdict:
    """A claim about a quantity computed without sampling noise (a fixed simulation, a closed form)."""
    if value is None or not math.isfinite(value):
        return Verdict(claim, space, statistic, str(region), NOT_ENOUGH, None, None, None, None, None,
                       "the statistic could not be computed", key)
    value = float(value)
    return Verdict(claim, space, statistic, str(region), decide(value, value, region), value, value, value, None,
                   None, why, key)


def all_of(parts: Sequence[Verdict], claim: str, statistic: str, space: str = "", key: str = "") -> Verdict:
    """A claim that needs every part (``C3 beats each other variant``): held when all parts hold, not held when
    any is not held, else within noise; the effect and interval are those of the weakest part."""
    parts = [p for p in parts if p.verdict != NOT_RUN]
    if not parts:
        return Verdict(claim, space, statistic, "", NOT_RUN, key=key)
    if any(p.verdict == NOT_HELD for p in parts):
        word = NOT_HELD
    elif all(p.verdict == HELD for p in parts):
        word = HELD
    elif any(p.verdict == NOT_ENOUGH for p in parts):
        word = NOT_ENOUGH
    else:
        word = WITHIN_NOISE
    # the part shown is one that carries the claim's word (parts may test different regions: the lowest
    # interval of a held part must not stand for a claim another part fails)
    shown = [p for p in parts if p.verdict == word and p.effect is not None] or [p for p in parts if p.effect is not None]
    weakest = min(shown, key=lambda p: p.low if p.low is not None else p.effect, default=parts[0])
    return dataclasses.replace(weakest, claim=claim, statistic=f"{statistic} (weakest: {weakest.statistic})",
                               space=space, verdict=word, key=key)


def not_run(claim: str, statistic: str, space: str = "", key: str = "", why: str = "") -> Verdict:
    """A claim the preset did not test."""
    return Verdict(claim, space, statistic, "", NOT_RUN, method=why, key=key)


def not_enough(claim: str, statistic: str, why: str, space: str = "", key: str = "") -> Verdict:
    """A claim whose statistic needs more points than the run has (``why`` says which)."""
    return Verdict(claim, space, statistic, "", NOT_ENOUGH, method=why, key=key)


def from_dict(d: dict) -> Verdict:
    """A verdict read back from a results JSON."""
    return Verdict(**{f.name: d.get(f.name, f.default) for f in dataclasses.fields(Verdict)})


def counts(verdicts: Iterable[Verdict]) -> dict[str, int]:
    """How many verdicts of each word."""
    out = dict.fromkeys(VERDICTS, 0)
    for v in verdicts:
        out[v.verdict] += 1
    return out
