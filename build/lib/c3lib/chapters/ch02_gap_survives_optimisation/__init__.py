"""Chapter 02, the gap survives optimisation (paper section 3.1, Fig 4, Lemma 1).

Optimises the synthetic collapsed start of :mod:`c3lib.simulation` with the symmetric InfoNCE loss and
measures what moves and what does not (:mod:`.measures`): the gap overall, in the effective and the
ineffective dims, the gradient reaching the ineffective block, the variance left there, and the
renormalisation on the sphere that shrinks the gap. A second run uses the paper's own Fig 4 layout (both
modalities vary in the same first 255 dims). The claims and their bounds: :mod:`.verdicts`; the page's
numbers, sentences and the paper beside ours: :mod:`.page`; the config: :mod:`.setting`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c3lib import simulation as sim
from c3lib.cache import key_of
from c3lib.chapter import ChapterResult
from c3lib.chapters.ch02_gap_survives_optimisation import measures, page, verdicts
from c3lib.chapters.ch02_gap_survives_optimisation.setting import NAME, PAPER, GapSurvivesConfig
from c3lib.paths import runs_dir

__all__ = ["NAME", "PAPER", "GapSurvivesConfig", "PANEL_SHIFTS", "optimise", "optimise_shared", "panel_values",
           "run", "run_dir", "shifted_loss", "sliders", "start"]

PANEL_SHIFTS = np.linspace(-0.5, 1.5, 41)  # the live panel's grid: 0 as optimised, 1 the two means coincide


def start(cfg: GapSurvivesConfig) -> sim.SyntheticSpace:
    """Chapter 02's collapsed start in the config's dtype."""
    import torch

    if cfg.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {cfg.dtype!r}")
    return sim.synthetic_pairs(cfg.n, cfg.d, cfg.img_dims, cfg.txt_dims, cfg.seed, dtype=getattr(torch, cfg.dtype))


def run_dir(cfg: GapSurvivesConfig) -> Path:
    """``runs/02_simulation/<hash of the settings that fix the trajectory>/``: a changed setting never resumes."""
    params = {k: v for k, v in cfg.to_dict().items() if k not in ("preset", "data_dir", "checkpoint_every")}
    return runs_dir("02_simulation") / key_of(params)


def optimise(cfg: GapSurvivesConfig, progress: bool = True):
    """Chapter 02's optimisation with its checkpoints: ``(space, x, y, trace)``."""
    space = start(cfg)
    folder = run_dir(cfg) if cfg.checkpoint_every else None
    x, y, trace = sim.optimise(space, cfg.num_steps, cfg.lr, cfg.tau, cfg.log_every, progress=progress,
                               checkpoint_dir=folder, checkpoint_every=cfg.checkpoint_every)
    return space, x, y, trace


def optimise_shared(cfg: GapSurvivesConfig, progress: bool = True):
    """Fig 4 in the paper's layout: images and texts vary in the same first ``shared_dims`` dims (no
    per-modality constants inside them), constants in the rest; ``shared_steps`` steps with the same n, lr,
    tau and seed. Returns ``(space, x, y, trace)``."""
    import torch

    space = sim.synthetic_pairs(cfg.n, cfg.d, cfg.shared_dims, cfg.shared_dims, cfg.seed,
                                dtype=getattr(torch, cfg.dtype), shared=True)
    x, y, trace = sim.optimise(space, cfg.shared_steps, cfg.lr, cfg.tau, max(cfg.shared_steps // 10, 1),
                               progress=progress)
    return space, x, y, trace


def shifted_loss(x, y, tau: float, shifts) -> np.ndarray:
    """The live panel's fast path: the symmetric InfoNCE loss at ``tau`` after moving the two modalities
    towards each other along their gap, by ``shift`` times it (0: as optimised; 1: means coincide); rows are
    renormalised. ``x``, ``y``: [n, d] optimised embeddings. One loss per shift."""
    import torch

    xn = x / x.norm(dim=1, keepdim=True)
    yn = y / y.norm(dim=1, keepdim=True)
    gap = xn.mean(0) - yn.mean(0)  # [d]
    out = []
    for s in shifts:
        a, b = xn - 0.5 * s * gap, yn + 0.5 * s * gap
        logits = (a / a.norm(dim=1, keepdim=True)) @ (b / b.norm(dim=1, keepdim=True)).T / tau  # [n, n]
        labels = torch.arange(len(logits))
        loss = 0.5 * (torch.nn.functional.cross_entropy(logits, labels)
                      + torch.nn.functional.cross_entropy(logits.T, labels))
        out.append(float(loss))
    return np.array(out)


def sliders(cfg: GapSurvivesConfig) -> dict[str, tuple[float, float, float, float]]:
    """The live panel's sliders ``name: (min, max, step, default)``; the defaults are the chapter's own tau
    and the optimised embeddings (shift 0)."""
    return {"tau": (0.01, 0.2, 0.005, cfg.tau), "shift": (float(PANEL_SHIFTS[0]), float(PANEL_SHIFTS[-1]), 0.05, 0.0)}


def panel_values(x, y, tau: float) -> dict[str, float]:
    """The panel's default view in numbers: the loss as optimised and with the means made to coincide, and
    the shift of the lowest loss on :data:`PANEL_SHIFTS`."""
    losses = shifted_loss(x, y, tau, PANEL_SHIFTS)
    ends = shifted_loss(x, y, tau, [0.0, 1.0])
    return {"panel_loss_0": float(ends[0]), "panel_loss_1": float(ends[1]),
            "panel_best_shift": float(PANEL_SHIFTS[int(np.argmin(losses))])}


def run(cfg: GapSurvivesConfig, progress: bool = True) -> ChapterResult:
    """The chapter: the optimisation in its own layout (resumed from its checkpoint when one exists), its
    measures, Lemma 1 against autograd, the paper's layout, the panel's default numbers and the claims.

    ``artifacts``: ``space``, ``x``, ``y``, ``trace`` (the own layout's start, optimised rows and trace),
    ``measure`` (:func:`.measures.measure`, with the per-dim variances), ``shared`` (the paper's layout)."""
    space, x, y, trace = optimise(cfg, progress)
    m = measures.measure(cfg, space, x, y, trace)
    check = sim.lemma1_check(space, cfg.tau, n=min(cfg.n, 64))
    s_space, sx, sy, s_trace = optimise_shared(cfg, progress)
    shared = measures.shared_summary(cfg, s_space, sx, sy, s_trace)
    shares = {"own_blocks": measures.variance_shares(space, x, y), "shared": measures.variance_shares(s_space, sx, sy)}
    found = verdicts.claims(cfg, trace, m, shared, shares)
    prose = page.prose_values(cfg, trace, m, check, shared, shares, panel_values(x, y, cfg.tau))
    return ChapterResult(NAME, measures.metrics(trace, m, check, shared, shares), found,
                         page.comparison(cfg, trace, m, check, shared, shares), PAPER, prose,
                         {"summary": page.summary(prose, found)},
                         {"space": space, "x": x, "y": y, "trace": trace, "measure": m, "shared": shared})
