"""The contrastive spaces every chapter from 05 on stands on (paper section 2.3, "Connect").

World spaces are trained from random init: image-text, and audio-image and video-image bound to images
as in ImageBind (audio and video never see text). The real space joins frozen EfficientNet-Lite0 photo
features and frozen MiniLM caption features of Flickr8k with projection heads (locked towers, as in LiT).

The CLIP-recipe spaces, ``flickr8k-clip`` and ``world-clip``, follow CLIP's training where it
decides the geometry: random-init heads (or towers) into 512 dimensions, symmetric InfoNCE in large batches,
the logit scale learned but starting at CLIP's clamp (tau 0.01, the value CLIP reaches early and trains at),
and stopping on held-out retrieval (never on the photos later chapters score on). ``flickr8k-clip``
chooses its head (depth 1, 2 or 4, with or without LayerNorm) by that validation score; ``flickr8k-locked``
and ``image-text`` stay as the ablations (tau learned from 0.07, fixed epochs).
Trained spaces are saved under ``runs/05_connect/<preset>/<space>-<hash>/``; chapter 05 trains and reports
them, and :func:`load_or_train_space` gives them to later chapters, training on demand when missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from c3lib.checks import AT_LEAST_1, AT_LEAST_2, POSITIVE
from c3lib import geometry
from c3lib.data import world
from c3lib.data import render as wr
from c3lib.cache import embeddings, key_of
from c3lib.config import ChapterConfig, RunContext, make_config
from c3lib.contrastive import PairModel, TrainSpec, embed, retrieval_recall, train_pair
from c3lib.data.loaders import load_flickr8k, resolve_data_dir
from c3lib.encoders.towers import AudioTower, ImageTower, MLPHead, Projection, TextTower, VideoTower
from c3lib.tokenizer import Vocab
from c3lib.paths import runs_dir

SPACES = ("image-text", "audio-image", "video-image", "flickr8k-locked", "flickr8k-clip", "world-clip")
CLIP_SPACES = ("flickr8k-clip", "world-clip")
# The gap length a CLIP-recipe space aims for: this project's target for "a CLIP-sized gap", not the paper's
# number (pretrained CLIP's is c3lib.paper.GAP_LENGTH, Table 1); chapter 05 checks its spaces against it and
# chapter 06 groups its spaces by it.
CLIP_GAP_TARGET = 0.6


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
    # The CLIP recipe (flickr8k-clip, world-clip); each setting from CLIP (Radford et al. 2021) or validation.
    clip_dim: int = 512  # CLIP ViT-B/32's embedding dimension
    clip_init_temperature: float = 0.01  # start at CLIP's clamp: CLIP's scale reaches it early and stays there
    clip_lr: float = 5e-4  # CLIP ViT-B/32's peak AdamW learning rate
    clip_weight_decay: float = 0.2  # CLIP's, with none on gains, biases and the logit scale
    clip_batch_size: int = 1024  # large batches (CLIP: 32,768 of 400M); here a sixth of the 5,605 photos
    clip_max_epochs: int = 300  # a ceiling only: validation retrieval decides when to stop
    clip_patience: int = 10  # epochs without a better validation score before stopping
    clip_flickr_train: int = 6105  # Flickr8k train photos (all), five captions each
    clip_select: int = 500  # of them held out for validation retrieval (the val photos stay for scoring)
    clip_heads: tuple[str, ...] = ("1", "1-ln", "2", "2-ln", "4", "4-ln")  # depth[-ln]: chosen by validation
    clip_width: int = 512  # hidden width of the deeper heads
    world_clip_batch_size: int = 512  # world-clip: the world towers in large batches
    world_clip_max_epochs: int = 60  # ceiling for world-clip (validation decides)
    world_clip_patience: int = 5
    world_clip_head: bool = True  # CLIP's tower ending: LayerNorm, then a bias-free projection (ln_post, proj)

    RANGES = {**dict.fromkeys(("n_train", "n_test", "image_size", "n_frames", "video_size", "dim", "num_epochs",
                               "flickr_train", "flickr_test", "flickr_dim", "flickr_epochs"), AT_LEAST_1),
              "batch_size": AT_LEAST_2, "lr": POSITIVE}
    PRESETS = {
        "smoke": {"n_train": 256, "n_test": 64, "image_size": 32, "n_frames": 8, "video_size": 16,
                  "num_epochs": 2, "batch_size": 32, "flickr_train": 48, "flickr_test": 16, "flickr_epochs": 2,
                  "clip_flickr_train": 48, "clip_select": 16, "clip_batch_size": 32, "clip_max_epochs": 3,
                  "clip_heads": ("1", "2-ln"), "clip_dim": 64, "clip_width": 64, "world_clip_batch_size": 64,
                  "world_clip_max_epochs": 2},
        "default": {},
        "paper": {"n_train": 20000, "n_test": 1000, "num_epochs": 30, "flickr_train": 6105, "flickr_test": 974},
    }

    def __post_init__(self):
        for h in self.clip_heads:
            if h.split("-")[0] not in ("1", "2", "4") or h.count("-") > 1 or (h.count("-") and h[-3:] != "-ln"):
                raise ValueError(f"clip head {h!r}: use depth 1, 2 or 4 with an optional '-ln', e.g. '2-ln'")
        if not self.clip_heads:
            raise ValueError("clip_heads needs at least one head")
        if not 0 < self.clip_select < self.clip_flickr_train:
            raise ValueError(f"clip_select ({self.clip_select}) must be between 0 and clip_flickr_train")
        if not 0.01 <= self.clip_init_temperature <= 1:
            raise ValueError("clip_init_temperature must lie in [0.01, 1]: CLIP clamps tau at 0.01")


def run_dir(cfg: SpaceConfig, space: str) -> Path:
    """``runs/05_connect/<preset>/<space>-<hash of the config>``: a changed setting never reuses a checkpoint.
    Each space hashes only the fields it can depend on: the ablation spaces without the CLIP-recipe fields
    (adding those kept their folders), ``flickr8k-clip`` without ``world-clip``'s and the other way round."""
    others = {"flickr8k-clip": ("world_clip_",), "world-clip": ("clip_flickr", "clip_heads", "clip_width", "flickr_",
                                                                 "clip_batch_size", "clip_max_epochs", "clip_patience")}
    skip = others.get(space, ("clip_", "world_clip_"))
    params = {k: v for k, v in cfg.to_dict().items() if k != "data_dir" and not k.startswith(skip)}
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


