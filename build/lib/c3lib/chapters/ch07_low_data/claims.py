"""Chapter 07's claims, each a paired comparison of per-item CIDEr on the same held-out test images.

The paper (section 5.1, Fig 6, Appendix E Table 5): "C3 outperforms the fully supervised baseline across all
metrics, with the most significant improvements seen in low-data regimes"; and at 1 % its corrupted variants
(C3, C2-corrupt) lead C1 and C2-collapse by far. Tested here, on CIDEr (the paper's headline metric, whose
corpus score is the mean of its per-item scores), by :func:`c3lib.verdict.difference`: a paired bootstrap
over the test images plus the spread over fine-tuning seeds (one seed where the run has one: the verdict's
method says that training noise is then not estimated). The thresholds are the paper's wording, orderings:

* at each fraction below 100 %, C3 fine-tuned on the pairs is above ClipCap trained on them alone;
* the advantage shrinks as pairs grow: C3 − ClipCap at the smallest fraction is above C3 − ClipCap at the
  largest (per seed, C3 and ClipCap are trained on the same subset, so their per-item difference is paired);
* at the smallest fraction the corrupted variants lead: C3 and C2-corrupt each above C1 and C2-collapse.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from c3lib.chapters.ch07_low_data.setting import CLAIM_METRIC
from c3lib.verdict import NOT_RUN, Verdict, above, all_of, difference, not_enough, not_run

BEATS = "C3, pre-trained on text and fine-tuned on the pairs, beats ClipCap trained on them alone"
SHRINKS = "C3's advantage over ClipCap shrinks as pairs grow"
CORRUPT = "the corrupted variants lead when pairs are scarcest: C3 and C2-corrupt each above C1 and C2-collapse"
CORRUPTED, PLAIN = ("C3", "C2-corrupt"), ("C1", "C2-collapse")


def fraction_key(fraction: float) -> str:
    """``5.0`` -> ``"5"``, ``2.5`` -> ``"2_5"``: a fraction as a glue-key part."""
    return f"{fraction:g}".replace(".", "_")


def beats_key(fraction: float, smallest: float) -> str:
    """The glue key of the C3-beats-ClipCap verdict at ``fraction`` (``v_beats`` at the smallest)."""
    return "v_beats" if fraction == smallest else f"v_beats_{fraction_key(fraction)}"


def item_scores(runs: Sequence[dict], fraction: float, method: str, metric: str = CLAIM_METRIC) -> np.ndarray | None:
    """Per-seed per-item scores ``(k, n)`` of one method at one fraction, seeds in order; None if it did not run."""
    rows = sorted((r for r in runs if r["fraction"] == fraction and r["method"] == method), key=lambda r: r["seed"])
    return np.array([r["items"][metric] for r in rows], dtype=float) if rows else None


def _seeds(runs: Sequence[dict], fraction: float, method: str) -> list[int]:
    return sorted(r["seed"] for r in runs if r["fraction"] == fraction and r["method"] == method)


def compare(runs: Sequence[dict], fraction: float, a: str, b: str, claim: str, space: str, key: str = "",
            metric: str = CLAIM_METRIC) -> Verdict:
    """``metric(a) − metric(b) > 0`` at ``fraction``, or not run where either method is missing."""
    sa, sb = item_scores(runs, fraction, a, metric), item_scores(runs, fraction, b, metric)
    stat = f"{metric} at {fraction:g} % of pairs, {a} − {b}"
    if sa is None or sb is None:
        return not_run(claim, stat, space, key, why=f"{a} or {b} did not run at {fraction:g} %")
    return difference(sa, sb, claim, stat, above(0), space, key)


def advantage(runs: Sequence[dict], fraction: float, metric: str = CLAIM_METRIC) -> np.ndarray | None:
    """Per seed, per item, C3 − ClipCap at ``fraction`` (both trained on that seed's subset); None if either
    is missing or their seeds differ."""
    c3, cc = item_scores(runs, fraction, "C3", metric), item_scores(runs, fraction, "ClipCap", metric)
    if c3 is None or cc is None or _seeds(runs, fraction, "C3") != _seeds(runs, fraction, "ClipCap"):
        return None
    return c3 - cc


def claims(runs: Sequence[dict], fractions: Sequence[float], space: str, metric: str = CLAIM_METRIC) -> list[Verdict]:
    """C3 above ClipCap at each fraction below 100 %, the advantage shrinking from the smallest fraction to the
    largest, and the corrupted variants leading at the smallest (see the module's docstring)."""
    small, full = min(fractions), max(fractions)
    low = sorted(f for f in set(fractions) if f < 100)
    out = [compare(runs, f, "C3", "ClipCap", BEATS, space, beats_key(f, small), metric) for f in low]
    if not low:
        out.append(not_run(BEATS, f"{metric}, C3 − ClipCap", space, "v_beats", why="no fraction below 100 %"))
    stat = f"{metric}, (C3 − ClipCap) at {small:g} % − (C3 − ClipCap) at {full:g} %"
    a, b = advantage(runs, small, metric), advantage(runs, full, metric)
    if small == full:
        out.append(not_enough(SHRINKS, stat, "one fraction: nothing to compare it with", space, "v_shrinks"))
    elif a is None or b is None:
        out.append(not_run(SHRINKS, stat, space, "v_shrinks", why="C3 or ClipCap did not run at both fractions"))
    else:
        out.append(difference(a, b, SHRINKS, stat, above(0), space, "v_shrinks"))
    parts = [compare(runs, small, c, p, f"{c} above {p}", space, metric=metric) for c in CORRUPTED for p in PLAIN]
    stat = f"{metric} at {small:g} % of pairs, corrupted − uncorrupted variant"
    out.append(not_run(CORRUPT, stat, space, "v_corrupt", why="not every pre-trained variant ran")
               if any(p.verdict == NOT_RUN for p in parts) else all_of(parts, CORRUPT, stat, space, "v_corrupt"))
    return out


def mean_advantage(summary: Sequence[dict], fractions: Sequence[float], metric: str = CLAIM_METRIC) -> dict[str, Any]:
    """C3 − ClipCap of the means per fraction (``{"1": 3.2, ...}``), where both ran."""
    m = {(r["fraction"], r["method"]): r[metric] for r in summary}
    return {f"{f:g}": m[f, "C3"] - m[f, "ClipCap"] for f in fractions if (f, "C3") in m and (f, "ClipCap") in m}


def kept_pretrained(runs: Sequence[dict]) -> dict[str, int]:
    """Per fraction, the fine-tuning runs in which no epoch beat the pre-trained decoder on validation."""
    kept: dict[float, int] = {}
    for r in sorted((r for r in runs if r["fraction"] > 0 and r["method"] != "ClipCap"), key=lambda r: r["fraction"]):
        kept[r["fraction"]] = kept.get(r["fraction"], 0) + int(r["kept_pretrained"])
    return {f"{f:g}": int(k) for f, k in kept.items()}
