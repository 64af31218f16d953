"""Binding a new modality to a frozen image tower, as ImageBind does (Girdhar et al., 2023; paper Table 4).

ImageBind trains each new modality's encoder contrastively against the *frozen* image encoder of an
image-text CLIP, on (new modality, image) pairs only. The new modality then lands in the text's space
although it never met a caption: audio-to-text retrieval "emerges" through the shared image tower.

Here the image-text space is chapter 05's ``world-clip`` (the registry's bound spaces,
:mod:`c3lib.spaces`, bind to its image head over frozen EfficientNet-Lite0 features). Its
image tower is frozen by construction: its embeddings of the training images are computed once, in eval
mode, and the new tower (:class:`~c3lib.encoders.towers.AudioTower` / ``VideoTower``) is trained against
them with the symmetric InfoNCE loss and a learned temperature (:func:`c3lib.contrastive.train_pair`, an
identity as the second tower). Training stops, and the epoch is chosen, on *validation* (audio-image or
video-image) pairs by every space's rule (:func:`c3lib.contrastive.validation_score`), never on test items; the official ImageBind code picks the best epoch on its test set, a defect we do not
copy. Bound towers are kept in the run store (:mod:`c3lib.runstore`), keyed by everything they depend on,
including a hash of the image tower's weights.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from c3lib.cache import key_of
from c3lib.contrastive import PairModel, TrainSpec, embed, retrieval_recall, train_pair, validation_score
from c3lib.data import render as wr
from c3lib.encoders.towers import AudioTower, VideoTower

BOUND_MODALITIES = ("audio", "video")  # the modalities bound to an image tower
SAMPLE_RATE = 8000  # Hz: the world's audio (c3lib.data.render.render_audio)
CLIP_SECONDS = 0.5
CLIP_SAMPLES = int(SAMPLE_RATE * CLIP_SECONDS)


# ---- inputs, checked --------------------------------------------------------------------------------
def audio_inputs(wave: np.ndarray, sample_rate: int) -> torch.Tensor:
    """Raw world audio ``(n, 4000)`` at 8000 Hz -> log spectrograms ``(n, frames, bins)`` for the audio tower."""
    wave = np.asarray(wave)
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"audio must be sampled at {SAMPLE_RATE} Hz (the rate the audio tower was bound at), "
                         f"got {sample_rate} Hz: resample it first")
    if wave.ndim != 2:
        raise ValueError(f"audio must be a batch of mono clips (n, samples), got shape {wave.shape}")
    if wave.shape[1] != CLIP_SAMPLES:
        raise ValueError(f"audio clips must hold {CLIP_SAMPLES} samples ({CLIP_SECONDS} s at {SAMPLE_RATE} Hz), "
                         f"got {wave.shape[1]}: crop or pad them")
    if not np.isfinite(wave).all():
        raise ValueError("audio contains NaN or infinite samples")
    return torch.from_numpy(wr.log_spectrogram(wave.astype(np.float32)))  # [n, frames, bins]


def video_inputs(video: np.ndarray, n_frames: int, size: int) -> torch.Tensor:
    """Raw world videos ``(n, T, H, W, 3)`` uint8 -> ``(n, T, 3, H, W)`` floats in [0, 1] for the video tower."""
    video = np.asarray(video)
    want = f"(n, {n_frames}, {size}, {size}, 3) uint8"
    if video.ndim != 5 or video.shape[1:] != (n_frames, size, size, 3):
        raise ValueError(f"videos must have shape {want} (frames, height, width, RGB), got {video.shape}")
    if video.dtype != np.uint8:
        raise ValueError(f"videos must be uint8 pixels {want}, got dtype {video.dtype}")
    return torch.from_numpy(video).permute(0, 1, 4, 2, 3).float() / 255  # [n, T, 3, H, W]


# ---- binding ------------------------------------------------------------------------------------------
def new_tower(modality: str, dim: int, n_bins: int | None = None) -> nn.Module:
    if modality == "audio":
        return AudioTower(n_bins, dim)
    if modality == "video":
        return VideoTower(dim)
    raise ValueError(f"unknown modality {modality!r} to bind; valid: {', '.join(BOUND_MODALITIES)}")


def weights_sha(module: nn.Module) -> str:
    """SHA-256 of a module's weights (names, shapes, bytes): the bound tower depends on exactly these."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class Bound:
    """A tower bound to an image tower, with its training history and the epoch chosen on validation."""

    modality: str
    tower: nn.Module
    best_epoch: int
    val_score: float  # the validation score (c3lib.contrastive.validation_score) at best_epoch
    history: dict = field(default_factory=dict)


