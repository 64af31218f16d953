"""The space registry: one record per contrastive space (its name, modalities, data, towers, training recipe
and what it is for), and the one config every space reads its settings from.

A space's name is looked up here and nowhere else: :func:`space` gives its :class:`Space`, whose ``recipe``
names the function that trains it (:mod:`c3lib.spaces.recipes`) and whose ``fields`` are the settings its
saved run depends on (:func:`run_dir` hashes exactly those, so a change to another space's setting never
retrains it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from c3lib.cache import key_of
from c3lib.checks import AT_LEAST_1, AT_LEAST_2, POSITIVE
from c3lib.config import ChapterConfig
from c3lib.paths import runs_dir

# The gap length a CLIP-recipe space aims for: this project's target for "a CLIP-sized gap", not the paper's
# number (pretrained CLIP's is c3lib.paper.GAP_LENGTH, Table 1); chapter 05 checks its spaces against it and
# chapter 06 groups its spaces by it.
CLIP_GAP_TARGET = 0.6


@dataclass(frozen=True)
class SpaceConfig(ChapterConfig):
    """The settings of every space, one name and one default each (chapter 05 nests them in its config)."""

    # the world (every world space)
    n_train: int = 4000  # train-split scenes each world space trains on
    n_select: int = 500  # val-split scenes: validation retrieval (stopping, the head, the binding epoch)
    n_test: int = 500  # test-split scenes: only measured, never used to choose
    image_size: int = 64  # world render side in pixels
    n_frames: int = 8  # world video frames
    video_size: int = 32  # world video frame side
    # the fixed-epoch ablation recipe (world-scratch, audio-scratch, video-scratch, flickr8k-locked)
    dim: int = 64  # their embedding dimension (flickr8k-locked: flickr_dim)
    num_epochs: int = 12  # their epochs (no validation stop)
    batch_size: int = 128
    lr: float = 2e-3  # AdamW
    flickr_train: int = 2000  # flickr8k-locked: Flickr8k train photos (of 6,105), five captions each
    flickr_test: int = 500  # Flickr8k val photos every Flickr8k space is measured on
    flickr_dim: int = 256
    flickr_epochs: int = 30
    # CLIP's recipe (every space whose role is "clip", and world-clip-scratch); from CLIP or validation
    clip_dim: int = 512  # CLIP ViT-B/32's embedding dimension
    init_temperature: float = 0.01  # CLIP's clamp: CLIP's learned scale reaches it early and trains there
    clip_lr: float = 5e-4  # CLIP ViT-B/32's peak AdamW learning rate
    clip_weight_decay: float = 0.2  # CLIP's, with none on gains, biases and the logit scale
    clip_batch_size: int = 1024  # large batches over frozen features (CLIP: 32,768)
    max_epochs: int = 300  # a ceiling only: validation retrieval decides when to stop
    patience: int = 10  # the one stopping rule: epochs without a better validation score
    clip_heads: tuple[str, ...] = ("1", "1-ln", "2", "2-ln", "4", "4-ln")  # depth[-ln]: chosen by validation
    clip_width: int = 512  # hidden width of the deeper heads
    clip_flickr_train: int = 6105  # flickr8k-clip: Flickr8k train photos (all), five captions each
    clip_select: int = 500  # flickr8k-clip: of them held out for validation retrieval
    # towers trained from random init under CLIP's recipe (bound audio / video, world-clip-scratch)
    scratch_batch_size: int = 512
    scratch_max_epochs: int = 60  # a ceiling only (validation decides); the CPU budget sets it
    scratch_clip_head: bool = True  # CLIP's tower ending: LayerNorm, then a bias-free projection

    RANGES = {**dict.fromkeys(("n_train", "n_select", "n_test", "image_size", "n_frames", "video_size", "dim",
                               "num_epochs", "flickr_train", "flickr_test", "flickr_dim", "flickr_epochs",
                               "clip_dim", "max_epochs", "clip_width", "clip_flickr_train", "scratch_max_epochs"),
                            AT_LEAST_1),
              **dict.fromkeys(("batch_size", "clip_batch_size", "scratch_batch_size"), AT_LEAST_2),
              "lr": POSITIVE, "clip_lr": POSITIVE}
    PRESETS = {
        "smoke": {"n_train": 256, "n_select": 64, "n_test": 64, "image_size": 32, "video_size": 16,
                  "num_epochs": 2, "batch_size": 32, "flickr_train": 48, "flickr_test": 16, "flickr_epochs": 2,
                  "clip_flickr_train": 48, "clip_select": 16, "clip_batch_size": 32, "max_epochs": 3,
                  "clip_heads": ("1", "2-ln"), "clip_dim": 64, "clip_width": 64, "scratch_batch_size": 64,
                  "scratch_max_epochs": 2},
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
        if not 0.01 <= self.init_temperature <= 1:
            raise ValueError(f"init_temperature {self.init_temperature} must lie in [0.01, 1]: CLIP clamps tau at "
                             "0.01 and 1 is no contrast at all")


WORLD = ("n_train", "n_test", "image_size")
CLIP = ("clip_dim", "init_temperature", "clip_lr", "clip_weight_decay", "patience", "n_select")
SCRATCH = CLIP + ("scratch_batch_size", "scratch_max_epochs", "scratch_clip_head")
HEADS = CLIP + ("clip_batch_size", "max_epochs", "clip_heads", "clip_width")
FIXED = ("dim", "num_epochs", "batch_size", "lr")


@dataclass(frozen=True)
class Space:
    """One contrastive space: what it joins, from what data, how it is trained and what it is for."""

    name: str
    modalities: tuple[str, str]  # (tower a, tower b): retrieval and the gap run a -> b
    data: str  # "world" (rendered here) or "flickr8k" (the data folder)
    towers: str  # in words, for the pages
    recipe: str  # "clip" (frozen towers, heads chosen on validation), "bound", "clip-scratch", "fixed"
    role: str  # "clip": a space with CLIP's geometry the later chapters test in; "ablation": kept for contrast
    fields: tuple[str, ...]  # the SpaceConfig settings its saved run depends on (with the seed)
    bound_to: str = ""  # "bound": the space whose frozen image tower it is bound to


REGISTRY: dict[str, Space] = {s.name: s for s in (
    Space("world-clip", ("image", "text"), "world", "frozen EfficientNet-Lite0 (renders) + MiniLM (captions), "
          "trained heads", "clip", "clip", WORLD + HEADS),
    Space("world-clip-audio", ("audio", "image"), "world", "audio tower from random init, bound to world-clip's "
          "frozen image tower", "bound", "clip", WORLD + HEADS + SCRATCH, bound_to="world-clip"),
    Space("world-clip-video", ("video", "image"), "world", "video tower from random init, bound to world-clip's "
          "frozen image tower", "bound", "clip", WORLD + HEADS + SCRATCH + ("n_frames", "video_size"),
          bound_to="world-clip"),
    Space("flickr8k-clip", ("image", "text"), "flickr8k", "frozen EfficientNet-Lite0 + MiniLM, trained heads",
          "clip", "clip", HEADS + ("clip_flickr_train", "clip_select", "flickr_test")),
    Space("world-scratch", ("image", "text"), "world", "image and text towers from random init, 64-d, fixed "
          "epochs", "fixed", "ablation", WORLD + FIXED),
    Space("audio-scratch", ("audio", "image"), "world", "audio and image towers from random init, fixed epochs",
          "fixed", "ablation", WORLD + FIXED),
    Space("video-scratch", ("video", "image"), "world", "video and image towers from random init, fixed epochs",
          "fixed", "ablation", WORLD + FIXED + ("n_frames", "video_size")),
    Space("world-clip-scratch", ("image", "text"), "world", "image and text towers from random init by CLIP's "
          "recipe", "clip-scratch", "ablation", WORLD + SCRATCH),
    Space("flickr8k-locked", ("image", "text"), "flickr8k", "frozen EfficientNet-Lite0 + MiniLM, linear heads, "
          "fixed epochs", "fixed", "ablation", ("flickr_train", "flickr_test", "flickr_dim", "flickr_epochs",
                                                "batch_size", "lr")),
)}
SPACES = tuple(REGISTRY)
CLIP_SPACES = tuple(n for n, s in REGISTRY.items() if s.role == "clip" and s.recipe == "clip")  # image-text
BOUND_SPACES = tuple(n for n, s in REGISTRY.items() if s.recipe == "bound")


def space(name: str) -> Space:
    """The registry's record of ``name``; an unknown name is refused with the valid ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown space {name!r}; valid: {', '.join(REGISTRY)}") from None


def run_dir(cfg: SpaceConfig, name: str) -> Path:
    """``runs/05_connect/<preset>/<space>-<hash>``: the hash covers the seed and the space's own ``fields``, so a
    changed setting of this space never reuses its checkpoint, and another space's setting never retrains it."""
    rec = space(name)
    params = {"seed": cfg.seed, **{k: getattr(cfg, k) for k in rec.fields}}
    return runs_dir("05_connect") / cfg.preset / f"{name}-{key_of(params)[:10]}"
