"""Chapter 11, span-only noise (paper Appendix, Table 7): corrupt with the noise along the gap removed.

Span-only noise is Corrupt's Gaussian noise with its component along the gap direction (the difference of
the modality means) projected out. If corruption helped only by covering the gap, span-only noise would
help like collapse alone; the paper finds it does (22.8 CIDEr against 25.2 for collapse and 87.6 for full
corruption). Also: how much of the noise lies along the gap (1/d of its energy), and C2-corrupt against its
noise scale.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from c3lib import geometry
from c3lib.checks import AT_LEAST_1, Range
from c3lib.config import ChapterConfig
from c3lib.decoders import CaptionSetup, run_grid, score, train_or_load
from c3lib.paths import runs_dir

PAPER_TABLE7 = {  # paper Table 7 (MS-COCO, CLIP + GPT-2), BLEU-1, BLEU-4, METEOR, ROUGE-L, CIDEr, SPICE
    "C1": (28.1, 2.4, 12.2, 25.4, 13.0, 6.8),
    "C2-collapse": (44.4, 6.1, 15.5, 33.6, 25.2, 9.2),
    "C2-corrupt": (69.0, 25.5, 24.3, 50.8, 87.6, 17.6),
    "C3": (71.0, 27.7, 25.0, 52.0, 93.3, 18.3),
    "span-only": (41.2, 6.2, 14.9, 33.6, 22.8, 8.3),
}


@dataclasses.dataclass(frozen=True)
class SpanOnlyConfig(ChapterConfig):
    tasks: tuple[str, ...] = ("flickr8k-clip", "world-clip", "world")  # the CLIP-recipe spaces and the world
    variants: tuple[str, ...] = ("C1", "C2-collapse", "span-only", "C2-corrupt", "C3")
    seeds: tuple[int, ...] = (0, 1, 2)  # decoder seeds; C1 ... C3 are chapter 06's decoders, loaded
    setup: CaptionSetup = dataclasses.field(default_factory=CaptionSetup)  # chapter 06's tasks and decoder
    sigmas: tuple[float, ...] = (0.03, 0.06, 0.25)  # extra noise levels for C2-corrupt (first seed)
    n_select_images: int = 474  # held-out images sigma is chosen on (Flickr8k: the val photos after the test 500)
    n_noise_pairs: int = 500  # training pairs the alignment noise per dimension is measured on
    meteor: bool = True
    n_examples: int = 6

    RANGES = {"n_examples": AT_LEAST_1, "n_select_images": AT_LEAST_1, "n_noise_pairs": Range(4, 10**7)}

    PRESETS = {
        "smoke": {"tasks": ("world",), "seeds": (0,), "meteor": False, "n_select_images": 16, "n_noise_pairs": 32},
        "default": {},
        "paper": {"tasks": ("coco-clip", "flickr8k-clip", "world-clip", "world", "flickr8k-coco")},
    }


def noise_along_gap(cfg: SpanOnlyConfig, out: dict, n: int = 4000) -> list[dict]:
    """Per space: the gap's norm, and the share of the noise energy along the gap direction, full and span-only."""
    from c3lib.transform import C3Transform

    rows = []
    for name in cfg.tasks:
        cap, _ = train_or_load(out["task_objects"][name], "span-only", cfg.seeds[0], cfg.setup.decoder_for(name),
                               cfg.setup.noise_std)
        t = cap.transform
        g = t.gap_direction()
        full = C3Transform.from_state({**t.state(), "params": {**t.state()["params"], "span_only": False}})
        eps_full, eps_span = full.noise(n), t.noise(n)
        rows.append({"space": name, "dim": len(g), "gap norm ||mu_text - mu_image||":
                     float(np.linalg.norm(t.mean_source_ - t.mean_target_)),
                     "noise energy along g (full)": float(((eps_full @ g) ** 2).sum() / (eps_full ** 2).sum()),
                     "noise energy along g (span-only)": float(((eps_span @ g) ** 2).sum() / (eps_span ** 2).sum()),
                     "noise std along g (full)": float((eps_full @ g).std())})
    return rows


