"""Chapter 01, dimensional collapse (paper section 3.1, Fig 3, Fig 12, Fig 13, Appendix I.3).

Each function computes one section of the chapter and returns plain arrays and numbers; the notebook
plots them. Real inputs come from the data folder (``modality-gap-features/``, ``flickr8k/``); without
one, the smoke preset feeds generated images and captions to the same encoders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from c3lib.checks import AT_LEAST_1, OPEN_FRACTION
from c3lib import geometry
from c3lib.data import standins
from c3lib.config import ChapterConfig
from c3lib.data.loaders import load_pair_features, resolve_data_dir

PAPER = {
    "random_init_clip_effective_dim": {"image": 25, "text": 230},
    "shared_effective_dim_bound": 255,
    "threshold": 0.99,
    "fig13": "effective dimension falls with depth (plotted, no table)",
    "cone_effect": "cosine similarity between random-init embeddings well above 0 (Liang et al., 2022)",
}


@dataclass(frozen=True)
class CollapseConfig(ChapterConfig):
    threshold: float = 0.99  # gamma of Definition 1: share of the singular values kept
    clip_model: str = "ViT-B-32"  # open_clip architecture fed real photos and captions at random init
    clip_weights: str = ""  # Fig 12 right: "" skips; a local checkpoint; "openai" downloads (paper only)
    n_pairs: int = 500  # Flickr8k photos (first caption each) fed to the random-init model
    split: str = "val"  # Flickr8k split they come from (val has 974 photos, train 6,105)
    batch_size: int = 32  # encoder batch
    towers: bool = True  # Fig 12 right offline: EfficientNet-Lite0 (photos) and MiniLM (captions)
    mlp_depth: int = 50  # Fig 13: number of ReLU(Linear) blocks
    mlp_width: int = 512  # Fig 13: width of every layer
    mlp_inputs: int = 10_000  # Fig 13: N(0, I) inputs
    mlp_every: int = 5  # Fig 13: measure after every k layers

    RANGES = {"threshold": OPEN_FRACTION, **dict.fromkeys(("n_pairs", "batch_size", "mlp_depth", "mlp_width", "mlp_inputs",
                                                            "mlp_every"), AT_LEAST_1)}

    PRESETS = {
        "smoke": {"n_pairs": 24, "towers": False, "mlp_depth": 10, "mlp_inputs": 1000, "mlp_width": 128},
        "default": {},
        "paper": {"n_pairs": 5000, "split": "train", "clip_weights": "openai"},
    }


def space_report(x: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, Any]:
    """Effective dimensions, spectra, centroid gap and cone effect of a paired space ``x``, ``y`` (n, d).

    Rows are L2-normalised first, as a contrastive space uses them.
    """
    x, y = geometry.normalize(x, "image embeddings"), geometry.normalize(y, "text embeddings")
    rep = {
        "n": int(x.shape[0]),
        "d_image": int(x.shape[1]),
        "d_text": int(y.shape[1]),
        "effective_dim_image": geometry.effective_dimension(x, threshold),
        "effective_dim_text": geometry.effective_dimension(y, threshold),
        "cone_image": geometry.mean_pairwise_cosine(x),
        "cone_text": geometry.mean_pairwise_cosine(y),
        "spectrum_image": geometry.singular_spectrum(x),
        "spectrum_text": geometry.singular_spectrum(y),
    }
    if x.shape[1] == y.shape[1]:
        rep["gap"] = float(np.linalg.norm(geometry.centroid_gap(x, y)))
    return rep


def precomputed_spaces(cfg: CollapseConfig, names=("clip_random", "clip")) -> dict[str, dict[str, Any]]:
    """Fig 3 / Fig 12 on the 500 COCO pairs of "Mind the Gap" (random-init and pretrained CLIP ViT-B/16)."""
    root = resolve_data_dir(cfg.data_dir, required=cfg.preset != "smoke")
    if root is None:
        return {}
    return {name: space_report(*load_pair_features(root, name), cfg.threshold) for name in names}


def _inputs(cfg: CollapseConfig) -> tuple[list, list[str], str]:
    root = resolve_data_dir(cfg.data_dir, required=cfg.preset != "smoke")
    return standins.photos_or_stand_ins(root, cfg.split, cfg.n_pairs, cfg.seed)


def openclip_space(cfg: CollapseConfig, weights: str | None = None) -> dict[str, Any]:
    """Our own open_clip model (random init unless ``weights``) fed photos and captions."""
    from c3lib.encoders.openclip import encode_images, encode_texts, load_openclip

    images, texts, source = _inputs(cfg)
    clip = load_openclip(cfg.clip_model, weights, seed=cfg.seed, allow_download=cfg.preset == "paper")
    x = encode_images(clip, images, cfg.batch_size)
    y = encode_texts(clip, texts, cfg.batch_size)
    return {**space_report(x, y, cfg.threshold), "inputs": source, "model": f"{cfg.clip_model} ({clip.weights})"}


def frozen_towers_space(cfg: CollapseConfig) -> dict[str, Any]:
    """Pretrained offline towers: EfficientNet-Lite0 on photos, MiniLM on their captions (different d)."""
    from c3lib.encoders.frozen import efficientnet_features, minilm_features

    images, texts, source = _inputs(cfg)
    x = efficientnet_features(images, cfg.batch_size)
    y = minilm_features(texts)
    return {**space_report(x, y, cfg.threshold), "inputs": source,
            "model": "EfficientNet-Lite0 (ImageNet) / all-MiniLM-L6-v2"}


def mlp_sweep(cfg: CollapseConfig) -> dict[str, list]:
    """Fig 13: effective dimension every ``mlp_every`` layers of a random ReLU MLP."""
    return geometry.mlp_collapse_sweep(cfg.mlp_depth, cfg.mlp_width, cfg.mlp_inputs, cfg.mlp_every,
                                       cfg.threshold, cfg.seed)


def summary(rep: dict[str, Any]) -> dict[str, Any]:
    """The scalar part of a :func:`space_report` (no spectra), for tables and the results file."""
    return {k: v for k, v in rep.items() if not k.startswith("spectrum")}


# The claims the chapter tests, with the thresholds that decide them (the paper states them in words).
COLLAPSE = "collapse: each modality's effective dim under half of d"  # paper: 25 and 230 of 512
CONE = "cone effect: mean pairwise cosine above 0.5 in both modalities"  # Liang et al.: far above random's ~0
DEPTH = "effective dim falls with depth (never rises, ends lower)"  # Fig 13
SPACE_CLIP = "CLIP ViT-B/16, random init (COCO, precomputed)"
SPACE_OURS = "our random-init open_clip on photos and captions"
SPACE_MLP = "random ReLU MLP on N(0, I) inputs"


def collapsed(rep: dict[str, Any]) -> bool:
    """Definition 1 says collapse: both modalities' effective dims below half of their dimension."""
    return rep["effective_dim_image"] < rep["d_image"] / 2 and rep["effective_dim_text"] < rep["d_text"] / 2


def claims(pre: dict[str, dict], ours: dict[str, Any], mlp: dict[str, list]) -> dict[str, dict[str, bool]]:
    """``{space: {claim: held}}`` for the random-init spaces this run measured (no COCO space without data)."""
    dims = mlp["effective_dim"]
    out = {}
    if "clip_random" in pre:
        r = pre["clip_random"]
        out[SPACE_CLIP] = {COLLAPSE: collapsed(r), CONE: bool(min(r["cone_image"], r["cone_text"]) > 0.5)}
    out[SPACE_OURS] = {COLLAPSE: collapsed(ours), CONE: bool(min(ours["cone_image"], ours["cone_text"]) > 0.5)}
    out[SPACE_MLP] = {DEPTH: bool(all(a >= b for a, b in zip(dims, dims[1:])) and dims[-1] < dims[0])}
    return out
