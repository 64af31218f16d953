"""Chapter 03, alignment noise and temperature (paper section 3.2, Fig 5, Lemma 2).

Lemma 2's stable region comes from :mod:`c3lib.stable_region`; here the Fig 4 simulation of
:mod:`c3lib.simulation` is run to loss < delta for each temperature of a sweep, and the alignment noise
left at that point is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from c3lib.checks import AT_LEAST_1, AT_LEAST_2, POSITIVE
from c3lib import simulation as sim
from c3lib.config import ChapterConfig

PAPER = {"lemma2": "r >= tau * log(o(tau) / (exp(delta) - 1)), 1 < o(tau) < n, increasing in tau",
         "fig5": "stable region grows as tau falls (no numbers)"}


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

    RANGES = {"taus": POSITIVE, "delta": POSITIVE, "lr": POSITIVE, "n": AT_LEAST_2,
              **dict.fromkeys(("d", "img_dims", "txt_dims", "max_steps", "num_negatives"), AT_LEAST_1)}

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


MARGIN_GROWS = "Lemma 2: the required margin grows with τ"
BOUND_EXACT = "Lemma 2's margin is exact (|L_i − δ| < 1e-9 at it)"
NOISE_GROWS = "lower τ leaves more alignment noise (corr(τ, ‖ε‖) < 0)"
SPACE_TERM = "one InfoNCE term against random negatives"
SPACE_SIM = "synthetic collapsed start, SGD until loss < δ"


def claims(region: dict, noise_tau_correlation: float) -> dict[str, dict[str, bool]]:
    """``{space: {claim: held}}`` from the stable region (Lemma 2) and the τ sweep."""
    return {SPACE_TERM: {MARGIN_GROWS: bool(region["monotone_in_tau"]),
                         BOUND_EXACT: bool(region["max_loss_error"] < 1e-9)},
            SPACE_SIM: {NOISE_GROWS: bool(noise_tau_correlation < 0)}}


def noise_panel(tau: float, sigma: float, n: int = 200, d: int = 64, delta: float = 0.05, seed: int = 0) -> dict:
    """The live panel's fast path (milliseconds): n unit pairs whose texts are their images plus Gaussian
    noise of std ``sigma`` per dim, renormalised. Returns the InfoNCE term losses at ``tau`` (image to text)
    and the share of terms already below ``delta``: the stable region that stops optimisation."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # [n, d]
    y = x + sigma * rng.standard_normal((n, d))
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    logits = x @ y.T / tau  # [n, n]
    terms = np.logaddexp.reduce(logits, axis=1) - np.diagonal(logits)
    noise = (x - y) - (x - y).mean(0)
    return {"terms": terms, "stable_share": float((terms < delta).mean()),
            "noise": float(np.linalg.norm(noise, axis=1).mean())}
