"""Chapter 08's claims: Table 3's order of the variants, tested per space as measured differences.

The paper (section 5.2, Table 3): C3 "consistently outperforms the baselines" and "each component of C3 is
useful": FID C3 < C2-corrupt < C2-collapse < C1 (lower is better), each C2 below C1, and IS in the same order
(higher is better). Each ordering is a :func:`c3lib.verdict.difference` with the region "> 0":

* FID and IS are statistics of a whole set of images: one value per generator seed, compared by Welch's t over
  seeds; a space with one seed per variant has no estimate of their noise ("not enough data").
* attribute accuracy (world spaces: the share of attribute kinds the classifier reads in each generated image as
  its prompt's scene has them) and the text-image cosine (each image's embedding with its own prompt's) are
  scores per prompt; every row of a space draws from the same N prompts, so they are compared paired over
  prompts, plus the spread over seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from c3lib import verdict
from c3lib.chapters.ch08_text_to_image.setting import VARIANTS
from c3lib.verdict import Verdict

METRICS = ("fid", "kid", "fid_space", "kid_space", "attr_accuracy", "text_image_cosine", "inception_score")
SHORT = {"world-clip": "world", "flickr8k-clip": "flickr", "world-clip-scratch": "clipscratch",
         "world-scratch": "ablation", "coco-clip": "coco"}
PAPER_SPACE = "coco-clip"  # the paper's own setting (MS-COCO, CLIP ViT-B/32): the paper preset only

# Table 3's order as (better, worse) pairs: the chain C3 < C2-corrupt < C2-collapse < C1 and each C2 below C1
ORDER = {("C3", "C2-corrupt"): ("c3_corrupt", "C3 beats C2-corrupt (Table 3's order)"),
         ("C2-corrupt", "C2-collapse"): ("corrupt_collapse", "C2-corrupt beats C2-collapse (Table 3's order)"),
         ("C2-collapse", "C1"): ("collapse_c1", "C2-collapse beats C1 (collapse alone helps)"),
         ("C2-corrupt", "C1"): ("corrupt_c1", "C2-corrupt beats C1 (corruption alone helps)")}
BEST = ("c3_best", "C3 beats every other trained row (C1, both C2, LAFITE)")
# metric -> (its short key, its name on the page, lower is better, scored per prompt)
MEASURES = {"fid": ("fid", "FID", True, False),
            "fid_space": ("fids", "space-encoder FID", True, False),
            "attr_accuracy": ("attr", "attribute accuracy per image", False, True),
            "text_image_cosine": ("cos", "text-image cosine per image", False, True),
            "inception_score": ("is", "Inception Score", False, False)}
IS_OFFLINE = ("the Inception Score needs Inception's class probabilities, which the offline network lacks "
              "(torch-fidelity computes it at the paper preset)")


def summarise(runs: list[dict], n_images: int, n_inception: int) -> dict[str, dict[str, dict[str, Any]]]:
    """``summary[space][variant]`` = mean over seeds of each metric (``None`` where a space has no such metric:
    attribute accuracy off the world, the Inception Score offline) and the seed std (``ddof=1``; ``None`` with
    one seed) of both FIDs; ``n_images``: N of the space-encoder scores, ``n_inception``: of Inception's."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for space in dict.fromkeys(r["space"] for r in runs):
        out[space] = {}
        for variant in dict.fromkeys(r["variant"] for r in runs if r["space"] == space):
            rs = [r for r in runs if r["space"] == space and r["variant"] == variant]
            mean = {m: None if any(r[m] is None for r in rs) else float(np.mean([r[m] for r in rs]))
                    for m in METRICS}
            std = {f"{m}_std": float(np.std([r[m] for r in rs], ddof=1)) if len(rs) > 1 else None
                   for m in ("fid", "fid_space")}
            out[space][variant] = {**mean, **std, "n_seeds": len(rs), "n_images": n_images, "n_inception": n_inception}
    return out


