"""Chapter 04, geometry statistics (paper Table 1, Fig 8, Fig 9; Appendix C) on real contrastive spaces.

Each space is a pair ``(img_emb, txt_emb)`` of shape ``(n, d)``; :func:`c3lib.geometry.gap_statistics`
computes the statistics. Spaces: the precomputed features of "Mind the Gap" (pretrained and random-init
CLIP, ConVIRT, VideoCLIP, CLASP), and our random-init open_clip ViT-B-32 on Flickr8k photos. Without a data
folder (smoke only) a synthetic gap-plus-noise space stands in. At ``paper``: the paper's own space, CLIP
ViT-B/32 ``openai`` weights over the MS-COCO Karpathy train split (train + restval, first caption of each
image), from a local copy of the images (:func:`c3lib.data.loaders.load_coco_karpathy`), embeddings cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from c3lib.checks import AT_LEAST_1, AT_LEAST_2
from c3lib import geometry
from c3lib.config import ChapterConfig
from c3lib.data import standins
from c3lib.data.loaders import KARPATHY_TRAIN, load_coco_karpathy, load_pair_features, resolve_data_dir

PAPER = {
    "space": "CLIP ViT-B/32 (openai), MS-COCO Karpathy train, groups of 100",
    "gap_length": {"mean": 0.83, "std": 0.01},
    "gap_direction": {"mean": 0.99, "std": 0.00},
    "orthogonality": {"mean": 0.00, "std": 0.06},
    "noise_mean": {"mean": 0.00, "std": 0.00},
    "noise_direction": {"mean": 0.00, "std": 0.10},
}

PRECOMPUTED = {  # file name -> label (model, modalities)
    "clip": "CLIP ViT-B/16 pretrained, COCO image/caption",
    "clip_random": "CLIP ViT-B/16 random init, COCO image/caption",
    "convirt": "ConVIRT pretrained, X-ray/report",
    "convirt_random": "ConVIRT random init, X-ray/report",
    "videoclip": "VideoCLIP pretrained, video/caption",
    "videoclip_random": "VideoCLIP random init, video/caption",
    "clasp": "CLASP pretrained, protein/text",
    "clasp_random": "CLASP random init, protein/text",
}


@dataclass(frozen=True)
class GeometryStatsConfig(ChapterConfig):
    group_size: int = 100  # pairs per group (paper: 100)
    small_group_size: int = 20  # used for spaces with fewer than 2 groups of group_size (n = 100 / 99)
    spaces: tuple[str, ...] = tuple(PRECOMPUTED)  # precomputed spaces to measure
    openclip_pairs: int = 500  # Flickr8k val pairs embedded by random-init open_clip ViT-B-32 (0 skips)
    clip_model: str = "ViT-B-32"  # open_clip architecture at random init
    batch_size: int = 32  # encoder batch
    synthetic_n: int = 500  # smoke without data: pairs of the gap-plus-noise stand-in space
    coco_karpathy: bool = False  # CLIP ViT-B/32 'openai' over <data_dir>/coco-karpathy/ (downloads the weights)
    coco_splits: tuple[str, ...] = KARPATHY_TRAIN  # Karpathy splits to embed (train + restval = 113,287 images)
    coco_pairs: int = 0  # first N images of those splits (0: all), one pair per image with its first caption

    RANGES = {"group_size": AT_LEAST_2, "small_group_size": AT_LEAST_2, "batch_size": AT_LEAST_1, "synthetic_n": AT_LEAST_2}

    PRESETS = {
        "smoke": {"spaces": ("clip", "videoclip"), "openclip_pairs": 16, "small_group_size": 8},
        "default": {},
        "paper": {"coco_karpathy": True, "batch_size": 256},
    }


def group_size_for(cfg: GeometryStatsConfig, n: int) -> int:
    """``cfg.group_size`` when the space holds at least two groups of it, else ``cfg.small_group_size``."""
    return cfg.group_size if n >= 2 * cfg.group_size else min(cfg.small_group_size, n)


def openclip_pairs(cfg: GeometryStatsConfig, root) -> tuple[np.ndarray, np.ndarray, str]:
    """Random-init open_clip on Flickr8k val photos and their first captions (generated inputs without data)."""
    from c3lib.encoders.openclip import encode_images, encode_texts, load_openclip

    images, texts, src = standins.photos_or_stand_ins(root, "val", cfg.openclip_pairs, cfg.seed)
    clip = load_openclip(cfg.clip_model, None, seed=cfg.seed)
    x = encode_images(clip, images, cfg.batch_size)
    y = encode_texts(clip, texts, cfg.batch_size)
    return x, y, src


def coco_karpathy_pairs(cfg: GeometryStatsConfig, root, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The paper's space: CLIP ViT-B/32 ``openai`` over the Karpathy split, each image with its first caption.

    The data folder is checked before any download; embeddings are cached by model, weights and the contents
    of every image file and caption, so a rerun (or another chapter) encodes nothing twice.
    """
    import open_clip

    from c3lib.cache import embeddings
    from c3lib.encoders.openclip import encode_images, encode_texts, lazy_openclip

    pairs = load_coco_karpathy(root, tuple(cfg.coco_splits), limit=cfg.coco_pairs or None)
    texts = [c[0] for c in pairs.captions]
    model = lazy_openclip("ViT-B-32", "openai")
    settings = {"open_clip": open_clip.__version__}
    x = embeddings("coco_karpathy_vitb32_openai_img", "ViT-B-32/openai", pairs.image_paths,
                   lambda: encode_images(model(), pairs.image_paths, cfg.batch_size, progress=progress), **settings)
    y = embeddings("coco_karpathy_vitb32_openai_txt", "ViT-B-32/openai", texts,
                   lambda: encode_texts(model(), texts, cfg.batch_size, progress=progress), **settings)
    return x, y


