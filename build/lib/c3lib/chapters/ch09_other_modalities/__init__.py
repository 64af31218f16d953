"""Chapter 09, other modalities (paper section 5.3, Table 4, Fig 9): one text-only decoder captions images,
audio and video, through a space where audio and video are bound to the image tower (as in ImageBind).

World (``smoke``, ``default``): chapter 05's world image-text space; audio and video towers bound to its
frozen image tower (:mod:`c3lib.binding`); chapter 06's text-only world decoders (C1, C2-collapse,
C2-corrupt, C3, several seeds), loaded from the run store, caption held-out images, audio clips and videos
(:mod:`.world`). ``paper``: ImageBind (huge) with MS-COCO, Clotho and MSR-VTT (:mod:`.paper`).
Claims and the page's sentences: :mod:`.verdicts`.
"""

from __future__ import annotations

from c3lib.chapter import ChapterResult
from c3lib.chapters.ch09_other_modalities import paper
from c3lib.chapters.ch09_other_modalities.setting import (CHAPTER, CLAIM_METRIC, EXPRESSIBLE, METRICS,
                                                          MODALITIES, VARIANTS, OtherModalitiesConfig)
from c3lib.chapters.ch09_other_modalities.verdicts import (claims, comparison, item_scores, page, paper_values,
                                                           saved_binding, saved_summary, table4_frame)
from c3lib.chapters.ch09_other_modalities.world import (bound_space, chapter06_decoders, retarget, run_world,
                                                        score_modality, summarise)

__all__ = ["CHAPTER", "CLAIM_METRIC", "EXPRESSIBLE", "METRICS", "MODALITIES", "VARIANTS", "OtherModalitiesConfig",
           "bound_space", "chapter06_decoders", "claims", "item_scores", "retarget", "run", "score_modality",
           "summarise", "table4_frame"]

NOTES = {"selection": "binding epoch chosen on validation audio/video-image pairs, never on test "
                      "(the official ImageBind code selects on test)",
         "references": "every modality is scored against the scene's image captions"}


def run(cfg: OtherModalitiesConfig, progress: bool = False) -> ChapterResult:
    """The chapter: binding, emergent retrieval and Fig 9 statistics, Table 4 per modality and its claims.

    ``metrics``: ``summary`` (means over seeds), ``binding``, ``runs`` (one row per modality, variant and seed,
    with per-item scores), ``timing``, ``n_test``, ``notes``. ``artifacts``: the summary with stds, the full
    binding report, the examples and their thumbnails (for the page's tables and figures).
    """
    if cfg.preset == "paper":
        out = paper.run(cfg, chapter06_decoders, score_modality, summarise, progress)
    else:
        out = run_world(cfg, progress)
    found = claims(out["runs"], cfg.modalities)
    prose, markdown = page(out, found, cfg)
    metrics = {"summary": saved_summary(out["summary"]), "binding": saved_binding(out["binding"]),
               "runs": out["runs"], "timing": out["timing"], "n_test": out["n_test"], "notes": NOTES}
    return ChapterResult(CHAPTER, metrics, found, comparison(out["summary"], out["binding"], cfg.modalities,
                                                             cfg.variants),
                         paper_values(), prose, markdown,
                         {"summary": out["summary"], "binding": out["binding"], "examples": out["examples"],
                          "thumbs": out["thumbs"]})
