"""Chapter 07's config and the names its runs, claims and page share."""

from __future__ import annotations

import dataclasses

from c3lib.checks import AT_LEAST_1, Range
from c3lib.config import ChapterConfig
from c3lib.decoders import CaptionSetup
from c3lib.paper import TABLE_METRICS as METRICS

CHAPTER = "07_low_data"
METHODS = ("ClipCap", "C1", "C2-collapse", "C2-corrupt", "C3")
CLAIM_METRIC = "CIDEr"  # the paper's headline metric; its corpus score is the mean of its per-item scores
__all__ = ["CHAPTER", "CLAIM_METRIC", "METHODS", "METRICS", "LowDataConfig"]


@dataclasses.dataclass(frozen=True)
class LowDataConfig(ChapterConfig):
    task: str = "flickr8k-clip"  # captioning task of chapter 06 whose decoders we fine-tune (tasks.TASKS)
    fractions: tuple[float, ...] = (1.0, 5.0, 25.0, 100.0)  # % of the pool's image-caption pairs
    seeds: tuple[int, ...] = (0, 1, 2)  # fine-tuning seeds (subset and training) below 100 %
    seeds_full: tuple[int, ...] = (0,)  # fine-tuning seeds at 100 % (the subset is the whole pool)
    variants: tuple[str, ...] = ("C1", "C2-collapse", "C2-corrupt", "C3")  # pre-trained decoders (seed 0)
    supervised: bool = True  # also train ClipCap from scratch on the same pairs
    n_val_images: int = 50  # train images (x5 captions) held out for early stopping
    n_pool_images: int = 1000  # images (x5 captions) in the pool the fractions are taken of; 0 = all the rest
    num_epochs: int = 40  # fine-tuning's ceiling: the validation pairs' loss ends it (patience: the decoder's)
    min_steps: int = 60  # every run takes at least this many steps: small subsets are cycled
    lr: float = 3e-4  # fine-tuning rate (pre-trained decoders); 0 = the pre-training rate, as the paper
    meteor: bool = True  # METEOR (Java; c3lib.metrics keeps one process for all the chapter's scorings)
    setup: CaptionSetup = dataclasses.field(default_factory=CaptionSetup)  # chapter 06's tasks and decoders

    RANGES = {"fractions": Range(0, 100, low_open=True), "num_epochs": AT_LEAST_1, "n_val_images": AT_LEAST_1}

    PRESETS = {
        "smoke": {"task": "world-scratch", "seeds": (0,), "n_val_images": 16, "n_pool_images": 0, "num_epochs": 2,
                  "min_steps": 8, "meteor": False},
        "default": {},  # ~10 min here with 2 threads (measured); 1,000 pool images keep it inside 20 min
        "paper": {"n_val_images": 100, "n_pool_images": 0, "num_epochs": 10, "min_steps": 1000, "lr": 0.0},
    }
