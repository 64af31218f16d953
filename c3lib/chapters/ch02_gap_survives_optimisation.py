"""Chapter 02, the gap survives optimisation (paper section 3.1, Fig 4, Lemma 1).

Optimises the synthetic collapsed start of :mod:`c3lib.simulation` with the symmetric InfoNCE loss and
measures what moves and what does not: the gap overall, in the effective and the ineffective dims, the
gradient reaching the ineffective block, and the renormalisation on the sphere that shrinks the gap.
A second run uses the paper's own Fig 4 layout (both modalities vary in the same first 255 dims).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c3lib.checks import AT_LEAST_1, POSITIVE
from c3lib import sim_measures as sm
from c3lib import simulation as sim
from c3lib.cache import key_of
from c3lib.config import ChapterConfig
from c3lib.paths import runs_dir

PAPER = {"gap_init_overall": 1.21, "gap_init_ineffective": 0.99, "gap_after": 0.82, "num_steps": 200_000, "n": 1000,
         "ineffective_variance_after": 0.0}


@dataclass(frozen=True)
class GapSurvivesConfig(ChapterConfig):
    """Chapter 02 (Fig 4): the gap survives contrastive optimisation."""

    n: int = 200  # pairs (paper: 1000)
    d: int = 512  # embedding dimension
    img_dims: int = 25  # dims where images vary (random-init CLIP's effective image dim)
    txt_dims: int = 230  # the next dims, where texts vary
    num_steps: int = 20_000  # SGD steps (paper: 200k)
    lr: float = 0.1  # plain SGD learning rate
    tau: float = 0.07  # fixed temperature (CLIP's initial value)
    log_every: int = 500  # record the trace every k steps
    dtype: str = "float64"  # float64 keeps rounding in the ineffective block below 1e-6; float32 is ~2x faster
    checkpoint_every: int = 5000  # save the state under runs/02_simulation/<config hash>/ every k steps; 0: never
    shared_dims: int = 255  # the paper's own layout: both modalities vary in the first 255 dims (d_e = 255)
    shared_steps: int = 10_000  # SGD steps of that second run

    RANGES = {**dict.fromkeys(("n", "d", "img_dims", "txt_dims", "num_steps", "log_every", "shared_dims", "shared_steps"),
                             AT_LEAST_1), "lr": POSITIVE, "tau": POSITIVE}

    PRESETS = {
        "smoke": {"n": 64, "num_steps": 400, "log_every": 50, "checkpoint_every": 0, "shared_steps": 200},
        "default": {},
        "paper": {"n": 1000, "num_steps": 200_000, "log_every": 2000, "dtype": "float32", "checkpoint_every": 10_000,
                  "shared_steps": 200_000},
    }


def start(cfg: GapSurvivesConfig) -> sim.SyntheticSpace:
    """Chapter 02's collapsed start in the config's dtype."""
    import torch

    if cfg.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {cfg.dtype!r}")
    return sim.synthetic_pairs(cfg.n, cfg.d, cfg.img_dims, cfg.txt_dims, cfg.seed, dtype=getattr(torch, cfg.dtype))


def shared_layout(cfg: GapSurvivesConfig, progress: bool = True) -> dict:
    """Fig 4 in the paper's layout: images and texts vary in the same first ``shared_dims`` dims (no
    per-modality constants inside them), constants in the rest. Gap overall, in the effective and in the
    ineffective dims, before and after ``shared_steps`` steps (same n, lr, tau, seed)."""
    import torch

    space = sim.synthetic_pairs(cfg.n, cfg.d, cfg.shared_dims, cfg.shared_dims, cfg.seed,
                            dtype=getattr(torch, cfg.dtype), shared=True)

    def gaps(x, y) -> dict:
        g = (x / x.norm(dim=1, keepdim=True)).mean(0) - (y / y.norm(dim=1, keepdim=True)).mean(0)
        return {"gap": float(g.norm()), "gap_effective": float(g[space.effective].norm()),
                "gap_ineffective": float(g[space.ineffective].norm())}

    before = gaps(space.img_emb, space.txt_emb)
    x, y, trace = sim.optimise(space, cfg.shared_steps, cfg.lr, cfg.tau, max(cfg.shared_steps // 10, 1), progress=progress)
    return {"before": before, "after": gaps(x, y), "steps": cfg.shared_steps, "dims": cfg.shared_dims,
            "final_loss": float(trace.loss[-1])}


def run_dir(cfg: GapSurvivesConfig) -> Path:
    """``runs/02_simulation/<hash of the settings that fix the trajectory>/``: a changed setting never resumes."""
    params = {k: v for k, v in cfg.to_dict().items() if k not in ("preset", "data_dir", "checkpoint_every")}
    return runs_dir("02_simulation") / key_of(params)


def run(cfg: GapSurvivesConfig, progress: bool = True):
    """Chapter 02's optimisation with its checkpoints: ``(space, x, y, trace)``."""
    space = start(cfg)
    folder = run_dir(cfg) if cfg.checkpoint_every else None
    x, y, trace = sim.optimise(space, cfg.num_steps, cfg.lr, cfg.tau, cfg.log_every, progress=progress,
                           checkpoint_dir=folder, checkpoint_every=cfg.checkpoint_every)
    return space, x, y, trace




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


