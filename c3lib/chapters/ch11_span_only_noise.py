"""Chapter 11, span-only noise (paper Appendix, Table 7): corrupt with the noise along the gap removed.

Span-only noise is Corrupt's Gaussian noise with its component along the gap direction (the difference of
the modality means) projected out. If corruption helped only by covering the gap, span-only noise would
help like collapse alone; the paper finds it does (22.8 CIDEr against 25.2 for collapse and 87.6 for full
corruption). Also: how much of the noise lies along the gap (1/d of its energy), and C2-corrupt against its
noise scale.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from c3lib.checks import AT_LEAST_1
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
    tasks: tuple[str, ...] = ("world", "flickr8k-coco")  # COCO text: the paper's corpus
    variants: tuple[str, ...] = ("C1", "C2-collapse", "span-only", "C2-corrupt", "C3")
    seeds: tuple[int, ...] = (0, 1, 2)  # decoder seeds; C1 ... C3 are chapter 06's decoders, loaded
    setup: CaptionSetup = dataclasses.field(default_factory=CaptionSetup)  # chapter 06's tasks and decoder
    sigmas: tuple[float, ...] = (0.03, 0.06, 0.25)  # extra noise levels for C2-corrupt (first seed)
    meteor: bool = True
    n_examples: int = 6

    RANGES = {"n_examples": AT_LEAST_1}

    PRESETS = {
        "smoke": {"tasks": ("world",), "seeds": (0,), "meteor": False},
        "default": {},
        "paper": {"tasks": ("coco-clip", "world", "flickr8k-coco")},
    }


def noise_along_gap(cfg: SpanOnlyConfig, out: dict, n: int = 4000) -> list[dict]:
    """Per space: the gap's norm, and the share of the noise energy along the gap direction, full and span-only."""
    from c3lib.transform import C3Transform

    rows = []
    for name in cfg.tasks:
        cap, _ = train_or_load(out["task_objects"][name], "span-only", cfg.seeds[0], cfg.setup.decoder,
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


def noise_sweep(cfg: SpanOnlyConfig, out: dict) -> list[dict]:
    """C2-corrupt (first seed) at chapter 06's sigma and at each of ``cfg.sigmas``: CIDEr and BLEU-4."""
    rows = []
    for name in cfg.tasks:
        task = out["task_objects"][name]
        base = next(r for r in out["runs"] if r["task"] == name and r["variant"] == "C2-corrupt"
                    and r["seed"] == cfg.seeds[0])
        rows.append({"space": name, "sigma": cfg.setup.noise_std, "CIDEr": base["CIDEr"], "BLEU-4": base["BLEU-4"]})
        for sigma in cfg.sigmas:
            root = runs_dir("11_span_only_noise") / f"sigma{sigma:g}"
            cap, _ = train_or_load(task, "C2-corrupt", cfg.seeds[0], cfg.setup.decoder, sigma, root)
            m, _ = score(cap, task, meteor=False)
            rows.append({"space": name, "sigma": sigma, "CIDEr": m["CIDEr"], "BLEU-4": m["BLEU-4"]})
    return sorted(rows, key=lambda r: (r["space"], r["sigma"]))


def run(cfg: SpanOnlyConfig, progress: bool = True) -> dict[str, Any]:
    """The decoders of every (space, variant, seed), scored; the noise along the gap; the sigma sweep."""
    out = run_grid(cfg.setup, cfg.preset, cfg.seed, cfg.data_dir, cfg.tasks, cfg.variants, cfg.seeds,
                   cfg.meteor, cfg.n_examples, progress)
    out["noise_along_gap"] = noise_along_gap(cfg, out)
    out["noise_sweep"] = noise_sweep(cfg, out)
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


def best_sigma(sweep: list[dict]) -> dict[str, float]:
    """Per space, the sweep's sigma with the highest CIDEr (first on ties)."""
    best: dict[str, tuple[float, float]] = {}
    for r in sweep:
        if r["space"] not in best or r["CIDEr"] > best[r["space"]][1]:
            best[r["space"]] = (r["sigma"], r["CIDEr"])
    return {k: float(v[0]) for k, v in best.items()}
