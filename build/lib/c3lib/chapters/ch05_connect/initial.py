"""Each trained space's towers at random initialisation, rebuilt, and the held-out test pairs they embed.

:mod:`c3lib.spaces` measures every space at initialisation but keeps only the numbers (its gap, its
effective dims). The claim that a gap is born at initialisation needs the per-item embeddings, for an
interval over the test items. The towers are rebuilt here as :mod:`c3lib.spaces` builds them (the same seed,
the same construction order, the same test items), and the rebuilt gap must equal the one the space
recorded: a change in how the spaces are built stops the chapter instead of passing unnoticed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from c3lib import geometry, spaces
from c3lib.contrastive import PairModel
from c3lib.encoders.towers import AudioTower, ImageTower, MLPHead, Projection, TextTower, VideoTower
from c3lib.spaces import SpaceConfig


def _towers(cfg: SpaceConfig, rep: dict[str, Any]) -> tuple[PairModel, dict]:
    """The space's model at initialisation and its test data."""
    space, vocab = rep["space"], rep.get("vocab")
    if space == "flickr8k-clip":
        fit, _, test = spaces.flickr_clip_data(cfg)
        depth, norm = int(rep["head"].split("-")[0]), rep["head"].endswith("-ln")
        torch.manual_seed(cfg.seed)
        heads = [MLPHead(d_in, cfg.clip_dim, depth, cfg.clip_width, norm)
                 for d_in in (fit["a"].shape[1], fit["b"].shape[2])]
        return PairModel(*heads), test
    if space == "flickr8k-locked":
        te = spaces.flickr_features(cfg, "val", cfg.flickr_test)
        test = {"a": torch.from_numpy(te["a"]), "b": torch.from_numpy(te["b"]), "multi_b": True}
        torch.manual_seed(cfg.seed)
        towers = Projection(te["a"].shape[1], cfg.flickr_dim), Projection(te["b"].shape[2], cfg.flickr_dim)
        return PairModel(*towers), test
    if space == "world-clip":
        test = spaces.world_data(cfg, "image-text", "test", cfg.n_test, vocab=vocab)
        torch.manual_seed(cfg.seed)
        return PairModel(ImageTower(cfg.clip_dim, clip_head=cfg.world_clip_head),
                         TextTower(len(vocab.words), cfg.clip_dim, clip_head=cfg.world_clip_head)), test
    test = spaces.world_data(cfg, space, "test", cfg.n_test, vocab=vocab)
    torch.manual_seed(cfg.seed)
    if space == "image-text":
        return PairModel(ImageTower(cfg.dim), TextTower(len(vocab.words), cfg.dim)), test
    if space == "audio-image":
        return PairModel(AudioTower(test["a"].shape[-1], cfg.dim), ImageTower(cfg.dim)), test
    return PairModel(VideoTower(cfg.dim), ImageTower(cfg.dim)), test


def init_pairs(cfg: SpaceConfig, rep: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The held-out test pairs ``(n, d)`` each of the space reported in ``rep`` (:func:`c3lib.spaces.train_space`),
    embedded by its towers at initialisation. Leaves torch's global random state as it found it."""
    with torch.random.fork_rng():
        model, test = _towers(cfg, rep)
        za, zb = spaces.pair_embeddings(model, test)
    gap = float(np.linalg.norm(geometry.centroid_gap(za, zb)))
    if not math.isclose(gap, rep["init"]["gap"], rel_tol=1e-4, abs_tol=1e-6):
        raise RuntimeError(f"{rep['space']}: the towers rebuilt at initialisation give a gap of {gap:.6f} but the "
                           f"space recorded {rep['init']['gap']:.6f}; c3lib.chapters.ch05_connect.initial must build "
                           f"them as c3lib.spaces does")
    return za, zb
