"""Lemma 2 (Appendix B.2) and Fig 5: the stable region of the contrastive loss, and the alignment noise it
leaves when optimisation stops (chapter 03,
:mod:`c3lib.chapters.ch03_alignment_noise_temperature`, sweeps the temperature).

- :func:`required_margin`: the margin ``r = t_pos - max_j t_j`` a term needs for a loss below delta.
- :func:`stable_region`: that margin over a grid of tau and delta, checked against the loss itself.
"""

from __future__ import annotations

import math
import numpy as np

from c3lib.simulation import check_tau


def overlap_factor(neg_sims: np.ndarray, tau: float) -> float:
    """``o'(tau) = sum_j exp((t_j - t_max) / tau)`` over the negative similarities ``t_j`` (1 < o' < n)."""
    t = np.asarray(neg_sims, dtype=np.float64)
    return float(np.exp((t - t.max()) / tau).sum())


def required_margin(neg_sims: np.ndarray, tau: float, delta: float) -> float:
    """Lemma 2: the smallest margin ``r = t_pos - max_j t_j`` with term loss ``<= delta``:
    ``r = tau * log(o'(tau) / (exp(delta) - 1))`` (exact for this loss, with o' unrounded)."""
    check_tau(tau)
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta!r}")
    return tau * math.log(overlap_factor(neg_sims, tau) / math.expm1(delta))


def term_loss(pos_sim: float, neg_sims: np.ndarray, tau: float) -> float:
    """One InfoNCE term ``-log softmax`` of the positive against the negatives (Lemma 2's ``L_i``)."""
    t = np.asarray(neg_sims, dtype=np.float64)
    return float(np.logaddexp.reduce(np.append(t, pos_sim) / tau) - pos_sim / tau)


def stable_region(neg_sims: np.ndarray, taus, deltas) -> dict:
    """Lemma 2 over a grid: the required margin for each (delta, tau), and the largest |L_i - delta| found
    when the positive sits exactly at that margin (the bound is tight for this loss)."""
    t_max = float(np.max(neg_sims))
    margins = {float(dl): [required_margin(neg_sims, float(t), float(dl)) for t in taus] for dl in deltas}
    err = max(abs(term_loss(t_max + r, neg_sims, float(t)) - dl)
              for dl, rs in margins.items() for t, r in zip(taus, rs))
    above = all(term_loss(t_max + 1.01 * r + 1e-9, neg_sims, float(t)) < dl
                for dl, rs in margins.items() for t, r in zip(taus, rs) if r > 0)
    monotone = all(np.all(np.diff(rs) > 0) for rs in margins.values())
    return {"taus": [float(t) for t in taus], "margins": margins, "max_loss_error": err,
            "below_delta_past_margin": bool(above), "monotone_in_tau": bool(monotone),
            "overlap": [overlap_factor(neg_sims, float(t)) for t in taus]}


def random_negatives(num: int, d: int = 512, seed: int = 0) -> np.ndarray:
    """Cosines of one random unit vector with ``num`` others in d dims (a stand-in for one row's negatives)."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((num + 1, d))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v[1:] @ v[0]
