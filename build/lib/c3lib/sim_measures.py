"""What chapter 02 measures on the Fig 4 simulation: gaps, their parts, and their accounting.

All take raw embeddings ``x``, ``y`` of shape ``(n, d)`` (torch), normalise them inside, and the
:class:`c3lib.simulation.SyntheticSpace` they started from where the effective / ineffective split matters.

- :func:`space_stats`: gap overall, in the effective and ineffective dims (normalised and raw), noise size.
- :func:`sphere_prediction`: the ineffective gap predicted from the effective coordinates alone.
- :func:`ineffective_decomposition`: the ineffective gap row by row (own constant vs tilt).
- :func:`gap_in_span`: the part of the gap inside the rows' joint principal span.
"""

from __future__ import annotations

import numpy as np


def outside_span(block, basis):
    """Norm of ``block`` (n, k) after removing its projection on the columns' span of ``basis`` (k, r)."""
    import torch

    q, _ = torch.linalg.qr(basis)  # [k, r]
    return (block - (block @ q) @ q.T).norm()


def space_stats(x, y, space) -> dict:
    """Gap (overall, effective, ineffective dims) and alignment-noise size of raw ``x``, ``y``."""
    xn, yn = x / x.norm(dim=1, keepdim=True), y / y.norm(dim=1, keepdim=True)
    gap = xn.mean(0) - yn.mean(0)  # [d]
    diff = xn - yn
    eps = diff - diff.mean(0)
    raw_gap = x[:, space.ineffective].mean(0) - y[:, space.ineffective].mean(0)  # before normalising
    return {"gap": float(gap.norm()), "gap_effective": float(gap[space.effective].norm()),
            "gap_ineffective_raw": float(raw_gap.norm()),
            "gap_ineffective": float(gap[space.ineffective].norm()), "noise": float(eps.norm(dim=1).mean())}


def sphere_prediction(x, y, space) -> float:
    """The ineffective gap if every row kept its initial ineffective *direction* and only its length changed,
    fixed by the unit norm of the normalised row: ``||xn_ineff|| = sqrt(1 - ||xn_eff||^2)``.

    Uses only the effective coordinates of ``x``, ``y`` (n, d) and the start's directions, so agreement with the
    measured ineffective gap says the gap's change there is the sphere's renormalisation and nothing else.
    """
    ineff, eff = space.ineffective, space.effective
    out = []
    for now, start in ((x, space.img_emb), (y, space.txt_emb)):
        share = (1 - (now[:, eff] ** 2).sum(1) / (now ** 2).sum(1)).clamp_min(0).sqrt()  # [n]
        direction = start[:, ineff] / start[:, ineff].norm(dim=1, keepdim=True)  # [n, k]
        out.append((share[:, None] * direction).mean(0))
    return float((out[0] - out[1]).norm())


def gap_in_span(x, y, gamma: float = 0.99) -> tuple[float, int]:
    """The part of the gap that lies where the embeddings vary: ``(norm, span_dim)``.

    The span is the top principal directions of the centred normalised rows of both modalities together,
    as many as carry ``gamma`` of the variance (Definition 1's effective dimension). Proposition 1's gap
    c_perp is orthogonal to it; coordinate blocks fixed at init stop describing the spans once training
    spreads the rows.
    """
    import torch

    xn, yn = x / x.norm(dim=1, keepdim=True), y / y.norm(dim=1, keepdim=True)
    centred = torch.cat([xn - xn.mean(0), yn - yn.mean(0)])  # [2n, d]
    _, sv, vt = torch.linalg.svd(centred, full_matrices=False)
    share = torch.cumsum(sv ** 2, 0) / (sv ** 2).sum()
    k = int((share < gamma - 1e-12).sum()) + 1
    return float((vt[:k] @ (xn.mean(0) - yn.mean(0))).norm()), k


def ineffective_decomposition(x, y, space) -> dict:
    """Account for the ineffective gap of raw ``x``, ``y`` (n, d) row by row.

    Each normalised row's ineffective block ``v_i`` is split into its part along the row's own initial
    direction ``u_i`` and the rest, its *tilt* (towards the other modality's constant, Lemma 1's dropped term).
    Returns the measured gap; ``sphere`` (:func:`sphere_prediction`); ``own_direction``, the gap of the parts
    along ``u_i`` (sphere plus the second-order shortening by the tilt); ``mean_tilt``, the norm of the tilts'
    mean difference (what is left); and ``tilt_rms`` per modality, the size of one row's tilt.
    """
    ineff = space.ineffective
    along, tilt, rms = [], [], []
    for now, start in ((x, space.img_emb), (y, space.txt_emb)):
        v = (now / now.norm(dim=1, keepdim=True))[:, ineff]  # [n, k]
        u = start[:, ineff] / start[:, ineff].norm(dim=1, keepdim=True)
        a = (v * u).sum(1, keepdim=True) * u
        along.append(a.mean(0)); tilt.append((v - a).mean(0)); rms.append(float((v - a).norm(dim=1).pow(2).mean().sqrt()))
    xn, yn = x / x.norm(dim=1, keepdim=True), y / y.norm(dim=1, keepdim=True)
    return {"measured": float((xn[:, ineff].mean(0) - yn[:, ineff].mean(0)).norm()),
            "sphere": sphere_prediction(x, y, space), "own_direction": float((along[0] - along[1]).norm()),
            "mean_tilt": float((tilt[0] - tilt[1]).norm()), "tilt_rms_img": rms[0], "tilt_rms_txt": rms[1]}


def space_gap_vector(x, y):
    """``mean(xn) - mean(yn)`` of raw ``x``, ``y`` (n, d) -> (d,)."""
    return x.div(x.norm(dim=1, keepdim=True)).mean(0) - y.div(y.norm(dim=1, keepdim=True)).mean(0)


def per_dim_variance(emb) -> np.ndarray:
    """Variance of each dimension of the L2-normalised rows of ``emb`` (n, d) -> (d,) (Fig 4's bars)."""
    en = emb / emb.norm(dim=1, keepdim=True)
    return en.double().var(dim=0).numpy()


def ineffective_residual(x, space) -> float:
    """Norm of the raw ineffective block of ``x`` (n, d) outside span{c_img, c_txt}: 0 at init and, since
    every gradient there lies in that span, 0 after any number of SGD steps."""
    import torch

    ineff = space.ineffective
    basis = torch.stack([space.img_emb[0, ineff], space.txt_emb[0, ineff]], dim=1)
    return float(outside_span(x[:, ineff], basis))
