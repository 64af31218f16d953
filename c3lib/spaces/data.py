"""What the spaces train and are measured on: world scenes rendered as every modality, and the frozen
towers' features (EfficientNet-Lite0 on photos and world renders, MiniLM on captions), cached.

Each world split is drawn from the config's seed, so the same ``(cfg, split, n)`` gives the very scenes a
later chapter captions; the feature caches are keyed by the pixels and texts themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from c3lib.cache import embeddings
from c3lib.data import render as wr
from c3lib.data import world
from c3lib.data.loaders import load_flickr8k, resolve_data_dir
from c3lib.spaces.registry import SpaceConfig
from c3lib.tokenizer import Vocab


def render_seed(cfg: SpaceConfig, split: str) -> int:
    """The seed of a split's rendering noise and captions (one per split)."""
    return cfg.seed * 7 + list(world.SPLITS).index(split)


def images(scenes, size: int, seed: int) -> torch.Tensor:
    """World renders as ``(n, 3, size, size)`` floats in [0, 1]."""
    return torch.from_numpy(wr.render_images(scenes, size, seed)).permute(0, 3, 1, 2).float() / 255


def modality_input(cfg: SpaceConfig, modality: str, scenes, split: str) -> torch.Tensor:
    """The tower input of one world modality: ``image`` ``(n, 3, H, W)``, ``audio`` log spectrograms
    ``(n, frames, bins)``, ``video`` ``(n, T, 3, H, W)``."""
    seed = render_seed(cfg, split)
    if modality == "image":
        return images(scenes, cfg.image_size, seed)
    if modality == "audio":
        return torch.from_numpy(wr.log_spectrogram(wr.render_audio(scenes)))
    if modality == "video":
        video = wr.render_video(scenes, cfg.video_size, cfg.n_frames, seed=seed)
        return torch.from_numpy(video).permute(0, 1, 4, 2, 3).float() / 255
    raise ValueError(f"unknown world modality {modality!r}; valid: image, audio, video, text")


def world_data(cfg: SpaceConfig, modalities: tuple[str, str], split: str, n: int,
               vocab: Vocab | None = None) -> dict[str, Any]:
    """Paired tensors of two world modalities for one split: ``a`` and ``b``; text comes as token ids
    ``(n, 5, L)`` (five captions, ``multi_b``), with its ``vocab`` (built on these captions when not given)."""
    scenes = world.sample_scenes(n, split, cfg.seed)
    out: dict[str, Any] = {"scenes": scenes, "multi_b": modalities[1] == "text"}
    for side, mod in zip("ab", modalities):
        if mod == "text":
            caps = world.captions(scenes, render_seed(cfg, split))
            vocab = vocab or Vocab.build([c for five in caps for c in five])
            out.update(captions=caps, vocab=vocab)
            out[side] = torch.stack([vocab.encode(five) for five in caps])  # [n, 5, L]
        else:
            out[side] = modality_input(cfg, mod, scenes, split)
    return out


def world_features(cfg: SpaceConfig, split: str, n: int, parts: tuple[str, ...] = ("image", "text"),
                   progress: bool = False) -> dict[str, Any]:
    """The frozen towers' features of ``n`` world scenes of ``split``: ``image`` ``(n, 1280)`` EfficientNet-Lite0
    of the renders (``image_size`` px, resized to its 224), ``text`` ``(n, 5, 384)`` MiniLM of the five
    captions; with the ``captions``, ``scenes`` and (with ``image``) the renders ``pixels`` ``(n, H, W, 3)``
    uint8 the image features were computed from. Cached, keyed by the pixels and the texts."""
    from PIL import Image

    from c3lib.encoders.frozen import IMAGE_SIZE, efficientnet_features, minilm_features

    scenes = world.sample_scenes(n, split, cfg.seed)
    caps = world.captions(scenes, render_seed(cfg, split))
    out: dict[str, Any] = {"scenes": scenes, "captions": caps}
    if "image" in parts:
        pixels = wr.render_images(scenes, cfg.image_size, render_seed(cfg, split))  # [n, H, W, 3] uint8
        out["pixels"] = pixels
        out["image"] = embeddings("world-efficientnet-lite0", "efficientnet-lite0", [pixels],
                                  lambda: efficientnet_features([Image.fromarray(p) for p in pixels],
                                                                progress=progress), size=IMAGE_SIZE)
    if "text" in parts:
        flat = [c for five in caps for c in five]
        out["text"] = embeddings("world-minilm", "all-MiniLM-L6-v2", flat,
                                 lambda: minilm_features(flat, progress=progress), max_len=64).reshape(n, 5, -1)
    return out


