"""Lemma 2 (Appendix B.2) and Fig 5: the stable region of the contrastive loss, and the alignment noise it
leaves when optimisation stops, measured over a sweep of temperatures (chapter 03).

- :func:`required_margin`: the margin ``r = t_pos - max_j t_j`` a term needs for a loss below delta.
- :func:`stable_region`: that margin over a grid of tau and delta, checked against the loss itself.
- :func:`tau_sweep`: the Fig 4 simulation run to loss < delta for each tau; the noise left at that point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import simulation as sim
from .config import ChapterConfig
from .simulation import _check_tau


def overlap_factor(neg_sims: np.ndarray, tau: float) -> float:
    """``o'(tau) = sum_j exp((t_j - t_max) / tau)`` over the negative similarities ``t_j`` (1 < o' < n)."""
    t = np.asarray(neg_sims, dtype=np.float64)
    return float(np.exp((t - t.max()) / tau).sum())


def required_margin(neg_sims: np.ndarray, tau: float, delta: float) -> float:
    """Lemma 2: the smallest margin ``r = t_pos - max_j t_j`` with term loss ``<= delta``:
    ``r = tau * log(o'(tau) / (exp(delta) - 1))`` (exact for this loss, with o' unrounded)."""
    _check_tau(tau)
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


@dataclass(frozen=True)
class TemperatureConfig(ChapterConfig):
    """Chapter 03 (Fig 5, Lemma 2): the stable region and the alignment noise it leaves, against tau."""

    taus: tuple[float, ...] = (0.01, 0.02, 0.03, 0.05, 0.07, 0.1)  # temperatures of the sweep
    delta: float = 0.05  # loss below which optimisation is taken to end (Lemma 2)
    n: int = 100  # pairs per simulation
    d: int = 512  # embedding dimension
    img_dims: int = 25  # image dims, as in chapter 02
    txt_dims: int = 230  # text dims, as in chapter 02
    max_steps: int = 20_000  # cap on SGD steps when the loss never reaches delta
    lr: float = 0.1  # plain SGD learning rate
    num_negatives: int = 999  # Lemma 2 curve: negatives per term (paper's n - 1 for n = 1000)

    PRESETS = {
        "smoke": {"n": 48, "max_steps": 1500, "taus": (0.02, 0.05, 0.1)},
        "default": {"n": 200, "taus": (0.01, 0.015, 0.02, 0.03, 0.05, 0.07, 0.1)},
        "paper": {"n": 1000, "max_steps": 200_000},
    }


def tau_sweep(cfg: TemperatureConfig, progress: bool = True) -> list[dict]:
    """For each tau: SGD from the same collapsed start until the loss < delta; the noise left when it ends."""
    import torch

    out = []
    for tau in cfg.taus:
        space = sim.synthetic_pairs(cfg.n, cfg.d, cfg.img_dims, cfg.txt_dims, cfg.seed)
        x, y, trace = sim.optimise(space, cfg.max_steps, cfg.lr, tau, log_every=max(cfg.max_steps // 50, 1),
                               stop_below=cfg.delta, progress=progress)
        xn, yn = x / x.norm(dim=1, keepdim=True), y / y.norm(dim=1, keepdim=True)
        sims = (xn @ yn.T).double()  # [n, n]
        pos = sims.diagonal()
        neg = sims - 2 * torch.eye(sims.shape[0], dtype=sims.dtype)  # hide the positives
        margin = (pos - neg.max(dim=1).values).numpy()
        out.append({"tau": tau, "steps": trace.step[-1], "reached": trace.loss[-1] < cfg.delta,
                    "loss": trace.loss[-1], "noise": trace.noise[-1], "pos_cos_mean": float(pos.mean()),
                    "margin_mean": float(margin.mean()), "margin_min": float(margin.min()),
                    "noise_std_per_dim": float(((xn - yn) - (xn - yn).mean(0)).std(0).mean())})
    return out
