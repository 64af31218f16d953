"""Chapter 03, alignment noise and temperature (paper section 3.2, Fig 5, Lemma 2).

:func:`run` computes Lemma 2's stable region (:mod:`c3lib.stable_region`) over a grid of τ and δ, runs the
Fig 4 simulation of :mod:`c3lib.simulation` to loss < δ for each temperature of a sweep, measures the
alignment noise left at that point, and returns a :class:`~c3lib.chapter.ChapterResult`.

The claims and where their bounds come from:

* **Lemma 2, sufficiency**: "when r exceeds [the margin], L_i falls below δ": the largest ``L_i − δ`` with
  the positive just past the margin is below 0. A closed form on fixed negatives: exact.
* **Lemma 2, monotone**: "the required margin r is monotonically increasing with τ": the smallest rise of
  r between neighbouring τ of the grid is above 0. Exact.
* **the margin is tight** (ours, not the paper's): at the margin itself ``|L_i − δ|`` is float64 rounding,
  below 1e-9 (a rounding tolerance, not a paper number).
* **lower τ leaves more alignment noise** (Section 3.2: the stable region "increases as the temperature
  decreases"): the correlation of τ with the noise left over the sweep is below 0. One seeded run per τ
  from the same start: exact; a correlation over fewer than 3 temperatures is not enough data. And, with
  its noise, the paired difference over the n pairs of the noise left at the lowest τ minus at the highest
  is above 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from c3lib import paper, stable_region
from c3lib import simulation as sim
from c3lib.chapter import ChapterResult
from c3lib.checks import AT_LEAST_1, AT_LEAST_2, POSITIVE
from c3lib.config import ChapterConfig
from c3lib.results import row
from c3lib.verdict import Verdict, above, below, difference, exact, not_enough

PAPER = {"lemma2": "r >= tau * log(o(tau) / (exp(delta) - 1)), 1 < o(tau) < n, increasing in tau",
         "fig5": "stable region grows as tau falls (no numbers)", "clip_tau": paper.SIMULATION["tau"]}
TAU_GRID = np.linspace(0.005, 0.2, 40)  # Lemma 2's curve: temperatures
OTHER_DELTAS = (0.01, 0.5)  # Lemma 2's curve: the δ drawn besides the config's
ROUNDING = 1e-9  # |L_i − δ| at the margin that counts as float64 rounding
PANEL_SLIDERS = {"tau": (0.005, 0.2, 0.005, 0.02), "sigma": (0.0, 0.3, 0.01, 0.1)}  # live panel: min, max, step, default


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


def sweep_point(cfg: TemperatureConfig, tau: float, progress: bool = True) -> tuple[dict, np.ndarray]:
    """SGD from the collapsed start until the loss < delta at ``tau``: the record of the run and each pair's
    alignment noise ``||eps_i||`` (n,), ``eps = (x̂ − ŷ) − mean(x̂ − ŷ)``, when it ends."""
    import torch  # deferred: a heavy dependency the rest of the module does not need

    space = sim.synthetic_pairs(cfg.n, cfg.d, cfg.img_dims, cfg.txt_dims, cfg.seed)
    x, y, trace = sim.optimise(space, cfg.max_steps, cfg.lr, tau, log_every=max(cfg.max_steps // 50, 1),
                               stop_below=cfg.delta, progress=progress)
    xn, yn = x / x.norm(dim=1, keepdim=True), y / y.norm(dim=1, keepdim=True)
    sims = (xn @ yn.T).double()  # [n, n]
    pos = sims.diagonal()
    neg = sims - 2 * torch.eye(sims.shape[0], dtype=sims.dtype)  # hide the positives
    margin = (pos - neg.max(dim=1).values).numpy()
    eps = (xn - yn) - (xn - yn).mean(0)  # [n, d]
    record = {"tau": tau, "steps": trace.step[-1], "reached": trace.loss[-1] < cfg.delta,
              "loss": trace.loss[-1], "noise": trace.noise[-1], "pos_cos_mean": float(pos.mean()),
              "margin_mean": float(margin.mean()), "margin_min": float(margin.min()),
              "noise_std_per_dim": float(eps.std(0).mean())}
    return record, eps.norm(dim=1).double().numpy()


def tau_sweep(cfg: TemperatureConfig, progress: bool = True) -> list[dict]:
    """For each tau: SGD from the same collapsed start until the loss < delta; the noise left when it ends."""
    return [sweep_point(cfg, tau, progress)[0] for tau in cfg.taus]


def lemma2(cfg: TemperatureConfig) -> tuple[dict, float]:
    """The stable region over :data:`TAU_GRID` and three δ, and the largest ``L_i − δ`` with the positive just
    past the margin (Lemma 2's statement; the same point as :func:`c3lib.stable_region.stable_region` checks)."""
    neg = stable_region.random_negatives(cfg.num_negatives, cfg.d, cfg.seed)
    region = stable_region.stable_region(neg, TAU_GRID, (OTHER_DELTAS[0], cfg.delta, OTHER_DELTAS[1]))
    t_max = float(np.max(neg))
    past = max(stable_region.term_loss(t_max + 1.01 * r + 1e-9, neg, float(t)) - dl
               for dl, rs in region["margins"].items() for t, r in zip(TAU_GRID, rs) if r > 0)
    return region, float(past)


MARGIN_GROWS = "Lemma 2: the required margin grows with τ"
PAST_MARGIN = "Lemma 2: past the margin the term's loss is below δ"
BOUND_EXACT = "Lemma 2's margin is tight (L_i = δ at it)"
NOISE_GROWS = "lower τ leaves more alignment noise"
SPACE_TERM = "one InfoNCE term against random negatives"
SPACE_SIM = "synthetic collapsed start, SGD until loss < δ"
CLOSED_FORM = "closed form on fixed random negatives: no sampling noise"


def lemma2_claims(region: dict, past: float) -> list[Verdict]:
    """Lemma 2 on the grid: sufficiency, monotone in τ, and tightness, each exact."""
    rise = min(float(np.min(np.diff(rs))) for rs in region["margins"].values())
    return [exact(past, PAST_MARGIN, "largest L_i − δ with the positive just past the margin", below(0.0), SPACE_TERM,
                  "v_past", CLOSED_FORM),
            exact(rise, MARGIN_GROWS, "smallest rise of the margin r between neighbouring τ", above(0.0), SPACE_TERM,
                  "v_margin", CLOSED_FORM),
            exact(region["max_loss_error"], BOUND_EXACT, "largest |L_i − δ| with the positive at the margin",
                  below(ROUNDING), SPACE_TERM, "v_exact", CLOSED_FORM)]


def noise_claims(sweep: list[dict], noise_items: list[np.ndarray]) -> list[Verdict]:
    """Lower τ leaves more noise: the correlation over the sweep (at least 3 τ), and the paired difference
    over the pairs between the lowest and the highest τ (at least 2)."""
    taus = [r["tau"] for r in sweep]
    if len(taus) < 3:
        corr = not_enough(NOISE_GROWS, "corr(τ, mean ‖ε‖) over the sweep", f"{len(taus)} temperature(s): a "
                          "correlation needs at least 3", SPACE_SIM, "v_noise")
    else:
        rho = float(np.corrcoef(taus, [r["noise"] for r in sweep])[0, 1])
        corr = exact(rho, NOISE_GROWS, "corr(τ, mean ‖ε‖) over the sweep", below(0.0), SPACE_SIM, "v_noise",
                     "one seeded run per τ from the same start: deterministic")
    if len(taus) < 2:
        ends = not_enough(NOISE_GROWS, "‖ε‖ at the lowest τ − at the highest, per pair", f"{len(taus)} "
                          "temperature(s): nothing to compare", SPACE_SIM, "v_noise_ends")
    else:
        lo, hi = int(np.argmin(taus)), int(np.argmax(taus))
        ends = difference(noise_items[lo][None, :], noise_items[hi][None, :], NOISE_GROWS,
                          f"‖ε‖ at τ = {taus[lo]:g} − at τ = {taus[hi]:g}, per pair", above(0.0), SPACE_SIM,
                          "v_noise_ends")
    return [corr, ends]


def noise_panel(tau: float, sigma: float, n: int = 200, d: int = 64, delta: float = 0.05, seed: int = 0) -> dict:
    """The live panel's fast path (milliseconds): n unit pairs whose texts are their images plus Gaussian
    noise of std ``sigma`` per dim, renormalised. Returns the InfoNCE term losses at ``tau`` (image to text)
    and the share of terms already below ``delta``: the stable region that stops optimisation."""
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


def prose(cfg: TemperatureConfig, region: dict, sweep: list[dict], claims: list[Verdict]) -> tuple[dict, dict]:
    """The numbers (``{glue:text}``) and the sentences (``{glue:md}``) the page states, from this run."""
    by_key = {v.key: v for v in claims}
    view = {name: spec[3] for name, spec in PANEL_SLIDERS.items()}
    tau_hi = max(cfg.taus) if cfg.taus else view["tau"]
    values = {"grid_len": len(TAU_GRID), "n_deltas": len(region["margins"]), "loss_err": region["max_loss_error"],
              "overlap_first": region["overlap"][0], "overlap_last": region["overlap"][-1],
              "n_terms": cfg.num_negatives + 1, "num_negatives": cfg.num_negatives, "d": cfg.d,
              "reached": sum(bool(r["reached"]) for r in sweep), "runs": len(sweep), "delta": cfg.delta, "n": cfg.n,
              "panel_tau": view["tau"], "panel_sigma": view["sigma"], "panel_tau_hi": tau_hi,
              "share_lo_pct": 100 * noise_panel(view["tau"], view["sigma"], delta=cfg.delta)["stable_share"],
              "share_hi_pct": 100 * noise_panel(tau_hi, view["sigma"], delta=cfg.delta)["stable_share"]}
    md = {"md_region": "The required margin rises with τ at every step of the grid, so the stable region grows as "
                       "τ falls." if by_key["v_margin"].held else "The required margin does not rise with τ at every "
                       "step of the grid."}
    if len(sweep) == 1:
        r = sweep[0]
        md["md_sweep"] = md["md_summary"] = (
            f"One temperature only, nothing to compare: at τ = {r['tau']:g} optimisation ends after {r['steps']} "
            f"steps with mean ‖ε‖ = {r['noise']:.3f}.")
    elif sweep:
        lo, hi = min(sweep, key=lambda r: r["tau"]), max(sweep, key=lambda r: r["tau"])
        more = lo["noise"] > hi["noise"]
        corr = by_key["v_noise"]
        corr_text = f"correlation of τ with ‖ε‖ over the sweep: {corr.effect:.2f}" if corr.effect is not None else \
            "too few temperatures for a correlation"
        md["md_sweep"] = (
            f"{'Lower τ leaves more alignment noise' if more else 'Lower τ does not leave more alignment noise here'}: "
            f"at τ = {lo['tau']:g} optimisation ends after {lo['steps']} steps with mean ‖ε‖ = {lo['noise']:.3f}; at "
            f"τ = {hi['tau']:g} after {hi['steps']} steps with ‖ε‖ = {hi['noise']:.3f} ({corr_text}).")
        sooner = more and lo["steps"] <= hi["steps"]
        md["md_summary"] = (
            f"Stopping at loss < δ = {cfg.delta:g}, the noise left goes from {lo['noise']:.3f} (τ = {lo['tau']:g}) to "
            f"{hi['noise']:.3f} (τ = {hi['tau']:g})"
            + (": a lower temperature ends optimisation sooner, in a wider stable region." if sooner else "."))
    else:
        md["md_sweep"] = md["md_summary"] = "*No temperature was swept at this run.*"
    return values, md


def comparison(cfg: TemperatureConfig, region: dict, sweep: list[dict], claims: list[Verdict]) -> list[dict]:
    """The paper's statements beside ours (the paper gives no numbers for Fig 5 or the noise)."""
    rows = [row("required margin increases with τ", True, region["monotone_in_tau"],
                f"{len(TAU_GRID)} τ × {len(region['margins'])} δ"),
            row("|L_i − δ| at the required margin, max", None, float(f"{region['max_loss_error']:.2e}"),
                "bound exact with o' unrounded")]
    ends = [min(sweep, key=lambda r: r["tau"]), max(sweep, key=lambda r: r["tau"])] if sweep else []
    for r in {r["tau"]: r for r in ends}.values():
        rows.append(row(f"alignment noise ‖ε‖ at τ = {r['tau']:g}", None, round(float(r["noise"]), 4),
                        f"loss < {cfg.delta:g} after {int(r['steps'])} steps"))
    corr = next(v for v in claims if v.key == "v_noise")
    if corr.effect is not None:
        rows.append(row("corr(τ, ‖ε‖) over the sweep", "negative (no number)", round(corr.effect, 3),
                        f"{len(sweep)} temperatures"))
    return rows


def run(cfg: TemperatureConfig, progress: bool = True) -> ChapterResult:
    """Lemma 2 on a grid, the τ sweep, their claims, the paper beside ours and the page's prose."""
    region, past = lemma2(cfg)
    points = [sweep_point(cfg, tau, progress) for tau in cfg.taus]
    sweep, noise_items = [p[0] for p in points], [p[1] for p in points]
    claims = lemma2_claims(region, past) + noise_claims(sweep, noise_items)
    metrics = {"lemma2": region, "tau_sweep": sweep}
    if len(sweep) >= 3:
        metrics["noise_tau_correlation"] = next(v.effect for v in claims if v.key == "v_noise")
    values, md = prose(cfg, region, sweep, claims)
    return ChapterResult("03_alignment_noise_temperature", metrics, claims, comparison(cfg, region, sweep, claims),
                         PAPER, values, md, {"region": region, "sweep": sweep, "noise_items": noise_items})