def flickr_features(cfg: SpaceConfig, split: str, limit: int, progress: bool = True) -> dict[str, Any]:
    """Frozen EfficientNet-Lite0 photo features and MiniLM caption features (five per photo) of the first
    ``limit`` photos of ``split``. Computed (and cached) once for the split's largest standard prefix
    (``clip_flickr_train`` train photos, ``flickr_test`` val photos) and sliced, so every space and chapter
    reading fewer photos reads the same rows."""
    from c3lib.encoders.frozen import efficientnet_features, minilm_features

    root = resolve_data_dir(cfg.data_dir, required=True)
    standard = {"train": cfg.clip_flickr_train}.get(split, cfg.flickr_test)
    pairs = load_flickr8k(root, split, max(limit, standard) if limit else None)
    caps = [five[:5] + five[:1] * (5 - len(five[:5])) for five in pairs.captions]  # exactly five each
    flat = [c for five in caps for c in five]
    img = embeddings("flickr8k-efficientnet-lite0", "efficientnet-lite0", pairs.image_paths,
                     lambda: efficientnet_features(pairs.image_paths, progress=progress), size=224)
    txt = embeddings("flickr8k-minilm", "all-MiniLM-L6-v2", flat, lambda: minilm_features(flat, progress=progress),
                     max_len=64)
    keep = slice(None, limit or None)  # 0: every photo of the split
    return {"a": img[keep], "b": txt.reshape(len(caps), 5, -1)[keep], "captions": caps[keep],
            "paths": pairs.image_paths[keep]}


def _pack(a: np.ndarray, b: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {"a": torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)),
            "b": torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)), "multi_b": True, **extra}


def flickr_clip_split(cfg: SpaceConfig, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, select)``: sorted row indices of ``flickr8k-clip``'s ``n`` train-split photos, the ones its heads
    train on and the ``clip_select`` seeded ones held out for its validation retrieval."""
    order = np.random.default_rng([cfg.seed, 12]).permutation(n)
    return np.sort(order[cfg.clip_select:]), np.sort(order[:cfg.clip_select])


def clip_data(cfg: SpaceConfig, name: str) -> tuple[dict, dict, dict]:
    """``(fit, select, test)`` feature pairs of a frozen-tower space. ``world-clip``: the train, val and test
    splits. ``flickr8k-clip``: the train-split photos minus ``clip_select`` seeded ones (validation retrieval),
    those held out, and the val-split photos (test: only measured, never used to choose)."""
    if name == "world-clip":
        split = {s: world_features(cfg, s, n) for s, n in (("train", cfg.n_train), ("val", cfg.n_select),
                                                           ("test", cfg.n_test))}
        return tuple(_pack(f["image"], f["text"], captions=f["captions"], scenes=f["scenes"])
                     for f in split.values())
    if name != "flickr8k-clip":
        raise ValueError(f"{name!r} is not a frozen-tower space; valid: world-clip, flickr8k-clip")
    tr, te = flickr_features(cfg, "train", cfg.clip_flickr_train), flickr_features(cfg, "val", cfg.flickr_test)
    fit, sel = flickr_clip_split(cfg, len(tr["a"]))
    return _pack(tr["a"][fit], tr["b"][fit]), _pack(tr["a"][sel], tr["b"][sel]), _pack(te["a"], te["b"])
