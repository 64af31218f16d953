"""Chapter 08's configuration: the spaces, the rows, the seeds and the generator's size per preset."""

from __future__ import annotations

from dataclasses import dataclass

from c3lib.config import ChapterConfig, ConfigError
from c3lib.generator import SIZES, GeneratorConfig
from c3lib.image_tasks import PAPER_ONLY, SPACES
from c3lib.transform import DEFAULT_NOISE_STD

CHAPTER = "08_text_to_image"
VARIANTS = ("C1", "C2-collapse", "C2-corrupt", "C3", "LAFITE")
REFERENCES = ("supervised", "real-vs-real")
# LAFITE's perturbation level of image features; source: LAFITE's official code (the paper does not state it)
LAFITE_LEVEL = 0.75


@dataclass(frozen=True)
class TextToImageConfig(ChapterConfig):
    spaces: tuple[str, ...] = ("world-clip-scratch", "flickr8k-clip")  # of SPACES
    variants: tuple[str, ...] = VARIANTS  # trained rows
    seeds: tuple[int, ...] = (0, 1, 2)  # generator seeds per variant on the world spaces
    flickr_seeds: tuple[int, ...] = (0,)  # on Flickr8k (one seed: the chapter's 12-minute CPU budget)
    n_train: int = 0  # training images (0: all of chapter 05's training scenes / all Flickr8k train photos)
    n_eval: int = 128  # N: prompts, generated and real images per row (FID is biased at small N)
    image_size: int = 32  # generated and reference image side
    num_steps: int = 500  # generator optimiser steps
    batch_size: int = 64  # generator batch
    base_channels: int = 16  # generator width
    noise_std: float = DEFAULT_NOISE_STD  # C3 / C2-corrupt noise std (CapDec's variance 0.016)
    lafite_level: float = LAFITE_LEVEL  # LAFITE perturbation level xi
    classifier_epochs: int = 12  # attribute classifier epochs on real training renders (at 6 its accuracy is unstable)
    n_examples: int = 6  # Fig 11 prompts
    workers: int = 0  # processes for the generators (0: one per core); the numbers do not depend on it
    save_runs: bool = True  # keep generators in runs/08_text_to_image

    PRESETS = {
        "smoke": {"spaces": ("world-clip-scratch",), "n_eval": 8, "num_steps": 40, "batch_size": 32, "image_size": 16,
                  "seeds": (0,), "classifier_epochs": 2, "n_examples": 4, "workers": 1},
        # default: sized to 12 minutes on 2 cores (Inception-v3 runs at ~4 images/s on one core): N = 48
        # prompts per row (FID is biased upwards at small N; real-vs-real at the same N is the floor)
        "default": {"n_eval": 48},
        "paper": {"spaces": ("world-clip-scratch", "flickr8k-clip", "coco-clip"), "n_eval": 480, "num_steps": 20000,
                  "image_size": 64, "base_channels": 64, "flickr_seeds": (0, 1, 2)},
    }

    def __post_init__(self):
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad:
            raise ConfigError(f"unknown variant(s) {bad}; valid: {', '.join(VARIANTS)}")
        if "C1" not in self.variants:
            raise ConfigError("variants must include C1: the supervised ceiling reuses its generators")
        bad = [s for s in self.spaces if s not in SPACES]
        if bad:
            raise ConfigError(f"unknown space(s) {bad}; valid: {', '.join(SPACES)}")
        paper_only = [s for s in self.spaces if s in PAPER_ONLY]
        if paper_only and self.preset != "paper":
            raise ConfigError(f"space(s) {paper_only} download CLIP ViT-B/32 and need MS-COCO: preset 'paper' only "
                              f"(smoke and default run offline)")
        if self.n_eval < 8 or not self.seeds or not self.flickr_seeds:
            raise ConfigError("n_eval must be >= 8 and seeds and flickr_seeds non-empty")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0 (0: one per core), got {self.workers}")

    def seeds_of(self, space: str) -> tuple[int, ...]:
        return self.flickr_seeds if space == "flickr8k-clip" else self.seeds

    def generator_config(self, cond_dim: int, seed: int) -> GeneratorConfig:
        base = SIZES.get(self.preset, SIZES["default"])
        return GeneratorConfig(**{**base, "cond_dim": cond_dim, "image_size": self.image_size,
                                  "base_channels": self.base_channels, "num_steps": self.num_steps,
                                  "batch_size": self.batch_size, "seed": seed})
