"""Chapter 06, image-free captioning (paper section 5.1, Table 2, Fig 10).

A decoder trained on text embeddings alone captions images, with C1 (no change), C2-collapse (subtract each
modality's mean), C2-corrupt (noise in training) and C3 (both), on every captioning space of the book; three
decoder seeds each. The tasks and decoders are :mod:`c3lib.tasks` and :mod:`c3lib.decoders`; here are the
chapter's config, the paper's Table 2 and the claims tested on our numbers.

The gap's cost (issue 12): the same decoder trained on the training images' embeddings with their captions
(``supervised``, the ceiling) against C1 on the same held-out images; cost = 1 - CIDEr(C1) / CIDEr(supervised)
per space, and C3's gain over C1 against each space's gap. The ablation spaces run fewer decoder seeds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from c3lib.checks import AT_LEAST_1
from c3lib.config import ChapterConfig
from c3lib.decoders import CaptionSetup, run_grid

# Paper Table 2 (MS-COCO, CLIP ViT-B/32 + GPT-2), in c3lib.metrics.TABLE_METRICS order
# (BLEU-1, BLEU-4, METEOR, ROUGE-L, CIDEr, SPICE); C3's std over three runs.
PAPER_TABLE2 = {
    "C1": (28.1, 2.4, 12.2, 25.4, 13.0, 6.8),
    "C2-collapse": (44.4, 6.1, 15.5, 33.6, 25.2, 9.2),
    "C2-corrupt": (69.0, 25.5, 24.3, 50.8, 87.6, 17.6),
    "C3": (71.0, 27.7, 25.0, 52.0, 93.3, 18.3),
}
PAPER_C3_STD = (0.1, 0.1, 0.0, 0.0, 0.3, 0.1)
# The gap's cost in the paper's setting: C1 13.0 (Table 2) against supervised ClipCap's 108 (MLP mapper)
PAPER_GAP_COST = {"C1": 13.0, "supervised": 108.0, "gap_cost": round(1 - 13.0 / 108.0, 3), "gap_length": 0.82}


@dataclasses.dataclass(frozen=True)
class CaptioningConfig(ChapterConfig):
    tasks: tuple[str, ...] = ("flickr8k-clip", "world-clip", "world", "flickr8k", "flickr8k-coco")  # + coco-clip
    variants: tuple[str, ...] = ("C1", "C2-collapse", "C2-corrupt", "C3", "supervised")
    seeds: tuple[int, ...] = (0, 1, 2)  # decoder seeds (the space is chapter 05's, seed `seed`)
    ablation_tasks: tuple[str, ...] = ("world", "flickr8k", "flickr8k-coco")  # today's spaces (issue 12's ablation)
    ablation_seeds: tuple[int, ...] = (0,)  # their decoder seeds: one, to pay for the CLIP-recipe spaces
    setup: CaptionSetup = dataclasses.field(default_factory=CaptionSetup)  # task sizes, noise, the decoder
    meteor: bool = True  # METEOR runs Java (~0.5 s a call once started)
    n_examples: int = 6  # qualitative examples per variant

    RANGES = {"n_examples": AT_LEAST_1}

    PRESETS = {
        "smoke": {"tasks": ("world",), "seeds": (0,), "meteor": False, "variants": ("C1", "C2-collapse",
                                                                                   "C2-corrupt", "C3")},
        "default": {},
        "paper": {"tasks": ("coco-clip", "flickr8k-clip", "world-clip", "world", "flickr8k", "flickr8k-coco"),
                  "ablation_seeds": (0, 1, 2)},
    }


def run(cfg: CaptioningConfig, progress: bool = True) -> dict[str, Any]:
    """Every (space, variant, seed) decoder trained (or loaded) and scored, in one pool of processes
    (:func:`c3lib.decoders.run_grid`); the ablation tasks with ``ablation_seeds``, the others with ``seeds``."""
    seeds = {task: cfg.ablation_seeds if task in cfg.ablation_tasks else cfg.seeds for task in cfg.tasks}
    return run_grid(cfg.setup, cfg.context, cfg.tasks, cfg.variants, seeds, cfg.meteor,
                    cfg.n_examples, progress)


def gap_cost(summary: list[dict], spaces: dict[str, dict], metric: str = "CIDEr") -> dict[str, dict[str, Any]]:
    """Per space with a ``supervised`` run: cost = 1 - C1 / supervised, C3's gain over C1, and the gap."""
    out = {}
    for task in dict.fromkeys(r["task"] for r in summary):
        m = {r["variant"]: r.get(metric) for r in summary if r["task"] == task}
        n = {r["variant"]: r["n_seeds"] for r in summary if r["task"] == task}
        if "supervised" not in m or "C1" not in m:
            continue
        def ratio(a, b):  # None where the denominator scored 0 (a decoder that captions nothing right)
            return a / b if b else None
        ceiling = ratio(m["C1"], m["supervised"])
        row = {"supervised": m["supervised"], "C1": m["C1"], "gap_cost": None if ceiling is None else 1 - ceiling,
               "modality_gap": spaces[task]["modality_gap"], "n_seeds": min(n.values())}
        if "C3" in m:
            row.update({"C3": m["C3"], "C3_gain_over_C1": m["C3"] - m["C1"], "C3_over_C1": ratio(m["C3"], m["C1"]),
                        "C3_share_of_ceiling": ratio(m["C3"], m["supervised"])})
        out[task] = row
    return out


def claims(summary: list[dict], metric: str = "CIDEr") -> dict[str, dict[str, bool]]:
    """Per space, the paper's claims on ``metric``'s mean: C3 best, collapse helps, corrupt helps."""
    out = {}
    for task in dict.fromkeys(r["task"] for r in summary):
        m = {r["variant"]: r.get(metric) for r in summary if r["task"] == task}
        c = {}
        if "C3" in m:
            c["C3 best"] = all(m["C3"] >= v for k, v in m.items() if k not in ("C3", "supervised"))
        if "C1" in m and "C2-collapse" in m:
            c["collapse helps (C2-collapse > C1)"] = m["C2-collapse"] > m["C1"]
        if "C1" in m and "C2-corrupt" in m:
            c["corrupt helps (C2-corrupt > C1)"] = m["C2-corrupt"] > m["C1"]
        out[task] = c
    return out
