"""Chapter 11's noise experiments: how much of corrupt's noise lies along the gap, and C2-corrupt against
its noise scale sigma (chosen on held-out selection images, never the test images, and predicted from each
space's measured alignment noise). ``cfg`` is the chapter's :class:`SpanOnlyConfig`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from c3lib import geometry
from c3lib.data.loaders import load_pair_features, resolve_data_dir
from c3lib.decoders import CaptionSetup, score, train_or_load
from c3lib.metrics import caption_metrics
from c3lib.paths import runs_dir
from c3lib.tasks import selection_targets
from c3lib.transform import C3Transform


def noise_along_gap(cfg: Any, out: dict, n: int = 4000) -> list[dict]:
    """Per space: the gap's norm, and the share of the noise energy along the gap direction, full and span-only."""
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
    root = resolve_data_dir(data_dir, required=False)
    if root is None:
        return None
    noise = alignment_noise(*load_pair_features(root, "clip"), n_pairs, seed)
    return {"clip_sigma": CLIP_SIGMA, "clip_noise_per_dim": noise, "ratio": CLIP_SIGMA / noise}


CLIP_SIGMA = CaptionSetup.noise_std  # the official code's noise (variance 0.016), set by hand for CLIP


def _corrupt(cfg: Any, task, sigma: float):
    """C2-corrupt (first seed) at ``sigma``: chapter 06's decoder at its sigma, else one trained here."""
    root = None if math.isclose(sigma, cfg.setup.noise_std) else runs_dir("11_span_only_noise") / f"sigma{sigma:.4g}"
    return train_or_load(task, "C2-corrupt", cfg.seeds[0], cfg.setup.decoder_for(task.name), sigma, root)[0]


def noise_sweep(cfg: Any, out: dict, ratio: dict | None) -> tuple[list[dict], list[dict]]:
    """C2-corrupt (first seed) at chapter 06's sigma and at each of ``cfg.sigmas``, scored on held-out
    selection images (CIDEr, chooses sigma*) and on the test images; then the sigma predicted from the space's
    measured noise alone (noise x ``ratio["ratio"]``, :func:`clip_sigma_ratio`; skipped when ``None``).
    -> (sweep rows, one row per space)."""
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
