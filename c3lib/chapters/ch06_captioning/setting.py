"""Chapter 06's config and the names its claims and page share."""

from __future__ import annotations

import dataclasses

from c3lib.checks import AT_LEAST_1
from c3lib.config import ChapterConfig
from c3lib.decoders import SUPERVISED, CaptionSetup

CHAPTER = "06_captioning"
TEXT_ONLY = ("C1", "C2-collapse", "C2-corrupt", "C3")  # the decoders that never see an image
CLAIM_METRIC = "CIDEr"  # the paper's headline metric; its corpus score is the mean of its per-item scores
__all__ = ["CHAPTER", "CLAIM_METRIC", "SUPERVISED", "TEXT_ONLY", "CaptioningConfig"]


@dataclasses.dataclass(frozen=True)
class CaptioningConfig(ChapterConfig):
    tasks: tuple[str, ...] = ("flickr8k-clip", "world-clip", "world-scratch", "flickr8k", "flickr8k-coco")  # + coco-clip
    variants: tuple[str, ...] = ("C1", "C2-collapse", "C2-corrupt", "C3", "supervised")
    seeds: tuple[int, ...] = (0, 1, 2)  # decoder seeds (the space is chapter 05's, seed `seed`)
    ablation_tasks: tuple[str, ...] = ("world-scratch", "flickr8k", "flickr8k-coco")  # spaces kept as ablations
    ablation_seeds: tuple[int, ...] = (0,)  # their decoder seeds: one, to pay for the CLIP-recipe spaces
    ablation_variants: tuple[str, ...] = ("C1", "C3")  # their decoders: C3's gain over C1 against the gap
    supervised_seeds: tuple[int, ...] = (0,)  # the reference reads every training image's captions: one seed
    setup: CaptionSetup = dataclasses.field(default_factory=CaptionSetup)  # task sizes, noise, the decoder
    meteor: bool = True  # METEOR runs Java (~0.5 s a call once started)
    n_examples: int = 6  # qualitative examples per variant

    RANGES = {"n_examples": AT_LEAST_1}

    PRESETS = {
        "smoke": {"tasks": ("world-clip",), "seeds": (0,), "meteor": False, "variants": ("C1", "C2-collapse",
                                                                                   "C2-corrupt", "C3")},
        "default": {},
        "paper": {"tasks": ("coco-clip", "flickr8k-clip", "world-clip", "world-scratch", "flickr8k", "flickr8k-coco"),
                  "ablation_seeds": (0, 1, 2), "supervised_seeds": (0, 1, 2),
                  "ablation_variants": ("C1", "C2-collapse", "C2-corrupt", "C3", "supervised")},
    }