def bind(modality: str, image_tower: nn.Module, x_train: torch.Tensor, img_train: torch.Tensor,
         x_val: torch.Tensor, img_val: torch.Tensor, dim: int, spec: TrainSpec, progress: bool = False,
         ckpt_dir: Path | None = None) -> Bound:
    """Train a fresh ``modality`` tower against the frozen ``image_tower`` on ``(x, image)`` pairs.

    ``x_*``: tower inputs ``(n, ...)``; ``img_*``: what the image tower reads for the paired images. The image
    tower is only evaluated (eval mode, no gradient), so its weights and normalisation statistics stay as
    they are. Every space's stopping rule: validation retrieval on the ``(x_val, img_val)`` pairs, stopping
    ``spec.patience`` epochs after the best, which is the tower returned. ``ckpt_dir``: resumable checkpoints.
    """
    if len(x_train) != len(img_train) or len(x_val) != len(img_val):
        raise ValueError(f"{modality} inputs and images must pair row by row: got {len(x_train)} / "
                         f"{len(img_train)} training and {len(x_val)} / {len(img_val)} validation rows")
    target_train = torch.from_numpy(embed(image_tower, img_train))  # [n, d] frozen targets
    target_val = torch.from_numpy(embed(image_tower, img_val))
    if target_train.shape[1] != dim:
        raise ValueError(f"the image tower embeds in {target_train.shape[1]} dims but dim={dim} was asked")
    torch.manual_seed(spec.seed)
    tower = new_tower(modality, dim, x_train.shape[-1] if modality == "audio" else None)
    model = PairModel(tower, nn.Identity(), spec.init_temperature, spec.max_logit_scale)
    history = train_pair(model, x_train, target_train, spec, ckpt_dir, False, progress=progress,
                         validate=validation_score({"a": x_val, "b": target_val, "multi_b": False}))
    return Bound(modality, tower.eval(), history["best_epoch"], max(history["val"]), history)


def _write(bound: Bound, folder: Path) -> None:
    from safetensors.torch import save_file

    from c3lib.atomic import write_json

    save_file({k: v.contiguous() for k, v in bound.tower.state_dict().items()}, str(folder / "tower.safetensors"))
    write_json(folder / "bind.json", {"modality": bound.modality, "best_epoch": bound.best_epoch,
                                      "val_score": bound.val_score, "history": bound.history})


def _reader(modality: str, dim: int, n_bins: int | None):
    def read(folder: Path) -> Bound:
        import json

        from safetensors.torch import load_file

        meta = json.loads((folder / "bind.json").read_text())
        tower = new_tower(modality, dim, n_bins)
        tower.load_state_dict(load_file(str(folder / "tower.safetensors")))
        return Bound(modality, tower.eval(), meta["best_epoch"], meta["val_score"], meta["history"])
    return read


def load_or_bind(modality: str, image_tower: nn.Module, train: dict, val: dict, dim: int, spec: TrainSpec,
                 folder: Path, depends_on: dict, save: bool = True, progress: bool = False) -> tuple[Bound, bool]:
    """:func:`bind` through the run store: ``(bound, loaded)``. ``train`` / ``val``: dicts of tower inputs,
    ``image`` (what the image tower reads) and ``modality``, paired row by row.

    The key hashes ``depends_on`` (the world's settings), the training spec, the data sizes and the image
    tower's weights, so another image tower or any changed setting trains anew.
    """
    from c3lib import runstore

    image_sha = weights_sha(image_tower)
    key = key_of({"modality": modality, "spec": spec.key_settings(), "dim": dim, "n_train": len(train["image"]),
                  "n_val": len(val["image"]), "input_shape": list(train[modality].shape[1:]),
                  "image_tower": image_sha, "world": depends_on})
    n_bins = train[modality].shape[-1] if modality == "audio" else None
    return runstore.train_or_load(
        folder, key,
        lambda: bind(modality, image_tower, train[modality], train["image"], val[modality], val["image"], dim,
                     spec, progress),
        _write, _reader(modality, dim, n_bins), save=save,
        info={"modality": modality, "image_tower_sha256": image_sha})


# ---- what binding gives: emergent retrieval and the geometry against text -------------------------------
def against_text(emb: dict[str, np.ndarray], txt_emb: np.ndarray, group_size: int = 100) -> dict[str, dict]:
    """For each modality's test embeddings ``(n, d)`` paired row by row with caption embeddings ``txt_emb``:
    retrieval modality->text (R@1, R@5, chance) and the Table 1 statistics against text (Fig 9)."""
    from c3lib.geometry import gap_statistics

    out = {}
    for name, x in emb.items():
        if x.shape != txt_emb.shape:
            raise ValueError(f"{name} embeddings {x.shape} do not pair with text embeddings {txt_emb.shape}")
        r = retrieval_recall(x, txt_emb, ks=(1, 5))
        stats = gap_statistics(x, txt_emb, group_size=min(group_size, len(x) // 2), seed=0).summary()  # >= 2 groups
        out[name] = {"R@1": r["a2b_R@1"], "R@5": r["a2b_R@5"], "text_R@1": r["b2a_R@1"],
                     "chance_R@1": r["chance_R@1"], "chance_R@5": r["chance_R@5"],
                     "gap_length": stats["gap_length_mean"], "table1": stats}
    return out