def prose_values(cfg: GapSurvivesConfig, trace: sim.Trace, m: dict, check: dict, shared: dict) -> dict:
    """Every number the chapter's prose states, by glue key (the notebook glues them; its Markdown cites them)."""
    before, after, sphere = m["before"], m["after"], m["sphere"]
    dec, sa, sb = sphere["decomposition"], shared["after"], shared["before"]
    return {
        "n": cfg.n, "d": cfg.d, "txt_dims": cfg.txt_dims, "dtype": cfg.dtype, "steps": trace.step[-1],
        "p_steps_k": PAPER["num_steps"] // 1000, "p_n": PAPER["n"], "p_gap_init": PAPER["gap_init_overall"],
        "p_gap_init_ineff": PAPER["gap_init_ineffective"], "p_gap_after": PAPER["gap_after"],
        "loss_first": trace.loss[0], "loss_last": trace.loss[-1],
        "gap_before": before["gap"], "gap_after": after["gap"],
        "ineff_before": before["gap_ineffective"], "ineff_after": after["gap_ineffective"],
        "eff_before": before["gap_effective"], "eff_after": after["gap_effective"],
        "span_gap_first": trace.gap_in_span[0], "span_gap_last": trace.gap_in_span[-1],
        "span_dim_first": trace.span_dim[0], "span_dim_last": trace.span_dim[-1],
        "span_pct_first": 100 * trace.gap_in_span[0] / trace.gap[0],
        "span_pct_last": 100 * trace.gap_in_span[-1] / trace.gap[-1],
        "var_ineff_before": m["ineffective_variance_max_before"], "var_ineff_after": m["ineffective_variance_max_after"],
        "predicted_after": sphere["predicted_after"], "pred_abs_err": sphere["max_abs_error"],
        "pred_rel_err_pct": 100 * sphere["max_rel_error"], "raw_change": sphere["raw_ineffective_max_change"],
        "row_norm_max": sphere["row_norm_max"], "grad_gap_max": sphere["grad_gap_ineffective_max_after_init"],
        "grad_rows_init": sphere["grad_ineffective_normalised_init"], "gap_cos_min": sphere["gap_cos_init_min"],
        "ratio_first": sphere["ratio_eff_ineff_first"], "ratio_last": sphere["ratio_eff_ineff_last"],
        "tilt_img": dec["tilt_rms_img"], "tilt_txt": dec["tilt_rms_txt"], "own_direction": dec["own_direction"],
        "measured": dec["measured"], "mean_tilt": dec["mean_tilt"],
        "own_err": abs(dec["own_direction"] - dec["measured"]),
        "grad_outside_max": max(trace.grad_ineffective_outside), "resid_before": m["resid_before"],
        "resid_after": m["resid_after"], "resid_change": abs(m["resid_after"] - m["resid_before"]),
        "grad_ineff_first": trace.grad_ineffective[0], "grad_ineff_last": trace.grad_ineffective[-1],
        "grad_norm_first": trace.grad_ineffective_normalised[0], "grad_norm_last": trace.grad_ineffective_normalised[-1],
        "autograd_err": check["closed_vs_autograd_max_abs"], "grad_entry_max": check["grad_max_abs"],
        "lemma1_err": check["lemma1_vs_exact_max_abs"],
        "shared_dims": shared["dims"], "shared_steps": shared["steps"],
        "shared_eff_before": sb["gap_effective"], "shared_eff_after": sa["gap_effective"],
        "shared_ineff_before": sb["gap_ineffective"], "shared_ineff_after": sa["gap_ineffective"],
        "shared_ineff_share_pct": 100 * sa["gap_ineffective"] ** 2 / sa["gap"] ** 2,
    }


