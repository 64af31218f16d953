"""The contrastive spaces every chapter from 05 on stands on (paper section 2.3, "Connect").

World spaces are trained from random init: image-text, and audio-image and video-image bound to images
as in ImageBind (audio and video never see text). The real space joins frozen EfficientNet-Lite0 photo
features and frozen MiniLM caption features of Flickr8k with projection heads (locked towers, as in LiT).
Trained spaces are saved under ``runs/05_connect/<preset>/<space>-<hash>/``; chapter 05 trains and reports
them, and :func:`load_or_train_space` gives them to later chapters, training on demand when missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from c3lib.checks import AT_LEAST_1, AT_LEAST_2, POSITIVE
from c3lib import geometry
from c3lib.data import world
from c3lib.data import render as wr
from c3lib.cache import embeddings, key_of
from c3lib.config import ChapterConfig, make_config
from c3lib.contrastive import PairModel, TrainSpec, embed, retrieval_recall, train_pair
from c3lib.data.loaders import load_flickr8k, resolve_data_dir
from c3lib.encoders.towers import AudioTower, ImageTower, Projection, TextTower, VideoTower
from c3lib.tokenizer import Vocab
from c3lib.paths import runs_dir

SPACES = ("image-text", "audio-image", "video-image", "flickr8k-locked")


@dataclass(frozen=True)
class SpaceConfig(ChapterConfig):
    """The settings of every trained space (chapter 05 nests them in its config)."""

    n_train: int = 4000  # world scenes for training each world space
    n_test: int = 500  # held-out world scenes (test split) for retrieval and the gap
    image_size: int = 64  # world image side in pixels
    n_frames: int = 8  # world video frames (8-16)
    video_size: int = 32  # world video frame side
    dim: int = 64  # embedding dimension of the world spaces
    num_epochs: int = 12  # epochs for each world space
    batch_size: int = 128  # contrastive batch
    lr: float = 2e-3  # AdamW learning rate
    flickr_train: int = 2000  # Flickr8k train photos (of 6,105) for the locked-tower space; 5 captions each
    flickr_test: int = 500  # Flickr8k val photos held out for retrieval
    flickr_dim: int = 256  # projection dimension of the locked-tower space
    flickr_epochs: int = 30  # epochs for the projection heads

    RANGES = {**dict.fromkeys(("n_train", "n_test", "image_size", "n_frames", "video_size", "dim", "num_epochs",
                               "flickr_train", "flickr_test", "flickr_dim", "flickr_epochs"), AT_LEAST_1),
              "batch_size": AT_LEAST_2, "lr": POSITIVE}
    PRESETS = {
        "smoke": {"n_train": 256, "n_test": 64, "image_size": 32, "n_frames": 8, "video_size": 16,
                  "num_epochs": 2, "batch_size": 32, "flickr_train": 48, "flickr_test": 16, "flickr_epochs": 2},
        "default": {},
        "paper": {"n_train": 20000, "n_test": 1000, "num_epochs": 30, "flickr_train": 6105, "flickr_test": 974},
    }


def run_dir(cfg: SpaceConfig, space: str) -> Path:
    """``runs/05_connect/<preset>/<space>-<hash of the config>``: a changed setting never reuses a checkpoint."""
    params = {k: v for k, v in cfg.to_dict().items() if k != "data_dir"}
    return runs_dir("05_connect") / cfg.preset / f"{space}-{key_of(params)[:10]}"


def _images(scenes, size, seed) -> torch.Tensor:
    return torch.from_numpy(wr.render_images(scenes, size, seed)).permute(0, 3, 1, 2).float() / 255  # [n,3,H,W]


def world_data(cfg: SpaceConfig, space: str, split: str, n: int, vocab: Vocab | None = None) -> dict[str, Any]:
    """Paired tensors of one world space for one split; text comes as ``(n, 5, L)`` (five captions)."""
    scenes = world.sample_scenes(n, split, cfg.seed)
    seed = cfg.seed * 7 + list(world.SPLITS).index(split)
    images = _images(scenes, cfg.image_size, seed)
    if space == "image-text":
        caps = world.captions(scenes, seed)
        vocab = vocab or Vocab.build([c for five in caps for c in five])
        ids = torch.stack([vocab.encode(five) for five in caps])  # [n, 5, L]
        return {"a": images, "b": ids, "multi_b": True, "vocab": vocab, "captions": caps, "scenes": scenes}
    if space == "audio-image":
        spec = torch.from_numpy(wr.log_spectrogram(wr.render_audio(scenes)))  # [n, frames, bins]
        return {"a": spec, "b": images, "multi_b": False, "scenes": scenes}
    if space == "video-image":
        video = wr.render_video(scenes, cfg.video_size, cfg.n_frames, seed=seed)
        vid = torch.from_numpy(video).permute(0, 1, 4, 2, 3).float() / 255  # [n, T, 3, H, W]
        return {"a": vid, "b": images, "multi_b": False, "scenes": scenes}
    raise ValueError(f"unknown world space {space!r}; valid: {', '.join(SPACES[:3])}")


def _towers(cfg: SpaceConfig, space: str, train: dict):
    torch.manual_seed(cfg.seed)
    if space == "image-text":
        return ImageTower(cfg.dim), TextTower(len(train["vocab"].words), cfg.dim)
    if space == "audio-image":
        return AudioTower(train["a"].shape[-1], cfg.dim), ImageTower(cfg.dim)
    return VideoTower(cfg.dim), ImageTower(cfg.dim)


def flickr_features(cfg: SpaceConfig, split: str, limit: int) -> dict[str, np.ndarray]:
    """Frozen EfficientNet-Lite0 photo features and MiniLM caption features (five per photo), cached."""
    from c3lib.encoders.frozen import efficientnet_features, minilm_features

    root = resolve_data_dir(cfg.data_dir, required=True)
    pairs = load_flickr8k(root, split, limit)
    caps = [five[:5] + five[:1] * (5 - len(five[:5])) for five in pairs.captions]  # exactly five each
    flat = [c for five in caps for c in five]
    img = embeddings("flickr8k-efficientnet-lite0", "efficientnet-lite0", pairs.image_paths,
                     lambda: efficientnet_features(pairs.image_paths), size=224)
    txt = embeddings("flickr8k-minilm", "all-MiniLM-L6-v2", flat, lambda: minilm_features(flat), max_len=64)
    return {"a": img, "b": txt.reshape(len(caps), 5, -1), "captions": caps, "paths": pairs.image_paths}


def _measure(model: PairModel, test: dict, threshold: float = 0.99) -> dict[str, Any]:
    za = embed(model.tower_a, test["a"])
    zb_all = test["b"]
    zb = embed(model.tower_b, zb_all[:, 0] if test["multi_b"] else zb_all)
    return {"gap": float(np.linalg.norm(geometry.centroid_gap(za, zb))),
            "effective_dim_a": geometry.effective_dimension(geometry.normalize(za), threshold),
            "effective_dim_b": geometry.effective_dimension(geometry.normalize(zb), threshold),
            "recall": retrieval_recall(za, zb)}


def train_space(cfg: SpaceConfig, space: str, stop_after_epoch: int | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Train one space and report init vs trained geometry and retrieval.

    Training resumes from the space's checkpoint in :func:`run_dir`; a finished run is loaded, not retrained,
    so later chapters call this to get a space ("load or train").
    """
    if space == "flickr8k-locked":
        tr, te = flickr_features(cfg, "train", cfg.flickr_train), flickr_features(cfg, "val", cfg.flickr_test)
        train = {"a": torch.from_numpy(tr["a"]), "b": torch.from_numpy(tr["b"]), "multi_b": True}
        test = {"a": torch.from_numpy(te["a"]), "b": torch.from_numpy(te["b"]), "multi_b": True}
        torch.manual_seed(cfg.seed)
        model = PairModel(Projection(tr["a"].shape[1], cfg.flickr_dim), Projection(tr["b"].shape[2], cfg.flickr_dim))
        spec = TrainSpec(cfg.flickr_epochs, cfg.batch_size, cfg.lr, seed=cfg.seed)
    else:
        train = world_data(cfg, space, "train", cfg.n_train)
        test = world_data(cfg, space, "test", cfg.n_test, vocab=train.get("vocab"))
        model = PairModel(*_towers(cfg, space, train))
        spec = TrainSpec(cfg.num_epochs, cfg.batch_size, cfg.lr, seed=cfg.seed)
    init = _measure(model, test)
    folder = run_dir(cfg, space)
    if train.get("vocab") is not None:
        from c3lib.atomic import write_json

        write_json(folder / "vocab.json", train["vocab"].words)
    history = train_pair(model, train["a"], train["b"], spec, folder, train["multi_b"], stop_after_epoch, progress)
    trained = _measure(model, test)
    return {"space": space, "init": init, "trained": trained, "history": history, "model": model,
            "n_train": len(train["a"]), "n_test": len(test["a"]), "vocab": train.get("vocab"), "config": cfg}


def load_or_train_space(space: str, preset: str = "default", seed: int = 0, data_dir: str = "",
                        overrides: dict[str, Any] | None = None, progress: bool = True) -> dict[str, Any]:
    """The trained space ``space`` of chapter 05 for later chapters: loaded when saved, trained when missing.

    Builds the spaces' config for ``preset`` (``make_config(SpaceConfig, preset, ...)``, as chapter 05 does),
    so the same parameters find the same checkpoint folder (:func:`run_dir`). A finished checkpoint is loaded
    with no training step; a missing or interrupted one is trained (or resumed) first. Returns
    :func:`train_space`'s report: ``model`` (a :class:`PairModel` in eval mode; ``model.tower_a`` /
    ``model.tower_b`` embed ``(n, ...) -> (n, d)``), ``vocab`` for image-text, ``config`` (the
    :class:`SpaceConfig`), metrics and history.
    """
    if space not in SPACES:
        raise ValueError(f"unknown space {space!r}; valid: {', '.join(SPACES)}")
    cfg = make_config(SpaceConfig, preset, overrides, seed=seed, data_dir=data_dir)
    return train_space(cfg, space, progress=progress)
