"""Chapter 08's configuration: the spaces, the rows, the seeds and the generator's size per preset."""

from __future__ import annotations

from dataclasses import dataclass

from c3lib.autoencoder import AE_SIZES, AutoencoderConfig
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
    spaces: tuple[str, ...] = ("world-clip", "flickr8k-clip")  # of SPACES
    variants: tuple[str, ...] = VARIANTS  # trained rows
    seeds: tuple[int, ...] = (0, 1, 2)  # generator seeds per variant, in every space
    n_train: int = 0  # training images (0: all of chapter 05's training scenes / the photos flickr8k-clip trained on)
    n_eval: int = 500  # N: prompts, generated and real images per row (space-encoder FID and KID, per-prompt scores)
    n_inception: int = 100  # the first n of them also scored in Inception features (FID and KID); 0: all N
    image_size: int = 32  # generated and reference image side
    num_steps: int = 0  # denoiser optimiser steps (0: the preset's size, c3lib.generator.SIZES)
    guidance: float = 0.0  # classifier-free guidance scale (0: the preset's size)
    autoencoder_steps: int = 0  # autoencoder optimiser steps (0: the preset's size, c3lib.autoencoder.AE_SIZES)
    noise_std: float = DEFAULT_NOISE_STD  # C3 / C2-corrupt noise std (CapDec's variance 0.016)
    lafite_level: float = LAFITE_LEVEL  # LAFITE perturbation level xi
    classifier_epochs: int = 12  # attribute classifier epochs on real training renders (at 6 its accuracy is unstable)
    n_examples: int = 6  # Fig 11 prompts
    workers: int = 0  # processes for the generators (0: one per core); the numbers do not depend on it
    save_runs: bool = True  # keep autoencoders and generators in runs/08_text_to_image

    PRESETS = {
        "smoke": {"spaces": ("world-clip",), "n_eval": 16, "n_inception": 8, "image_size": 16, "seeds": (0,),
                  "classifier_epochs": 2, "n_examples": 4, "workers": 1},
        # default: N = 500 prompts per row; Inception-v3 runs at ~6 images/s on one core, so its FID and KID
        # read the first 100 of them (KID is unbiased at small N; real-vs-real at the same N is FID's floor)
        "default": {},
        "paper": {"spaces": ("world-clip", "flickr8k-clip", "coco-clip"), "n_inception": 0, "image_size": 64},
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
        if self.n_eval < 8 or not self.seeds:
            raise ConfigError(f"n_eval must be >= 8 (got {self.n_eval}) and seeds non-empty")
        if not 0 <= self.n_inception <= self.n_eval or 0 < self.n_inception < 4:
            raise ConfigError(f"n_inception must be 0 (all N) or between 4 and n_eval={self.n_eval}, "
                              f"got {self.n_inception}")
        for name in ("workers", "num_steps", "autoencoder_steps", "guidance"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (0: the default), got {getattr(self, name)}")

    @property
    def n_inc(self) -> int:
        """Images per row scored in Inception features."""
        return self.n_inception or self.n_eval

    def _size(self, table: dict) -> dict:
        return table.get(self.preset, table["default"])

    def autoencoder_config(self) -> AutoencoderConfig:
        base = self._size(AE_SIZES)
        return AutoencoderConfig(**{**base, "image_size": self.image_size, "seed": self.seed,
                                    **({"num_steps": self.autoencoder_steps} if self.autoencoder_steps else {})})

    def generator_config(self, cond_dim: int, seed: int) -> GeneratorConfig:
        base = self._size(SIZES)
        return GeneratorConfig(**{**base, "cond_dim": cond_dim, "seed": seed,
                                  **({"num_steps": self.num_steps} if self.num_steps else {}),
                                  **({"guidance": self.guidance} if self.guidance else {})})
