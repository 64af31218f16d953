"""Chapter 02's claims, each a :func:`c3lib.verdict.exact` verdict: the simulation is deterministic (one fixed
start, plain SGD, no sampling), so every statistic is compared with its bound directly.

The bounds, fixed from the paper's wording before any run:

* **zero in the paper's sense.** Section 3.1 calls a dimension ineffective when, with Definition 1's
  γ = 0.99, it falls outside the dims that carry 99 % of the variance: such dims "can be viewed as constant".
  So a part that "remains zero" (the ineffective dims' variance after optimisation, Fig 4), a gap "aligned"
  away (the effective dims' share of the gap), or a gap "orthogonal to the span" (its share inside the rows'
  joint 99 % span) must carry under ``1 − γ`` = 1 % of its whole: of the modality's total variance, or of the
  squared gap (squares, as variances add). It cannot be exactly zero: the paper normalises the rows before it
  measures, and a constant raw block divided by each row's own norm varies with that norm.
* **no gradient** (Lemma 1: a gradient lies in the other modality's span, so in the ineffective dims only
  along the two constants). An identity computed in floating point holds when its residual is under
  ``√ε`` of the dtype relative to the quantity it is part of (1.5e-8 in float64, 3.5e-4 in float32): the part
  of the ineffective gradient outside span{c_img, c_txt}, over the whole ineffective gradient, at every
  logged step.
* **slightly smaller, mainly the normalisation.** "The modality gap becomes slightly smaller (0.82 compared
  to 0.99) mainly due to ℓ2-regularization": "slightly smaller" read leniently as *most of it survives*
  (after / before > 1/2), and "mainly" as *more than half of the shrink* is the sphere's renormalisation,
  predicted from the effective coordinates alone (:func:`c3lib.sim_measures.sphere_prediction`).
"""

from __future__ import annotations

import numpy as np

from c3lib import simulation as sim
from c3lib import verdict
from c3lib.chapters.ch02_gap_survives_optimisation.setting import PAPER, GapSurvivesConfig
from c3lib.verdict import Verdict

ZERO_SHARE = 1 - PAPER["effective_dim_gamma"]  # under this share of its whole, a part is zero (Definition 1)
MOST = 0.5  # "slightly smaller" and "mainly": more than half

NO_GRADIENT = "Lemma 1: no gradient reaches the ineffective dims except along the two constants"
VARIANCE_ZERO = "the ineffective dims' variance remains zero after optimisation (Fig 4)"
GAP_KEPT = "the gap becomes only slightly smaller (most of it survives)"
SPHERE = "the gap shrinks mainly through the ℓ2 normalisation"
ORTHOGONAL = "the surviving gap is orthogonal to the rows' span (Proposition 1)"
ALIGNED = "the effective dims are aligned after optimisation (Fig 4)"


def rounding(dtype: str) -> float:
    """``√ε`` of ``dtype``: the relative size under which a floating-point identity holds."""
    return float(np.sqrt(np.finfo(dtype).eps))


def outside_ratio(trace: sim.Trace) -> float:
    """The largest ratio, over the logged steps, of the ineffective gradient's part outside span{c_img, c_txt}
    to the whole ineffective gradient (0 where both are 0)."""
    out, whole = np.array(trace.grad_ineffective_outside), np.array(trace.grad_ineffective)
    return float(np.max(np.divide(out, whole, out=np.zeros_like(out), where=whole > 0)))


def sphere_share(m: dict) -> float:
    """The share of the ineffective gap's shrink that the sphere's prediction accounts for:
    ``1 − |predicted − measured| / |measured shrink|`` after optimisation (1: all of it)."""
    s = m["sphere"]
    shrink = abs(s["shrink_measured"])
    return 1 - abs(s["predicted_after"] - s["measured_after"]) / shrink if shrink > 0 else float("nan")


def kept(before: float, after: float) -> float:
    """The share of a gap left after optimisation."""
    return after / before if before > 0 else float("nan")


def claims(cfg: GapSurvivesConfig, trace: sim.Trace, m: dict, shared: dict, shares: dict) -> list[Verdict]:
    """The chapter's claims in page order: own layout first, then the paper's. ``m``:
    :func:`.measures.measure`; ``shared``: :func:`.measures.shared_summary`; ``shares``:
    :func:`.measures.variance_shares` per layout (``own_blocks``, ``shared``)."""
    blocks, paper_layout = cfg.blocks_space(), cfg.shared_space()
    zero = verdict.below(ZERO_SHARE)
    gamma = f"deterministic simulation; bound 1 − γ, Definition 1's γ = {PAPER['effective_dim_gamma']:g}"
    lenient = "deterministic simulation; bound: more than half"

    def variance(s: dict, space: str, key: str) -> Verdict:
        return verdict.exact(max(s["image_after"], s["text_after"]), VARIANCE_ZERO,
                             "share of a modality's variance in the ineffective dims, after (the larger)", zero,
                             space, key, gamma)

    sa, sb = shared["after"], shared["before"]
    return [
        verdict.exact(outside_ratio(trace), NO_GRADIENT, "largest ‖gradient outside span{c_img, c_txt}‖ / "
                      "‖gradient in the ineffective dims‖", verdict.below(rounding(cfg.dtype)), blocks,
                      "v_no_gradient", f"deterministic simulation; bound √ε of {cfg.dtype}"),
        variance(shares["own_blocks"], blocks, "v_variance_zero"),
        verdict.exact(kept(m["before"]["gap_ineffective"], m["after"]["gap_ineffective"]), GAP_KEPT,
                      "ineffective gap, after / before", verdict.above(MOST), blocks, "v_gap_kept", lenient),
        verdict.exact(sphere_share(m), SPHERE, "share of the ineffective gap's shrink predicted by the sphere",
                      verdict.above(MOST), blocks, "v_sphere", lenient),
        verdict.exact(trace.gap_in_span[-1] ** 2 / trace.gap[-1] ** 2, ORTHOGONAL,
                      "share of the squared gap inside the rows' joint 99 % span, after", zero, blocks,
                      "v_gap_outside", gamma),
        verdict.exact(sa["gap_effective"] ** 2 / sa["gap"] ** 2, ALIGNED,
                      "share of the squared gap in the effective dims, after", zero, paper_layout, "v_aligned",
                      gamma),
        variance(shares["shared"], paper_layout, "v_variance_zero_shared"),
        verdict.exact(kept(sb["gap_ineffective"], sa["gap_ineffective"]), GAP_KEPT,
                      "ineffective gap, after / before", verdict.above(MOST), paper_layout, "v_gap_kept_shared",
                      lenient),
    ]
