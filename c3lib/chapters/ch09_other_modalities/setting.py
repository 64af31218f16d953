"""Chapter 09's setting: the modalities, the variants, what each world rendering can say, and the config."""

from __future__ import annotations

import dataclasses

from c3lib.config import ChapterConfig, ConfigError
from c3lib.decoders import CaptionSetup

CHAPTER = "09_other_modalities"
MODALITIES = ("image", "audio", "video")
VARIANTS = ("C1", "C2-collapse", "C2-corrupt", "C3")
METRICS = ("BLEU-1", "METEOR", "ROUGE-L", "CIDEr", "attr_precision", "attr_recall")
CLAIM_METRIC = "ROUGE-L"  # Table 4's metric whose corpus score is the mean of per-item scores: the verdicts pair them
# What each world rendering can carry (c3lib.data.render): the decoder can only be right about these.
EXPRESSIBLE = {
    "image": "shape, colour, size, position and the relation between two objects",
    "audio": "colour (pitch), shape (timbre), size (loudness) and left-right order (onset); no vertical position",
    "video": "everything the image shows, plus each object's motion (which the image-caption decoder has no "
             "words for, and which attribute scoring does not count)",
}


@dataclasses.dataclass(frozen=True)
class OtherModalitiesConfig(ChapterConfig):
    modalities: tuple[str, ...] = MODALITIES  # image | audio | video
    variants: tuple[str, ...] = VARIANTS  # chapter 06's decoder variants
    seeds: tuple[int, ...] = (0, 1, 2)  # chapter 06's decoder seeds
    n_val: int = 500  # paper: validation items of each modality's decoder task (the world's binding is chapter 05's)
    control: bool = True  # also bind audio to a fresh (random) image head: the unbound control
    meteor: bool = True  # METEOR runs Java
    setup: CaptionSetup = dataclasses.field(default_factory=CaptionSetup)  # chapter 06's tasks and decoders
    n_examples: int = 6  # qualitative examples
    imagebind_weights: str = ""  # paper: local imagebind_huge.pth; "" -> $C3_WEIGHTS/imagebind_huge.pth

    PRESETS = {
        "smoke": {"seeds": (0,), "n_val": 64, "meteor": False, "n_examples": 4},
        "default": {},
        "paper": {"n_val": 1000},
    }

    def __post_init__(self) -> None:
        for name, valid in (("modalities", MODALITIES), ("variants", VARIANTS)):
            bad = [v for v in getattr(self, name) if v not in valid]
            if bad:
                raise ConfigError(f"unknown {name} {bad}; valid: {', '.join(valid)}")
