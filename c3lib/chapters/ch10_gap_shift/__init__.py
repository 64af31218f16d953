"""Chapter 10, gap-shift sensitivity (paper Appendix G, Table 6): a decoder trained on text embeddings ``x``
and evaluated on ``x + c``, with ``c`` a constant vector orthogonal to the span of the text embeddings.

The sweep (the decoder, the direction, the shifted captions): :mod:`.sweep`. The claims and the page's
sentences: :mod:`.verdicts`.
"""

from __future__ import annotations

import dataclasses

from c3lib.chapter import ChapterResult
from c3lib.chapters.ch10_gap_shift.sweep import (load_texts, normalised, orthogonal_direction, paper_normalised,
                                                 shift_panel, shift_sweep, span_share, sweep)
from c3lib.chapters.ch10_gap_shift.verdicts import (FALLS, MONOTONE, PAPER_SIZE, claims, comparison, examples, page,
                                                    paper_share, paper_values, space_label)
from c3lib.checks import AT_LEAST_1, OPEN_FRACTION
from c3lib.config import ChapterConfig
from c3lib.trainer import TrainConfig, convergence

__all__ = ["FALLS", "MONOTONE", "PAPER_SIZE", "GapShiftConfig", "PANEL_K", "PANEL_SLIDERS", "claims", "load_texts",
           "normalised", "orthogonal_direction", "paper_normalised", "paper_share", "run", "shift_panel",
           "shift_sweep", "space_label", "span_share"]

TEXT_SPACES = ("", "flickr8k-clip", "flickr8k-locked")
PANEL_SLIDERS = {"norm": (0.0, 3.0, 0.1, 1.0)}  # the live panel's gap distance: (min, max, step, the book's view)
PANEL_K = 6  # held-out captions the live panel decodes


@dataclasses.dataclass(frozen=True)
class GapShiftConfig(ChapterConfig):
    norms: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0)  # gap distances ||c|| (Table 6)
    source: str = "flickr8k"  # caption texts: flickr8k | coco | bag-of-words (generated, no data needed)
    space: str = "flickr8k-clip"  # text embeddings through this chapter 05 space's text tower; "" = MiniLM as is
    n_train: int = 8000  # training captions (MiniLM text embeddings)
    n_test: int = 500  # held-out captions to reconstruct
    var_kept: float = 0.99  # the "span": principal directions holding this share of the variance
    decoder: TrainConfig = dataclasses.field(default_factory=TrainConfig)  # the captioning decoder (per preset)
    meteor: bool = True  # METEOR runs Java (~2 s per call)

    RANGES = {"var_kept": OPEN_FRACTION, "n_train": AT_LEAST_1, "n_test": AT_LEAST_1}

    PRESETS = {
        # the captioning decoder (its validation loss ends training; smoke: a 12-epoch ceiling)
        "smoke": {"source": "bag-of-words", "space": "", "n_train": 400, "n_test": 60, "meteor": False,
                  "decoder": {"num_epochs": 12, "warmup_steps": 100, "min_word_freq": 1}},
        "default": {"decoder": {"warmup_steps": 100}},
        "paper": {"source": "coco", "n_train": 40000, "n_test": 1000},  # ClipCap's recipe (c3lib.trainer)
    }

    def __post_init__(self):
        if self.space not in TEXT_SPACES:
            raise ValueError(f"space must be one of {TEXT_SPACES} (a chapter 05 space with a text tower over "
                             f"MiniLM, or '' for MiniLM as is), got {self.space!r}")
        if self.space and self.source == "bag-of-words":
            raise ValueError("the generated bag-of-words captions have no MiniLM features for a space's text "
                             "tower: use space='' with source='bag-of-words'")


def run(cfg: GapShiftConfig, progress: bool = True) -> ChapterResult:
    """The sweep, its claims and the page's sentences.

    ``metrics``: the scores per ``||c||`` (``rows``), the per-item ROUGE-1 per ``||c||`` (``rouge1_items``), the
    verdict of each step of the sweep (``monotone_steps``), the direction, sizes, examples, the space's gap
    length, the sweep in the space's own units (``normalised``, and the paper's) and along the real gap.
    ``artifacts``: the captions, the references, and the decoder, ``c`` and test embeddings of the live panel.
    """
    out = sweep(cfg)
    items = [[round(float(x), 4) for x in it] for it in out["items"]]  # as saved: the verdicts are reproducible
    space = space_label(cfg.source, out["encoder"])
    found, steps = claims(cfg.norms, items, space)
    norm_rows, paper_rows = normalised(out["rows"], out["gap_length"]), paper_normalised()
    prose, markdown = page(out, found, steps, norm_rows, paper_rows, space)
    prose.update({"panel_k": PANEL_K, "panel_norm": PANEL_SLIDERS["norm"][3]})
    metrics = {"rows": out["rows"], "direction": out["direction"], "n_train": out["n_train"],
               "n_test": out["n_test"], "encoder": out["encoder"], "epochs_trained": len(out["train_log"]),
               "decoder_convergence": convergence(out["train_log"], cfg.decoder.num_epochs),
               "examples": examples(out["references"], out["captions"], cfg.norms),
               "gap_length": out["gap_length"], "normalised": norm_rows, "paper_normalised": paper_rows,
               "along_gap": out["along_gap"], "monotone_steps": [v.to_dict() for v in steps],
               "rouge1_items": {f"{r:g}": it for r, it in zip(cfg.norms, items)}}
    return ChapterResult("10_gap_shift", metrics, found, comparison(out["rows"], cfg.norms), paper_values(), prose,
                         markdown, {k: out[k] for k in ("captions", "references", "captioner", "c", "test_emb")})