def pair_embeddings(model: PairModel, data: dict) -> tuple[np.ndarray, np.ndarray]:
    """Paired held-out embeddings ``(n, d)`` each: a's items and b's first partner (first caption)."""
    zb_all = data["b"]
    return embed(model.tower_a, data["a"]), embed(model.tower_b, zb_all[:, 0] if data["multi_b"] else zb_all)


def _measure(model: PairModel, test: dict, threshold: float = 0.99) -> dict[str, Any]:
    za, zb = pair_embeddings(model, test)
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
    if space == "flickr8k-clip":
        return flickr_clip_space(cfg, progress=progress)
    if space == "world-clip":
        return world_clip_space(cfg, stop_after_epoch, progress)
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
    return _report(space, cfg, model, init, test, history, len(train["a"]), train.get("vocab"))


def _report(space: str, cfg: SpaceConfig, model: PairModel, init: dict, test: dict, history: dict, n_train: int,
            vocab: Vocab | None = None, **extra: Any) -> dict[str, Any]:
    return {"space": space, "init": init, "trained": _measure(model, test), "history": history, "model": model,
            "temperature": model.temperature(), "n_train": n_train, "n_test": len(test["a"]), "vocab": vocab,
            "config": cfg, "test_pairs": pair_embeddings(model, test), **extra}


def validation_score(val: dict) -> Callable[[PairModel], float]:
    """The stopping (and head-choosing) score: mean of R@1, R@5 and R@10 both ways on held-out training-split
    pairs (the "R-sum" of retrieval papers, divided by 6), never on the photos later chapters score on."""
    def score(model: PairModel) -> float:
        r = retrieval_recall(*pair_embeddings(model, val))
        return float(np.mean([r[f"{d}_R@{k}"] for d in ("a2b", "b2a") for k in (1, 5, 10)]))
    return score


def _clip_spec(cfg: SpaceConfig, init_temperature: float, world: bool = False) -> TrainSpec:
    if world:
        return TrainSpec(cfg.world_clip_max_epochs, cfg.world_clip_batch_size, cfg.clip_lr, cfg.clip_weight_decay,
                         init_temperature, cfg.seed, patience=cfg.world_clip_patience, decay_gains=False)
    return TrainSpec(cfg.clip_max_epochs, cfg.clip_batch_size, cfg.clip_lr, cfg.clip_weight_decay,
                     init_temperature, cfg.seed, patience=cfg.clip_patience, decay_gains=False)


def flickr_clip_data(cfg: SpaceConfig) -> tuple[dict, dict, dict]:
    """``(fit, select, test)`` tensors: the train-split photos minus ``clip_select`` seeded ones (validation
    retrieval), those held out, and the val-split photos (test; only measured, never used to choose)."""
    tr, te = flickr_features(cfg, "train", cfg.clip_flickr_train), flickr_features(cfg, "val", cfg.flickr_test)
    order = np.random.default_rng([cfg.seed, 12]).permutation(len(tr["a"]))
    sel, fit = np.sort(order[:cfg.clip_select]), np.sort(order[cfg.clip_select:])

    def pack(a, b):
        return {"a": torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)),
                "b": torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)), "multi_b": True}
    return pack(tr["a"][fit], tr["b"][fit]), pack(tr["a"][sel], tr["b"][sel]), pack(te["a"], te["b"])


