"""Chapter 11, span-only noise (paper Appendix H, Table 7): corrupt with the noise along the gap removed.

Span-only noise is Corrupt's Gaussian noise with its component along the gap direction (the difference of
the modality means) projected out. If corruption helped only by covering the gap, span-only noise would
help like collapse alone; the paper finds it does, far below full corruption. Also: how much of the noise
lies along the gap (1/d of its energy), and C2-corrupt against its noise scale (:mod:`.noise`). The claims
and the page's sentences: :mod:`.verdicts`.
"""

from __future__ import annotations

import dataclasses

from c3lib import paper
from c3lib.chapter import ChapterResult
from c3lib.chapters.ch11_span_only_noise.noise import (CLIP_SIGMA, alignment_noise, best_sigma, clip_sigma_ratio,
                                                       noise_along_gap, noise_sweep)
from c3lib.chapters.ch11_span_only_noise.verdicts import (SIMILAR, WORSE, claims, closeness, comparison, item_scores,
                                                          page, paper_values)
from c3lib.checks import AT_LEAST_1, Range
from c3lib.config import ChapterConfig
from c3lib.decoders import CaptionSetup, run_grid, summarise

__all__ = ["CLIP_SIGMA", "SIMILAR", "WORSE", "SpanOnlyConfig", "alignment_noise", "best_sigma", "claims",
           "closeness", "item_scores", "run"]


@dataclasses.dataclass(frozen=True)
class SpanOnlyConfig(ChapterConfig):
    tasks: tuple[str, ...] = ("flickr8k-clip", "world-clip")  # the spaces with CLIP's geometry (+ ablations at paper)
    variants: tuple[str, ...] = ("C1", "C2-collapse", "span-only", "C2-corrupt", "C3")
    seeds: tuple[int, ...] = (0, 1, 2)  # decoder seeds; C1 ... C3 are chapter 06's decoders, loaded
    setup: CaptionSetup = dataclasses.field(default_factory=CaptionSetup)  # chapter 06's tasks and decoder
    sigmas: tuple[float, ...] = (0.03, 0.06, 0.25)  # extra noise levels for C2-corrupt (first seed)
    n_select_images: int = 474  # held-out images sigma is chosen on (Flickr8k: the val photos after the test 500)
    n_noise_pairs: int = 500  # training pairs the alignment noise per dimension is measured on
    meteor: bool = True
    n_examples: int = 6

    RANGES = {"n_examples": AT_LEAST_1, "n_select_images": AT_LEAST_1, "n_noise_pairs": Range(4, 10**7)}

    PRESETS = {
        "smoke": {"tasks": ("world-clip",), "seeds": (0,), "meteor": False, "n_select_images": 16, "n_noise_pairs": 32},
        "default": {},
        "paper": {"tasks": ("coco-clip", "flickr8k-clip", "world-clip", "world-scratch", "flickr8k-coco")},
    }


def run(cfg: SpanOnlyConfig, progress: bool = True) -> ChapterResult:
    """The decoders of every (space, variant, seed), scored (with per-item scores); the noise along the gap;
    the sigma sweep; Table 7's two claims per space.

    ``metrics``: ``runs``, ``summary`` (mean and std over seeds), ``spaces``, ``noise_along_gap``, ``noise_sweep``,
    ``best_sigma``, ``sigma_from_noise``, ``clip_sigma_ratio``. ``artifacts``: the grid's examples and thumbnails,
    and Table 7 in the shape :func:`c3lib.report.summary_table` reads.
    """
    out = run_grid(cfg.setup, cfg.context, cfg.tasks, cfg.variants, cfg.seeds, cfg.meteor, cfg.n_examples, progress)
    out["noise_along_gap"] = noise_along_gap(cfg, out)
    out["clip_sigma_ratio"] = clip_sigma_ratio(cfg.data_dir, cfg.n_noise_pairs, cfg.seed)
    out["noise_sweep"], out["sigma_from_noise"] = noise_sweep(cfg, out, out["clip_sigma_ratio"])
    summary = summarise(out["runs"])
    found = claims(out["runs"], cfg.tasks)
    prose, markdown = page(out, summary, found, cfg)
    metrics = {"runs": out["runs"], "summary": summary, "spaces": out["tasks"],
               "noise_along_gap": out["noise_along_gap"], "noise_sweep": out["noise_sweep"],
               "best_sigma": best_sigma(out["noise_sweep"]), "sigma_from_noise": out["sigma_from_noise"],
               "clip_sigma_ratio": out["clip_sigma_ratio"]}
    return ChapterResult("11_span_only_noise", metrics, found, comparison(summary), paper_values(), prose, markdown,
                         {"examples": out["examples"], "thumbs": out["thumbs"], "table7": paper.TABLE7})
