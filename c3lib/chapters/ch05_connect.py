"""Chapter 05, Connect (paper section 2.3): train the contrastive spaces every later chapter stands on.

The spaces themselves (towers, data, training, the saved runs) live in :mod:`c3lib.spaces`; this chapter
trains each of them for its preset, measures retrieval and the gap before and after training, puts the
paper's Table 1 of every space beside pretrained CLIP's (``features_clip.npy``, through the same
:func:`c3lib.geometry.gap_statistics` as chapter 04), sweeps the starting temperature of ``flickr8k-clip``
(the paper's Fig 5 / Lemma 2 in a real space), and times the world's generators.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from c3lib import geometry
from c3lib.config import ChapterConfig
from c3lib.contrastive import retrieval_recall
from c3lib.data import render as wr
from c3lib.data import world
from c3lib.data.loaders import load_pair_features
from c3lib.space_pool import run_space_jobs
from c3lib.spaces import CLIP_GAP_TARGET, CLIP_SPACES, SPACES, SpaceConfig

PAPER = {"pretrained_clip_gap": 0.82, "claim": "a modality gap exists at initialisation and is preserved by training",
         "table1": {"gap_length": 0.83, "gap_direction_cos": 0.99, "orthogonality_mean": 0.00,
                    "orthogonality_std": 0.06, "noise_direction_mean": 0.00},
         "clip_temperature": 0.01}
# issue 12's targets for the CLIP-recipe spaces: (key, comparison, bound)
TARGETS = (("gap_length", ">=", CLIP_GAP_TARGET), ("gap_direction_cos", ">=", 0.9),
           ("orthogonality_mean", "|<=|", 0.05), ("temperature", "<=", 0.02))
MODALITIES = {"image-text": ("image", "text"), "audio-image": ("audio", "image"), "video-image": ("video", "image"),
              "flickr8k-locked": ("image", "text"), "flickr8k-clip": ("image", "text"), "world-clip": ("image", "text")}


@dataclasses.dataclass(frozen=True)
class ConnectConfig(ChapterConfig):
    space: SpaceConfig = dataclasses.field(default_factory=SpaceConfig)  # every space's settings, per preset
    spaces: tuple[str, ...] = SPACES  # which spaces to train
    group_size: int = 100  # Table 1: pairs per group (the paper's 100)
    sweep_temperatures: tuple[float, ...] = (0.07, 0.03, 0.01)  # Fig 5: starting tau of flickr8k-clip's head
    sweep_world: bool = False  # also sweep world-clip's starting tau (a world tower training per tau)

    PRESETS = {"smoke": {"group_size": 16, "sweep_temperatures": (0.07, 0.01)}, "default": {}, "paper": {}}


def table1(x: np.ndarray, y: np.ndarray, group_size: int, seed: int) -> dict[str, float]:
    """Table 1's statistics of paired ``(n, d)`` embeddings (chapter 04's code), under issue 12's key names."""
    s = geometry.gap_statistics(x, y, min(group_size, len(x) // 2), seed).summary()
    return {"gap_length": s["gap_length_mean"], "gap_direction_cos": s["gap_direction_mean"],
            "orthogonality_mean": s["orthogonality_mean"], "orthogonality_std": s["orthogonality_std"],
            "noise_direction_mean": s["noise_direction_mean"], "noise_std_per_dim": s["noise_std_mean"],
            "centroid_gap": s["centroid_gap"], "n_pairs": s["n"], "group_size": s["group_size"]}


def space_row(rep: dict[str, Any], group_size: int, seed: int) -> dict[str, Any]:
    """The chapter's row for one trained space: Table 1 on held-out pairs, dims, temperature, R@1."""
    ma, mb = MODALITIES[rep["space"]]
    init, trained = rep["init"], rep["trained"]
    return {**table1(*rep["test_pairs"], group_size, seed),
            "effective_dim_init": {ma: init["effective_dim_a"], mb: init["effective_dim_b"]},
            "effective_dim_trained": {ma: trained["effective_dim_a"], mb: trained["effective_dim_b"]},
            "temperature": rep["temperature"], "recall_at_1": trained["recall"]["a2b_R@1"],
            "recall_chance": trained["recall"]["chance_R@1"], "direction": f"{ma} to {mb}",
            "epochs": len(rep["history"]["loss"]), "best_epoch": rep["history"].get("best_epoch", -1),
            "init_gap": init["gap"]}


def clip_row(root, group_size: int, seed: int) -> dict[str, Any]:
    """Pretrained CLIP ViT-B/16 on 500 COCO pairs (``features_clip.npy``); init dims from its random-init twin.
    CLIP's temperature is its released logit scale, 100 (tau 0.01): a known value, not measured here."""
    x, y = load_pair_features(root, "clip")
    x0, y0 = load_pair_features(root, "clip_random")
    norm = geometry.normalize
    return {**table1(x, y, group_size, seed),
            "effective_dim_init": {"image": geometry.effective_dimension(norm(x0)),
                                   "text": geometry.effective_dimension(norm(y0))},
            "effective_dim_trained": {"image": geometry.effective_dimension(norm(x)),
                                      "text": geometry.effective_dimension(norm(y))},
            "temperature": 0.01, "recall_at_1": retrieval_recall(x, y)["a2b_R@1"], "recall_chance": 1 / len(x),
            "direction": "image to text", "init_gap": float(np.linalg.norm(geometry.centroid_gap(x0, y0)))}


def targets_met(row: dict[str, Any]) -> dict[str, bool]:
    """Issue 12's targets for a CLIP-recipe space, each checked on the row's measured value."""
    out = {}
    for key, op, bound in TARGETS:
        v = row[key]
        out[f"{key} {op.strip('|')} {bound}"] = bool(v >= bound if op == ">=" else
                                                     abs(v) <= bound if op == "|<=|" else v <= bound)
    return out


def temperature_sweep(cfg: ConnectConfig, head: str, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Fig 5 in a real space: ``flickr8k-clip``'s chosen head trained from each starting temperature (the
    rest of the recipe unchanged), and ``world-clip`` too when ``sweep_world``; one pool job each
    (:func:`c3lib.space_pool.run_space_jobs`). The run at the recipe's own tau is the space itself, loaded."""
    jobs = [("flickr8k-clip", head, t0) for t0 in cfg.sweep_temperatures]
    if cfg.sweep_world:
        jobs += [("world-clip", "", t0) for t0 in cfg.sweep_temperatures]
    reps = run_space_jobs(cfg.space, jobs, progress=progress)
    return {f"{space} tau0={t0:g}": _sweep_point(rep, t0, cfg) for (space, _, t0), rep in zip(jobs, reps)}


def _sweep_point(rep: dict[str, Any], t0: float, cfg: ConnectConfig) -> dict[str, Any]:
    stats = table1(*rep["test_pairs"], cfg.group_size, cfg.seed)
    return {"init_temperature": t0, "temperature": rep["temperature"], "init_gap": rep["init"]["gap"],
            "gap": rep["trained"]["gap"], "gap_length": stats["gap_length"], "val_score": rep["val_score"],
            "recall_at_1": rep["trained"]["recall"]["a2b_R@1"], "epochs": len(rep["history"]["loss"])}


BORN = "a clear gap at initialisation (at least 0.5)"
KEPT = "training keeps at least half of it"
CLIP_LIKE = "Table 1 geometry of CLIP (issue 12's targets)"
FIG5 = "a lower starting temperature leaves a larger gap (Fig 5)"


def claims(table: dict[str, dict[str, Any]], sweep: dict[str, dict[str, Any]]) -> dict[str, dict[str, bool | None]]:
    """Per trained space: the gap is born at initialisation and kept by training (the paper's section 3
    claim, with the stated thresholds); for the CLIP-recipe spaces, whether every Table 1 target is met; for
    a swept space, whether its trained gap falls as the starting temperature rises (``None`` if not swept)."""
    out = {}
    for space, r in table.items():
        if space not in MODALITIES:
            continue  # pretrained CLIP's row: measured, not trained here
        c = {BORN: bool(r["init_gap"] >= 0.5), KEPT: bool(r["centroid_gap"] >= 0.5 * r["init_gap"])}
        if space in CLIP_SPACES:
            c[CLIP_LIKE] = all(targets_met(r).values())
            pts = sorted((p["init_temperature"], p["gap"]) for k, p in sweep.items() if k.startswith(f"{space} "))
            c[FIG5] = (all(a[1] > b[1] for a, b in zip(pts, pts[1:])) if len(pts) > 1 else None)
        out[space] = c
    return out


def world_throughput(cfg: SpaceConfig, n: int = 500) -> dict[str, float]:
    """Items per second of world generation for each rendering (measured, single process)."""
    out = {}
    t0 = time.perf_counter()
    scenes = world.sample_scenes(n, "train", cfg.seed)
    world.captions(scenes, cfg.seed)  # timed with the scenes
    out["scenes+captions"] = n / (time.perf_counter() - t0)
    for name, fn in (("image", lambda: wr.render_images(scenes, cfg.image_size)),
                     ("audio", lambda: wr.log_spectrogram(wr.render_audio(scenes))),
                     ("video", lambda: wr.render_video(scenes, cfg.video_size, cfg.n_frames))):
        t0 = time.perf_counter()
        fn()
        out[name] = n / (time.perf_counter() - t0)
    return out


__all__ = ["BORN", "CLIP_LIKE", "CLIP_SPACES", "ConnectConfig", "FIG5", "KEPT", "PAPER", "TARGETS", "claims", "clip_row", "space_row", "table1", "targets_met",
           "temperature_sweep", "world_throughput"]
