"""How each space is trained: one function per recipe of the registry (:data:`c3lib.spaces.registry.REGISTRY`).

* ``clip``: frozen pretrained towers (EfficientNet-Lite0, MiniLM) with heads trained by CLIP's recipe: random-
  init heads into 512 dimensions, symmetric InfoNCE in large batches, the logit scale learned from CLIP's
  clamp (τ 0.01), AdamW at CLIP's learning rate and weight decay; every head of ``clip_heads`` is trained and
  the one with the best validation retrieval is the space (``world-clip``, ``flickr8k-clip``).
* ``bound``: a tower from random init (audio, video) trained against the frozen image head of the space it is
  bound to, on (modality, image) pairs only, as ImageBind binds its modalities (:mod:`c3lib.binding`).
* ``clip-scratch``: the world towers from random init by CLIP's recipe (the ablation ``world-clip-scratch``).
* ``fixed``: the older ablations (τ learned from 0.07, fixed epochs).

Every recipe but ``fixed`` stops by one rule: validation retrieval (:func:`c3lib.contrastive.validation_score`)
on held-out training-side pairs, ``patience`` epochs after the best, ending at the best epoch's weights.
Runs are saved under :func:`~c3lib.spaces.registry.run_dir`; a finished run is loaded, not retrained.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from c3lib import binding, geometry
from c3lib.atomic import write_json
from c3lib.config import RunContext, make_config
from c3lib.contrastive import (PairModel, TrainSpec, embed, pair_embeddings, retrieval_recall, train_pair,
                               validation_score)
from c3lib.encoders.towers import AudioTower, ImageTower, MLPHead, Projection, TextTower, VideoTower
from c3lib.spaces.data import clip_data, flickr_features, modality_input, world_data, world_features
from c3lib.spaces.registry import SpaceConfig, run_dir, space
from c3lib.tokenizer import Vocab


def gap(za: np.ndarray, zb: np.ndarray) -> float:
    """The modality gap: the distance between the normalised embeddings' centroids."""
    return float(np.linalg.norm(geometry.centroid_gap(za, zb)))


def _geometry(za: np.ndarray, zb: np.ndarray, threshold: float = 0.99) -> dict[str, Any]:
    """The gap, retrieval and each side's effective dimension of paired embeddings ``(n, d)``."""
    return {"gap": gap(za, zb), "recall": retrieval_recall(za, zb),
            "effective_dim_a": geometry.effective_dimension(geometry.normalize(za), threshold),
            "effective_dim_b": geometry.effective_dimension(geometry.normalize(zb), threshold)}


def _gap_tracker(test: dict) -> Callable[[PairModel], dict[str, float]]:
    """The gap on the held-out test pairs after each epoch (only recorded, never used to choose)."""
    return lambda model: {"gap": gap(*pair_embeddings(model, test))}


def _report(name: str, cfg: SpaceConfig, model: PairModel, init_pairs: tuple, test: dict, history: dict,
            n_train: int, vocab: Vocab | None = None, **extra: Any) -> dict[str, Any]:
    """What every recipe returns: the model, the geometry at initialisation and trained, the history, and the
    held-out test pairs at initialisation (``init_pairs``) and trained (``test_pairs``)."""
    test_pairs = pair_embeddings(model, test)
    return {"space": name, "init": _geometry(*init_pairs), "trained": _geometry(*test_pairs), "history": history,
            "model": model, "temperature": model.temperature(), "n_train": n_train, "n_test": len(test["a"]),
            "vocab": vocab, "config": cfg, "init_pairs": init_pairs, "test_pairs": test_pairs, **extra}


def train_spec(cfg: SpaceConfig, recipe: str, init_temperature: float | None = None) -> TrainSpec:
    """The training settings of a registry recipe (``clip``, ``bound``, ``clip-scratch``, ``fixed``)."""
    t0 = cfg.init_temperature if init_temperature is None else init_temperature
    if recipe == "fixed":
        return TrainSpec(cfg.num_epochs, cfg.batch_size, cfg.lr, seed=cfg.seed)
    epochs, batch = ((cfg.max_epochs, cfg.clip_batch_size) if recipe == "clip" else
                     (cfg.scratch_max_epochs, cfg.scratch_batch_size))
    return TrainSpec(epochs, batch, cfg.clip_lr, cfg.clip_weight_decay, t0, cfg.seed, patience=cfg.patience,
                     decay_gains=False)