def measure(x: np.ndarray, y: np.ndarray, cfg: GeometryStatsConfig, label: str) -> dict[str, Any]:
    """Gap statistics and effective dimensions of one space; ``stats`` keeps the raw samples for Fig 8."""
    group = group_size_for(cfg, len(x))
    stats = geometry.gap_statistics(x, y, group, cfg.seed)
    return {"label": label, "stats": stats, **stats.summary(),
            "effective_dim_image": geometry.effective_dimension(geometry.normalize(x)),
            "effective_dim_text": geometry.effective_dimension(geometry.normalize(y))}


def all_spaces(cfg: GeometryStatsConfig, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Measure every configured space; keys are short names."""
    root = resolve_data_dir(cfg.data_dir, required=cfg.preset != "smoke" or cfg.coco_karpathy)
    out: dict[str, dict[str, Any]] = {}
    if cfg.coco_karpathy:  # first: a missing COCO folder fails before any slower work
        x, y = coco_karpathy_pairs(cfg, root, progress)
        out["clip_coco_karpathy"] = measure(x, y, cfg, f"CLIP ViT-B/32 openai, MS-COCO Karpathy "
                                                      f"{' + '.join(cfg.coco_splits)}, first caption")
    if root is None:
        x, y = standins.gap_plus_noise_space(cfg.synthetic_n, seed=cfg.seed)
        out["stand-in"] = measure(x, y, cfg, "gap-plus-noise stand-in (smoke, no data folder)")
    else:
        for name in cfg.spaces:
            if name not in PRECOMPUTED:
                raise ValueError(f"unknown space {name!r}; valid: {', '.join(PRECOMPUTED)}")
            out[name] = measure(*load_pair_features(root, name), cfg, PRECOMPUTED[name])
    if cfg.openclip_pairs > 0:
        x, y, src = openclip_pairs(cfg, root)
        out["openclip_random"] = measure(x, y, cfg, f"open_clip {cfg.clip_model} random init, {src}")
    return out


def table(spaces: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per space: n, group size, mean +- std of each statistic (plain floats, for a DataFrame)."""
    rows = []
    for name, rep in spaces.items():
        r = {"space": name, "label": rep["label"], "n": rep["n"], "group": rep["group_size"],
             "eff. dim img/txt": f"{rep['effective_dim_image']}/{rep['effective_dim_text']}"}
        for stat in geometry.GAP_STATISTICS:
            r[stat] = f"{rep[stat + '_mean']:.2f} ± {rep[stat + '_std']:.2f}"
        rows.append(r)
    return rows


# Table 1's claims and the thresholds that decide them (the paper: 0.83 ± 0.01, 0.99 ± 0.00, 0.00 ± 0.06, 0.00 ± 0.10).
LENGTH = "constant gap length (std under 5 % of the mean)"
DIRECTION = "constant gap direction (mean cosine ≥ 0.95)"
ORTHOGONAL = "gap orthogonal to the spans (|mean cosine| < 0.05)"
NOISE = "noise without a preferred direction (|mean cosine| < 0.05)"


def claims(spaces: dict[str, dict[str, Any]]) -> dict[str, dict[str, bool]]:
    """``{space label: {claim: held}}``: Table 1's geometry, tested on every space measured."""
    return {rep["label"]: {LENGTH: bool(rep["gap_length_std"] < 0.05 * rep["gap_length_mean"]),
                           DIRECTION: bool(rep["gap_direction_mean"] >= 0.95),
                           ORTHOGONAL: bool(abs(rep["orthogonality_mean"]) < 0.05),
                           NOISE: bool(abs(rep["noise_direction_mean"]) < 0.05)}
            for rep in spaces.values()}