def alignment_noise(img: np.ndarray, txt: np.ndarray, n_pairs: int, seed: int) -> float:
    """Alignment noise per dimension (chapter 04's Table 1 statistic: the std of each pair's difference around
    its group's gap, averaged over dimensions) of up to ``n_pairs`` seeded pairs ``img[i] <-> txt[i]``."""
    pick = np.sort(np.random.default_rng([seed, 17]).permutation(len(img))[:n_pairs])
    group = max(2, min(100, len(pick) // 2))
    return float(geometry.gap_statistics(img[pick], txt[pick], group, seed).noise_std.mean())


def clip_sigma_ratio(data_dir: str, n_pairs: int, seed: int) -> dict[str, float] | None:
    """CLIP's hand-set sigma over CLIP's own measured noise (``features_clip.npy``, 500 COCO pairs): the ratio
    the paper's sigma implies; ``None`` without the data folder."""
    from c3lib.data.loaders import load_pair_features, resolve_data_dir

    root = resolve_data_dir(data_dir, required=False)
    if root is None:
        return None
    noise = alignment_noise(*load_pair_features(root, "clip"), n_pairs, seed)
    return {"clip_sigma": CLIP_SIGMA, "clip_noise_per_dim": noise, "ratio": CLIP_SIGMA / noise}


CLIP_SIGMA = CaptionSetup.noise_std  # the official code's noise (variance 0.016), set by hand for CLIP


def _corrupt(cfg: SpanOnlyConfig, task, sigma: float):
    """C2-corrupt (first seed) at ``sigma``: chapter 06's decoder at its sigma, else one trained here."""
    root = None if math.isclose(sigma, cfg.setup.noise_std) else runs_dir("11_span_only_noise") / f"sigma{sigma:.4g}"
    return train_or_load(task, "C2-corrupt", cfg.seeds[0], cfg.setup.decoder_for(task.name), sigma, root)[0]


def noise_sweep(cfg: SpanOnlyConfig, out: dict, ratio: dict | None) -> tuple[list[dict], list[dict]]:
    """C2-corrupt (first seed) at chapter 06's sigma and at each of ``cfg.sigmas``, scored on held-out
    selection images (CIDEr, chooses sigma*) and on the test images; then the sigma predicted from the space's
    measured noise alone (noise x ``ratio["ratio"]``, :func:`clip_sigma_ratio`; skipped when ``None``).
    -> (sweep rows, one row per space)."""
    from c3lib.metrics import caption_metrics
    from c3lib.tasks import selection_targets

    rows, per_space = [], []
    for name in cfg.tasks:
        task = out["task_objects"][name]
        sel_emb, sel_refs = selection_targets(name, cfg.context.with_preset(cfg.setup.space_preset),
                                              cfg.n_select_images)
        base = next(r for r in out["runs"] if r["task"] == name and r["variant"] == "C2-corrupt"
                    and r["seed"] == cfg.seeds[0])

        def point(sigma: float, role: str) -> dict:
            cap = _corrupt(cfg, task, sigma)
            m = base if math.isclose(sigma, cfg.setup.noise_std) else score(cap, task, meteor=False)[0]
            sel = caption_metrics(cap.caption_raw(sel_emb, modality="target"), sel_refs, meteor=False)
            return {"space": name, "sigma": float(sigma), "role": role, "CIDEr": m["CIDEr"], "BLEU-4": m["BLEU-4"],
                    "CIDEr (selection)": sel["CIDEr"]}
        sweep = [point(s, "CLIP's sigma" if math.isclose(s, cfg.setup.noise_std) else "sweep")
                 for s in sorted({cfg.setup.noise_std, *cfg.sigmas})]
        star = best_sigma(sweep)[name]
        best = next(r for r in sweep if r["sigma"] == star)
        noise = alignment_noise(task.unpaired_emb, task.pair_source_emb, cfg.n_noise_pairs, cfg.seed)
        row = {"space": name, "noise_per_dim": noise, "sigma_star": best["sigma"], "sigma_star_over_noise":
               best["sigma"] / noise, "CIDEr at sigma*": best["CIDEr"], "n_select_images": len(sel_refs),
               "CIDEr at CLIP's sigma": next(r["CIDEr"] for r in sweep if r["role"] == "CLIP's sigma")}
        if ratio is not None:
            pred = point(ratio["ratio"] * noise, "predicted from noise")
            sweep.append(pred)
            row.update({"sigma_predicted": pred["sigma"], "CIDEr at predicted sigma": pred["CIDEr"]})
        rows += sweep
        per_space.append(row)
    return sorted(rows, key=lambda r: (r["space"], r["sigma"])), per_space


def run(cfg: SpanOnlyConfig, progress: bool = True) -> dict[str, Any]:
    """The decoders of every (space, variant, seed), scored; the noise along the gap; the sigma sweep."""
    out = run_grid(cfg.setup, cfg.context, cfg.tasks, cfg.variants, cfg.seeds,
                   cfg.meteor, cfg.n_examples, progress)
    out["noise_along_gap"] = noise_along_gap(cfg, out)
    out["clip_sigma_ratio"] = clip_sigma_ratio(cfg.data_dir, cfg.n_noise_pairs, cfg.seed)
    out["noise_sweep"], out["sigma_from_noise"] = noise_sweep(cfg, out, out["clip_sigma_ratio"])
    return out


def claims(summary: list[dict], metric: str = "CIDEr") -> dict[str, dict[str, bool]]:
    """Per space: span-only below full corrupt; span-only within two stds (or one point) of collapse alone."""
    out = {}
    for task in dict.fromkeys(r["task"] for r in summary):
        m = {r["variant"]: r[metric] for r in summary if r["task"] == task}
        s = {r["variant"]: r.get(f"{metric} std", 0.0) for r in summary if r["task"] == task}
        near = abs(m["span-only"] - m["C2-collapse"]) <= max(2 * (s["span-only"] + s["C2-collapse"]), 1.0)
        out[task] = {"span-only below corrupt": m["span-only"] < m["C2-corrupt"], "span-only near collapse": near}
    return out


def best_sigma(sweep: list[dict], metric: str = "CIDEr (selection)") -> dict[str, float]:
    """Per space, the swept sigma with the highest ``metric`` (first on ties); by default the held-out
    selection images' CIDEr, never the test images'. The sigma predicted from noise is not a candidate."""
    best: dict[str, tuple[float, float]] = {}
    for r in sweep:
        if r.get("role") == "predicted from noise":
            continue
        if r["space"] not in best or r[metric] > best[r["space"]][1]:
            best[r["space"]] = (r["sigma"], r[metric])
    return {k: float(v[0]) for k, v in best.items()}