def _fixed_space(cfg: SpaceConfig, name: str, progress: bool = True) -> dict[str, Any]:
    """``world-scratch``, ``audio-scratch``, ``video-scratch`` (both towers from random init) and
    ``flickr8k-locked`` (linear heads on the frozen features): fixed epochs, τ learned from 0.07."""
    rec = space(name)
    if rec.data == "flickr8k":
        tr, te = flickr_features(cfg, "train", cfg.flickr_train), flickr_features(cfg, "val", cfg.flickr_test)
        train = {"a": torch.from_numpy(tr["a"]), "b": torch.from_numpy(tr["b"]), "multi_b": True}
        test = {"a": torch.from_numpy(te["a"]), "b": torch.from_numpy(te["b"]), "multi_b": True}
        torch.manual_seed(cfg.seed)
        model = PairModel(Projection(tr["a"].shape[1], cfg.flickr_dim), Projection(tr["b"].shape[2], cfg.flickr_dim))
        spec = TrainSpec(cfg.flickr_epochs, cfg.batch_size, cfg.lr, seed=cfg.seed)
    else:
        train = world_data(cfg, rec.modalities, "train", cfg.n_train)
        test = world_data(cfg, rec.modalities, "test", cfg.n_test, vocab=train.get("vocab"))
        torch.manual_seed(cfg.seed)
        towers = {"image": lambda: ImageTower(cfg.dim), "text": lambda: TextTower(len(train["vocab"].words), cfg.dim),
                  "audio": lambda: AudioTower(train["a"].shape[-1], cfg.dim), "video": lambda: VideoTower(cfg.dim)}
        model = PairModel(*(towers[m]() for m in rec.modalities))
        spec = train_spec(cfg, "fixed")
    init_pairs = pair_embeddings(model, test)
    folder = run_dir(cfg, name)
    if train.get("vocab") is not None:
        write_json(folder / "vocab.json", train["vocab"].words)
    history = train_pair(model, train["a"], train["b"], spec, folder, train["multi_b"], progress=progress,
                         track=_gap_tracker(test))
    return _report(name, cfg, model, init_pairs, test, history, len(train["a"]), train.get("vocab"))


def clip_run(cfg: SpaceConfig, name: str, head: str, init_temperature: float | None = None, data=None,
             progress: bool = True) -> dict[str, Any]:
    """One candidate of a ``clip`` space: heads ``head`` ("2-ln": two layers with LayerNorm) on both frozen
    towers, trained by CLIP's recipe from ``init_temperature`` (the config's by default)."""
    fit, val, test = data or clip_data(cfg, name)
    depth, norm = int(head.split("-")[0]), head.endswith("-ln")
    spec = train_spec(cfg, "clip", init_temperature)
    torch.manual_seed(cfg.seed)
    heads = [MLPHead(d_in, cfg.clip_dim, depth, cfg.clip_width, norm) for d_in in (fit["a"].shape[1], fit["b"].shape[2])]
    model = PairModel(*heads, spec.init_temperature, spec.max_logit_scale)
    init_pairs = pair_embeddings(model, test)
    folder = run_dir(cfg, name) / f"head{head}-tau{spec.init_temperature:g}"
    history = train_pair(model, fit["a"], fit["b"], spec, folder, True, progress=progress,
                         validate=validation_score(val), track=_gap_tracker(test))
    return _report(name, cfg, model, init_pairs, test, history, len(fit["a"]), head=head,
                   init_temperature=spec.init_temperature, val_score=max(history["val"]), n_select=len(val["a"]))


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


def _clip_space(cfg: SpaceConfig, name: str, progress: bool = True) -> dict[str, Any]:
    """A ``clip`` space: every head of ``clip_heads`` trained, the best on validation chosen."""
    data = clip_data(cfg, name)
    return choose_head({h: clip_run(cfg, name, h, data=data, progress=progress) for h in cfg.clip_heads})


