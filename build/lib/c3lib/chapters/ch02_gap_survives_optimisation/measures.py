"""What chapter 02 measures on its two optimised layouts, and what its results file keeps.

All take the raw optimised embeddings ``x``, ``y`` (n, d) (torch) and the
:class:`c3lib.simulation.SyntheticSpace` they started from.
"""

from __future__ import annotations

import numpy as np

from c3lib import sim_measures as sm
from c3lib import simulation as sim
from c3lib.chapters.ch02_gap_survives_optimisation.setting import GapSurvivesConfig


def measure(cfg: GapSurvivesConfig, space: sim.SyntheticSpace, x, y, trace: sim.Trace) -> dict:
    """Everything the chapter reports on the optimised ``(x, y)`` against its start ``space``: gaps before
    and after, per-dim variances, the raw ineffective residual, and the sphere's accounting of the gap."""
    ineff = space.ineffective
    before, after = sm.space_stats(space.img_emb, space.txt_emb, space), sm.space_stats(x, y, space)
    var_before = (sm.per_dim_variance(space.img_emb), sm.per_dim_variance(space.txt_emb))
    var_after = (sm.per_dim_variance(x), sm.per_dim_variance(y))
    gap_ineff = np.array(trace.gap_ineffective)
    pred_err = np.abs(gap_ineff - np.array(trace.gap_ineffective_predicted))
    ratio = np.array(trace.gap_effective) / gap_ineff
    sphere = {"predicted_after": trace.gap_ineffective_predicted[-1], "measured_after": after["gap_ineffective"],
              "max_abs_error": float(pred_err.max()), "max_rel_error": float((pred_err / gap_ineff).max()),
              "shrink_measured": after["gap_ineffective"] - before["gap_ineffective"],
              "raw_ineffective_max_change": trace.raw_ineffective_change[-1], "row_norm_max": max(trace.row_norm_max),
              "grad_gap_ineffective_max_after_init": max(trace.grad_gap_ineffective[1:]),
              "grad_ineffective_normalised_init": trace.grad_ineffective_normalised[0],
              "gap_cos_init_min": min(trace.gap_cos_init), "ratio_eff_ineff_first": float(ratio[0]),
              "ratio_eff_ineff_last": float(ratio[-1]), "decomposition": sm.ineffective_decomposition(x, y, space)}
    return {"before": before, "after": after, "var_before": var_before, "var_after": var_after, "sphere": sphere,
            "resid_before": sm.ineffective_residual(space.img_emb, space) + sm.ineffective_residual(space.txt_emb, space),
            "resid_after": sm.ineffective_residual(x, space) + sm.ineffective_residual(y, space),
            "ineffective_variance_max_before": float(max(var_before[0][ineff].max(), var_before[1][ineff].max())),
            "ineffective_variance_max_after": float(max(var_after[0][ineff].max(), var_after[1][ineff].max()))}


def shared_summary(cfg: GapSurvivesConfig, space: sim.SyntheticSpace, x, y, trace: sim.Trace) -> dict:
    """The paper's layout, optimised: gap overall, in the effective and in the ineffective dims, before and
    after ``shared_steps`` steps, and the final loss."""
    def gaps(a, b) -> dict:
        g = sm.space_gap_vector(a, b)  # [d]
        return {"gap": float(g.norm()), "gap_effective": float(g[space.effective].norm()),
                "gap_ineffective": float(g[space.ineffective].norm())}

    return {"before": gaps(space.img_emb, space.txt_emb), "after": gaps(x, y), "steps": cfg.shared_steps,
            "dims": cfg.shared_dims, "final_loss": float(trace.loss[-1])}


def variance_share(emb, block: slice) -> float:
    """The share of the total variance of the L2-normalised rows of ``emb`` (n, d) that lies in the dims
    ``block`` (Fig 4's bars summed there, over all of them)."""
    v = sm.per_dim_variance(emb)  # (d,)
    return float(v[block].sum() / v.sum())


def variance_shares(space: sim.SyntheticSpace, x, y) -> dict:
    """Each modality's share of its variance in the ineffective dims, at the start and after optimisation."""
    ineff = space.ineffective
    return {"image_before": variance_share(space.img_emb, ineff), "text_before": variance_share(space.txt_emb, ineff),
            "image_after": variance_share(x, ineff), "text_after": variance_share(y, ineff)}


def metrics(trace: sim.Trace, m: dict, check: dict, shared: dict, shares: dict) -> dict:
    """What the results JSON keeps. ``shares``: :func:`variance_shares` per layout (``own_blocks``, ``shared``)."""
    return {"before": m["before"], "after": m["after"], "steps_run": trace.step[-1], "trace": trace.as_dict(),
            "lemma1_check": check, "grad_ineffective_outside_max": max(trace.grad_ineffective_outside),
            "ineffective_residual_before": m["resid_before"], "ineffective_residual_after": m["resid_after"],
            "ineffective_variance_max_before": m["ineffective_variance_max_before"],
            "ineffective_variance_max_after": m["ineffective_variance_max_after"],
            "sphere": m["sphere"], "shared_layout": shared, "ineffective_variance_share": shares}