def fid_gaps(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, float | None]]:
    """Per space, how far C1 and C3 stand from the supervised ceiling in mean FID, and the share of C1's gap
    that C3 closes (``None`` when C1 is not worse than the ceiling)."""
    out = {}
    for space, s in summary.items():
        f = {v: s[v]["fid"] for v in s}
        if "supervised" not in f:
            continue
        gap = f["C1"] - f["supervised"]
        out[space] = {"FID gap C1 - supervised": gap}
        if "C3" in f:
            out[space]["FID gap C3 - supervised"] = f["C3"] - f["supervised"]
            out[space]["share of the C1 gap closed by C3"] = (f["C1"] - f["C3"]) / gap if gap > 0 else None
    return out


def _values(runs: list[dict], space: str, variant: str, metric: str, per_item: bool) -> np.ndarray:
    """Per seed (in seed order): the metric's value ``(k,)``, or its per-prompt scores ``(k, n)``."""
    rs = sorted((r for r in runs if r["space"] == space and r["variant"] == variant), key=lambda r: r["seed"])
    return np.array([r["items"][metric] if per_item else r[metric] for r in rs], dtype=float)


def ordering(runs: list[dict], space: str, better: str, worse: str, metric: str, claim: str = "",
             key: str = "") -> Verdict:
    """``better`` beats ``worse`` on ``metric`` in ``space``: the difference oriented so that the claim says
    "> 0" (``worse − better`` for FID, ``better − worse`` for the others)."""
    _, name, lower, per_item = MEASURES[metric]
    a, b = (worse, better) if lower else (better, worse)
    present = {r["variant"] for r in runs if r["space"] == space}
    if not {a, b} <= present:
        return verdict.not_run(claim, f"{name}, {a} − {b}", space, key, why="variant not trained at this preset")
    return verdict.difference(_values(runs, space, a, metric, per_item), _values(runs, space, b, metric, per_item),
                              claim, f"{name}, {a} − {b}", verdict.above(0), space, key)


def space_claims(runs: list[dict], space: str) -> list[Verdict]:
    """Every ordering of Table 3 in one space, on each metric the space has (attribute accuracy: world only;
    the Inception Score: the paper preset only)."""
    rs = [r for r in runs if r["space"] == space and r["variant"] in VARIANTS]
    short, out = SHORT[space], []
    for metric, (mkey, name, _, _) in MEASURES.items():
        if any(r[metric] is None for r in rs):
            if metric == "inception_score":
                out.append(verdict.not_run("Table 3's order and C3 best, in IS", name, space, f"v_is_{short}",
                                           why=IS_OFFLINE))
            continue  # attribute accuracy: a space without ground-truth attributes has no such metric
        for (better, worse), (pkey, claim) in ORDER.items():
            out.append(ordering(runs, space, better, worse, metric, f"{claim}, {name}", f"v_{mkey}_{pkey}_{short}"))
        others = [v for v in VARIANTS if v != "C3"]
        parts = [ordering(runs, space, "C3", v, metric) for v in others]
        claim = f"{BEST[1]}, {name}"
        if "C3" not in {r["variant"] for r in rs}:
            out.append(verdict.not_run(claim, name, space, f"v_{mkey}_{BEST[0]}_{short}", why="C3 not trained"))
        else:
            out.append(verdict.all_of(parts, claim, name, space, f"v_{mkey}_{BEST[0]}_{short}"))
    return out


def claims(runs: list[dict], spaces: tuple[str, ...]) -> list[Verdict]:
    """The claims of every space run, then the paper's own setting stated as not run when the preset skips it."""
    out = [v for space in spaces for v in space_claims(runs, space)]
    if PAPER_SPACE not in spaces:
        out.append(verdict.not_run("Table 3's order in the paper's setting (MS-COCO, CLIP ViT-B/32)",
                                   "FID, IS, text-image cosine", PAPER_SPACE, f"v_order_{SHORT[PAPER_SPACE]}",
                                   why="the paper preset only: CLIP ViT-B/32 download and MS-COCO images"))
    return out
