"""What chapter 05 measures on its spaces: Table 1 on held-out pairs (chapter 04's code), each space's row
beside pretrained CLIP's (and a bound space's against text), the project's targets, the Fig 5 temperature
sweep, the gap by epoch, per-item gap scores for the claims' intervals, and the world generators' speed."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from c3lib import geometry
from c3lib.chapters.ch05_connect.setting import CLIP_TEMPERATURE, TARGETS, ConnectConfig
from c3lib.contrastive import retrieval_recall
from c3lib.data import render as wr
from c3lib.data import world
from c3lib.data.loaders import load_pair_features
from c3lib.spaces import CLIP_SPACES, SpaceConfig, space


def gap_statistics(x: np.ndarray, y: np.ndarray, group_size: int, seed: int) -> geometry.GapStatistics:
    """Table 1's statistics of paired ``(n, d)`` embeddings in groups of ``group_size`` (fewer when there are
    under two groups' worth of pairs)."""
    return geometry.gap_statistics(x, y, min(group_size, len(x) // 2), seed)


def table1(x: np.ndarray, y: np.ndarray, group_size: int, seed: int) -> dict[str, float]:
    """Table 1's statistics of paired ``(n, d)`` embeddings (chapter 04's code), under this chapter's names."""
    s = gap_statistics(x, y, group_size, seed).summary()
    return {"gap_length": s["gap_length_mean"], "gap_direction_cos": s["gap_direction_mean"],
            "orthogonality_mean": s["orthogonality_mean"], "orthogonality_std": s["orthogonality_std"],
            "noise_direction_mean": s["noise_direction_mean"], "noise_std_per_dim": s["noise_std_mean"],
            "centroid_gap": s["centroid_gap"], "n_pairs": s["n"], "group_size": s["group_size"]}


def space_row(rep: dict[str, Any], group_size: int, seed: int) -> dict[str, Any]:
    """The chapter's row for one trained space: Table 1 on held-out pairs, dims, temperature, R@1; a bound
    space adds its modality against the text of the space it is bound to (``against_text``: emergent R@1 and
    R@5 with chance, and the gap length to text)."""
    ma, mb = space(rep["space"]).modalities
    init, trained = rep["init"], rep["trained"]
    extra = {}
    if "text_test" in rep:
        t = rep["text_test"]
        extra["against_text"] = {"R@1": t["R@1"], "R@5": t["R@5"], "chance_R@1": t["chance_R@1"],
                                 "chance_R@5": t["chance_R@5"], "gap_length": t["gap_length"]}
    return {**table1(*rep["test_pairs"], group_size, seed), **extra,
            "effective_dim_init": {ma: init["effective_dim_a"], mb: init["effective_dim_b"]},
            "effective_dim_trained": {ma: trained["effective_dim_a"], mb: trained["effective_dim_b"]},
            "temperature": rep["temperature"], "recall_at_1": trained["recall"]["a2b_R@1"],
            "recall_chance": trained["recall"]["chance_R@1"], "direction": f"{ma} to {mb}",
            "epochs": len(rep["history"]["loss"]), "best_epoch": rep["history"].get("best_epoch", -1),
            "init_gap": init["gap"]}


def clip_row(root, group_size: int, seed: int) -> dict[str, Any]:
    """Pretrained CLIP ViT-B/16 on 500 COCO pairs (``features_clip.npy``); init dims from its random-init twin.
    CLIP's temperature is its released logit scale (:data:`.setting.CLIP_TEMPERATURE`), not measured here."""
    x, y = load_pair_features(root, "clip")
    x0, y0 = load_pair_features(root, "clip_random")
    norm = geometry.normalize
    return {**table1(x, y, group_size, seed),
            "effective_dim_init": {"image": geometry.effective_dimension(norm(x0)),
                                   "text": geometry.effective_dimension(norm(y0))},
            "effective_dim_trained": {"image": geometry.effective_dimension(norm(x)),
                                      "text": geometry.effective_dimension(norm(y))},
            "temperature": CLIP_TEMPERATURE, "recall_at_1": retrieval_recall(x, y)["a2b_R@1"],
            "recall_chance": 1 / len(x), "direction": "image to text",
            "init_gap": float(np.linalg.norm(geometry.centroid_gap(x0, y0)))}


def target_name(key: str, op: str, bound: float) -> str:
    """``"gap_length >= 0.6"``: one of :data:`.setting.TARGETS` in words."""
    return f"{key} {op.strip('|')} {bound}"


def targets_met(row: dict[str, Any]) -> dict[str, bool]:
    """The project's targets for a CLIP-recipe space, each checked on the row's measured value."""
    out = {}
    for key, op, bound in TARGETS:
        v = row[key]
        out[target_name(key, op, bound)] = bool(v >= bound if op == ">=" else
                                                abs(v) <= bound if op == "|<=|" else v <= bound)
    return out


def sweep_plan(cfg: ConnectConfig, names: list[str]) -> dict[str, tuple[float, ...]]:
    """Fig 5 in real spaces: each CLIP space of ``names`` (``world-clip`` only with ``sweep_world``) and the
    starting temperatures its chosen head is trained from, the rest of the recipe unchanged (a pool job each,
    :func:`c3lib.space_pool.train_spaces`; the run at the recipe's own tau is the space, loaded)."""
    return {s: tuple(cfg.sweep_temperatures) for s in CLIP_SPACES
            if s in names and (s != "world-clip" or cfg.sweep_world)}


def temperature_sweep(cfg: ConnectConfig, runs: dict[tuple, dict]) -> tuple[dict, dict]:
    """The sweep's ``runs`` (by ``(space, t0)``) as ``(points, pairs)``: one summary per run and its held-out
    test pairs, by ``"<space> tau0=<t0>"``."""
    keys = {k: f"{k[0]} tau0={k[1]:g}" for k in runs}
    return ({keys[k]: _sweep_point(rep, k[1], cfg) for k, rep in runs.items()},
            {keys[k]: rep["test_pairs"] for k, rep in runs.items()})


def _sweep_point(rep: dict[str, Any], t0: float, cfg: ConnectConfig) -> dict[str, Any]:
    stats = table1(*rep["test_pairs"], cfg.group_size, cfg.seed)
    return {"init_temperature": t0, "temperature": rep["temperature"], "init_gap": rep["init"]["gap"],
            "gap": rep["trained"]["gap"], "gap_length": stats["gap_length"], "val_score": rep["val_score"],
            "recall_at_1": rep["trained"]["recall"]["a2b_R@1"], "epochs": len(rep["history"]["loss"])}


def gap_by_epoch(reports: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Each space's gap on its held-out test pairs after every epoch (recorded while training, never used to
    stop), with the epoch validation chose: how the gap moves while the task is learnt."""
    return {s: {"gap": [rep["init"]["gap"]] + rep["history"]["track"]["gap"],
                "best_epoch": rep["history"].get("best_epoch", -1), "epochs": len(rep["history"]["loss"])}
            for s, rep in reports.items() if rep["history"].get("track", {}).get("gap")}


def gap_scores(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Per-item scores ``(n,)`` whose mean is the modality gap of paired ``x``, ``y`` ``(n, d)`` without its
    sampling floor: each pair's difference of L2-normalised embeddings, projected on the unit gap direction
    measured on the *other* half of the items (a seeded split). Measured on the same items, the gap along its
    own direction is the centroid distance, which is positive even when there is no gap; along the other
    half's direction, sampling noise alone averages to zero, so an interval over the items says whether a
    gap is there. For a large gap the two agree to the cosine between the halves' directions."""
    diff = geometry.normalize(x, "x") - geometry.normalize(y, "y")  # [n, d]
    n = len(diff)
    first = np.zeros(n, dtype=bool)
    first[np.random.default_rng([seed, 5]).permutation(n)[: n // 2]] = True
    out = np.empty(n)
    for part in (first, ~first):
        g = diff[~part].mean(axis=0)
        out[part] = diff[part] @ (g / max(float(np.linalg.norm(g)), 1e-300))
    return out


def chance_loss(cfg: SpaceConfig, name: str) -> float:
    """The contrastive loss of a space that has learnt nothing: the log of its training batch."""
    recipe = space(name).recipe
    return float(np.log(cfg.clip_batch_size if recipe == "clip" else cfg.scratch_batch_size
                        if recipe in ("bound", "clip-scratch") else cfg.batch_size))


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