def flickr_clip_run(cfg: SpaceConfig, head: str, init_temperature: float, data=None,
                    progress: bool = True) -> dict[str, Any]:
    """One candidate of ``flickr8k-clip``: heads ``head`` ("2-ln": two layers with LayerNorm) on both frozen
    towers, trained by the CLIP recipe from ``init_temperature``; saved under the space's run dir."""
    fit, val, test = data or flickr_clip_data(cfg)
    depth, norm = int(head.split("-")[0]), head.endswith("-ln")
    spec = _clip_spec(cfg, init_temperature)
    torch.manual_seed(cfg.seed)
    heads = [MLPHead(d_in, cfg.clip_dim, depth, cfg.clip_width, norm) for d_in in (fit["a"].shape[1], fit["b"].shape[2])]
    model = PairModel(*heads, spec.init_temperature, spec.max_logit_scale)
    init = _measure(model, test)
    folder = run_dir(cfg, "flickr8k-clip") / f"head{head}-tau{init_temperature:g}"
    history = train_pair(model, fit["a"], fit["b"], spec, folder, True, progress=progress,
                         validate=validation_score(val))
    return _report("flickr8k-clip", cfg, model, init, test, history, len(fit["a"]), head=head,
                   init_temperature=init_temperature, val_score=max(history["val"]), n_select=len(val["a"]))


def flickr_clip_space(cfg: SpaceConfig, progress: bool = True) -> dict[str, Any]:
    """``flickr8k-clip``: every head of ``cfg.clip_heads`` trained from ``clip_init_temperature``; the space
    is the one with the best validation score, the others are reported under ``candidates``."""
    data = flickr_clip_data(cfg)
    return choose_head({h: flickr_clip_run(cfg, h, cfg.clip_init_temperature, data, progress) for h in cfg.clip_heads})


def choose_head(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The candidate with the best validation score (first of equals: the order of ``clip_heads``), with every
    candidate's scores under ``candidates``."""
    best = max(runs, key=lambda h: runs[h]["val_score"])
    cands = {h: {"val_score": r["val_score"], "epochs": len(r["history"]["loss"]),
                 "best_epoch": r["history"]["best_epoch"], "temperature": r["temperature"],
                 "gap": r["trained"]["gap"], "effective_dim_a": r["trained"]["effective_dim_a"],
                 "effective_dim_b": r["trained"]["effective_dim_b"],
                 "test_a2b_R@1": r["trained"]["recall"]["a2b_R@1"]} for h, r in runs.items()}
    return {**runs[best], "candidates": cands}


def world_clip_space(cfg: SpaceConfig, stop_after_epoch: int | None = None, progress: bool = True,
                     init_temperature: float | None = None) -> dict[str, Any]:
    """``world-clip``: the world image and text towers from random init into ``clip_dim`` dimensions by the
    CLIP recipe; stopping on the world's validation split (chapters score on its test split)."""
    t0 = cfg.clip_init_temperature if init_temperature is None else init_temperature
    train = world_data(cfg, "image-text", "train", cfg.n_train)
    val = world_data(cfg, "image-text", "val", cfg.clip_select, vocab=train["vocab"])
    test = world_data(cfg, "image-text", "test", cfg.n_test, vocab=train["vocab"])
    spec = _clip_spec(cfg, t0, world=True)
    torch.manual_seed(cfg.seed)
    model = PairModel(ImageTower(cfg.clip_dim, clip_head=cfg.world_clip_head),
                      TextTower(len(train["vocab"].words), cfg.clip_dim, clip_head=cfg.world_clip_head),
                      spec.init_temperature, spec.max_logit_scale)
    init = _measure(model, test)
    folder = run_dir(cfg, "world-clip") / f"tau{t0:g}"
    from c3lib.atomic import write_json

    write_json(folder / "vocab.json", train["vocab"].words)
    history = train_pair(model, train["a"], train["b"], spec, folder, True, stop_after_epoch, progress,
                         validate=validation_score(val))
    return _report("world-clip", cfg, model, init, test, history, len(train["a"]), train["vocab"],
                   init_temperature=t0, val_score=max(history["val"], default=float("nan")),
                   n_select=len(val["a"]))


def load_or_train_space(space: str, ctx: RunContext = RunContext(), overrides: dict[str, Any] | None = None,
                        progress: bool = True) -> dict[str, Any]:
    """The trained space ``space`` of chapter 05 for later chapters: loaded when saved, trained when missing.

    Builds the spaces' config for ``ctx`` (``make_config(SpaceConfig, ctx.preset, ...)``, as chapter 05 does),
    so the same parameters find the same checkpoint folder (:func:`run_dir`). A finished checkpoint is loaded
    with no training step; a missing or interrupted one is trained (or resumed) first. Returns
    :func:`train_space`'s report: ``model`` (a :class:`PairModel` in eval mode; ``model.tower_a`` /
    ``model.tower_b`` embed ``(n, ...) -> (n, d)``), ``vocab`` for image-text, ``config`` (the
    :class:`SpaceConfig`), metrics and history.
    """
    if space not in SPACES:
        raise ValueError(f"unknown space {space!r}; valid: {', '.join(SPACES)}")
    cfg = make_config(SpaceConfig, ctx.preset, overrides, seed=ctx.seed, data_dir=ctx.data_dir)
    return train_space(cfg, space, progress=progress)