def _bound_space(cfg: SpaceConfig, name: str, progress: bool = True) -> dict[str, Any]:
    """A ``bound`` space: its modality's tower from random init, trained against the frozen image head of
    the space it is bound to (on that space's frozen image features), stopping on val-split pairs. Its report
    adds ``text_test``: the modality against the bound space's text on the test scenes (emergent retrieval
    and the gap to text, Fig 9)."""
    rec = space(name)
    modality = rec.modalities[0]
    image_space = train_space(cfg, rec.bound_to, progress=progress)
    head, text_head = image_space["model"].tower_a, image_space["model"].tower_b
    split = {}
    for s, n in (("train", cfg.n_train), ("val", cfg.n_select), ("test", cfg.n_test)):
        feats = world_features(cfg, s, n)
        split[s] = {"x": modality_input(cfg, modality, feats["scenes"], s), "image": torch.from_numpy(feats["image"]),
                    "text": torch.from_numpy(feats["text"][:, 0])}
    spec = train_spec(cfg, "bound")
    tr, va, te = split["train"], split["val"], split["test"]
    with torch.random.fork_rng():
        torch.manual_seed(spec.seed)  # the tower bind() starts from
        fresh = binding.new_tower(modality, cfg.clip_dim, tr["x"].shape[-1] if modality == "audio" else None)
    test = {"a": te["x"], "b": torch.from_numpy(embed(head, te["image"])), "multi_b": False}
    init_pairs = pair_embeddings(PairModel(fresh, torch.nn.Identity()), test)
    bound = binding.bind(modality, head, tr["x"], tr["image"], va["x"], va["image"], cfg.clip_dim, spec, progress,
                         ckpt_dir=run_dir(cfg, name))
    model = PairModel(bound.tower, torch.nn.Identity(), bound.history["temperature"][bound.best_epoch])
    text = binding.against_text({modality: embed(bound.tower, te["x"])}, embed(text_head, te["text"]))
    return _report(name, cfg, model, init_pairs, test, bound.history, len(tr["x"]), val_score=bound.val_score,
                   text_test=text[modality], bound_to=rec.bound_to, image_head=image_space.get("head", ""))


def scratch_clip_space(cfg: SpaceConfig, name: str = "world-clip-scratch", progress: bool = True,
                       init_temperature: float | None = None) -> dict[str, Any]:
    """``world-clip-scratch``: the world image and text towers from random init into ``clip_dim`` dimensions by
    CLIP's recipe, stopping on the val split (chapters score on the test split)."""
    spec = train_spec(cfg, "clip-scratch", init_temperature)
    train = world_data(cfg, ("image", "text"), "train", cfg.n_train)
    val = world_data(cfg, ("image", "text"), "val", cfg.n_select, vocab=train["vocab"])
    test = world_data(cfg, ("image", "text"), "test", cfg.n_test, vocab=train["vocab"])
    torch.manual_seed(cfg.seed)
    model = PairModel(ImageTower(cfg.clip_dim, clip_head=cfg.scratch_clip_head),
                      TextTower(len(train["vocab"].words), cfg.clip_dim, clip_head=cfg.scratch_clip_head),
                      spec.init_temperature, spec.max_logit_scale)
    init_pairs = pair_embeddings(model, test)
    folder = run_dir(cfg, name) / f"tau{spec.init_temperature:g}"
    write_json(folder / "vocab.json", train["vocab"].words)
    history = train_pair(model, train["a"], train["b"], spec, folder, True, progress=progress,
                         validate=validation_score(val), track=_gap_tracker(test))
    return _report(name, cfg, model, init_pairs, test, history, len(train["a"]), train["vocab"],
                   init_temperature=spec.init_temperature, val_score=max(history["val"]), n_select=len(val["a"]))


_TRAIN: dict[str, Callable[..., dict[str, Any]]] = {"clip": _clip_space, "bound": _bound_space,
                                                     "clip-scratch": scratch_clip_space, "fixed": _fixed_space}


def train_space(cfg: SpaceConfig, name: str, progress: bool = True) -> dict[str, Any]:
    """Train (or load, when its run is finished) the space ``name`` by its registry recipe; resumes from its
    checkpoint when interrupted."""
    return _TRAIN[space(name).recipe](cfg, name, progress=progress)


def load_or_train_space(name: str, ctx: RunContext = RunContext(), overrides: dict[str, Any] | None = None,
                        progress: bool = True) -> dict[str, Any]:
    """The space ``name`` of chapter 05 for later chapters: loaded when saved, trained when missing.

    Builds the spaces' config for ``ctx`` (``make_config(SpaceConfig, ctx.preset, ...)``, as chapter 05 does),
    so the same parameters find the same run folder. Returns :func:`train_space`'s report: ``model`` (a
    :class:`PairModel` in eval mode; ``model.tower_a`` / ``model.tower_b`` embed ``(n, ...) -> (n, d)``), ``vocab``
    for the world-scratch towers, ``config`` (the :class:`SpaceConfig`), metrics and history.
    """
    space(name)  # an unknown name is refused before any config is built
    cfg = make_config(SpaceConfig, ctx.preset, overrides, seed=ctx.seed, data_dir=ctx.data_dir)
    return train_space(cfg, name, progress=progress)