def comparison(cfg: GapSurvivesConfig, trace: sim.Trace, m: dict, check: dict, shared: dict) -> list[dict]:
    """The paper's numbers beside ours, one row per quantity."""
    from c3lib.results import row

    before, after, sphere = m["before"], m["after"], m["sphere"]
    dec = sphere["decomposition"]
    steps_note = f"n = {cfg.n}, {trace.step[-1]:,} steps (paper: n = 1,000, 200k steps)"
    share_eff = 100 * shared["after"]["gap_effective"] ** 2 / shared["after"]["gap"] ** 2
    return [
        row("gap at init, overall", PAPER["gap_init_overall"], round(before["gap"], 3), f"n = {cfg.n}"),
        row("gap at init, ineffective dims", PAPER["gap_init_ineffective"], round(before["gap_ineffective"], 3)),
        row("gap after optimisation, ineffective dims", PAPER["gap_after"], round(after["gap_ineffective"], 3),
            steps_note),
        row("ineffective gap after, predicted by the sphere from effective coords alone", None,
            round(sphere["predicted_after"], 6), f"measured {after['gap_ineffective']:.4f}; largest error over the run "
            f"{sphere['max_abs_error']:.1e}"),
        row("ineffective gap after, parts along each row's own constant", None, round(dec["own_direction"], 6),
            f"measured {dec['measured']:.6f}; the rest is the mean tilt, {dec['mean_tilt']:.1e} (one row's tilt: rms "
            f"{dec['tilt_rms_img']:.1e} / {dec['tilt_rms_txt']:.1e})"),
        row("raw ineffective coordinates, max abs change", 0.0, float(f"{sphere['raw_ineffective_max_change']:.2e}"),
            "not constant: the normalisation's Jacobian shortens each row's own constant"),
        row("largest raw row norm (start: 1)", None, round(sphere["row_norm_max"], 5), "norm growth explains nothing"),
        row("gap-moving gradient in ineffective dims (mean over rows), max after init", 0.0,
            float(f"{sphere['grad_gap_ineffective_max_after_init']:.2e}"), ""),
        row("gap after optimisation, overall", None, round(after["gap"], 3)),
        row("gap after optimisation, effective dims", None, round(after["gap_effective"], 3),
            f"not closed: shrinks with the ineffective gap (ratio {sphere['ratio_eff_ineff_first']:.3f} → "
            f"{sphere['ratio_eff_ineff_last']:.3f})"),
        row("gap inside the rows' joint 99 % span, after", None, round(trace.gap_in_span[-1], 4),
            f"at init {trace.gap_in_span[0]:.3f} ({trace.span_dim[0]} dims); after: {trace.span_dim[-1]} dims, "
            f"{100 * trace.gap_in_span[-1] / trace.gap[-1]:.0f} % of the gap"),
        row("paper's layout (both vary in the first 255 dims): gap in effective dims, after", None,
            round(shared["after"]["gap_effective"], 4), f"at init {shared['before']['gap_effective']:.3f}; "
            f"{shared['steps']:,} steps, n = {cfg.n}; {share_eff:.1f} % of the squared gap"),
        row("paper's layout: gap in ineffective dims, init → after",
            f"{PAPER['gap_init_ineffective']} → {PAPER['gap_after']}",
            f"{shared['before']['gap_ineffective']:.3f} → {shared['after']['gap_ineffective']:.3f}",
            "renormalisation only, as above"),
        row("cos(gap, gap at init), min over the run", None, round(sphere["gap_cos_init_min"], 6)),
        row("gradient in ineffective dims outside span{c_img, c_txt}, max", 0.0,
            float(f"{max(trace.grad_ineffective_outside):.2e}"), f"{cfg.dtype} rounding"),
        row("closed-form vs autograd gradient, max abs diff", None, float(f"{check['closed_vs_autograd_max_abs']:.2e}"),
            "float64"),
    ]


def metrics(trace: sim.Trace, m: dict, check: dict, shared: dict) -> dict:
    """What the results JSON keeps."""
    return {"before": m["before"], "after": m["after"], "steps_run": trace.step[-1], "trace": trace.as_dict(),
            "lemma1_check": check, "grad_ineffective_outside_max": max(trace.grad_ineffective_outside),
            "ineffective_residual_before": m["resid_before"], "ineffective_residual_after": m["resid_after"],
            "ineffective_variance_max_before": m["ineffective_variance_max_before"],
            "ineffective_variance_max_after": m["ineffective_variance_max_after"],
            "sphere": m["sphere"], "shared_layout": shared}


NO_GRADIENT = "no gradient reaches the ineffective dims (outside the two constants, ≤ 1e-6)"
RAW_FIXED = "the raw ineffective coordinates stay unchanged (≤ 1e-6)"
GAP_OUTSIDE = "the gap survives outside the rows' span (the part inside is under half of it)"
ALIGNED = "the effective dims align (their gap under 10 % of the whole)"
GAP_INEFFECTIVE = "the surviving gap lives in the ineffective dims (over 90 % of its square)"
SPACE_BLOCKS = "own blocks: images vary in 25 dims, texts in the next 230"
SPACE_SHARED = "the paper's layout: both vary in the first 255 dims"


def claims(trace: sim.Trace, m: dict, shared: dict) -> dict[str, dict[str, bool]]:
    """``{space: {claim: held}}`` for the two layouts the chapter optimises."""
    s = shared["after"]
    return {SPACE_BLOCKS: {NO_GRADIENT: bool(max(trace.grad_ineffective_outside) <= 1e-6),
                           RAW_FIXED: bool(m["sphere"]["raw_ineffective_max_change"] <= 1e-6),
                           GAP_OUTSIDE: bool(trace.gap_in_span[-1] < 0.5 * trace.gap[-1])},
            SPACE_SHARED: {ALIGNED: bool(s["gap_effective"] < 0.1 * s["gap"]),
                           GAP_INEFFECTIVE: bool(s["gap_ineffective"] ** 2 > 0.9 * s["gap"] ** 2)}}


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
