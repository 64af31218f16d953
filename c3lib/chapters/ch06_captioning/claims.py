"""Chapter 06's claims, each a paired comparison of per-item CIDEr on the same test images.

The paper (section 5.1, Table 2): "both the collapse and corrupt components are crucial for improving
cross-modal evaluation performance" (each above C1), C3, doing both, is best, and (Appendix H) "adding noise
(i.e., corrupt) is more effective than closing the modality gap (i.e., collapse)" (C2-corrupt above
C2-collapse). The chapter adds the claim its admonition states: the gap is what makes C1 fail, so the same decoder
trained on the image embeddings themselves (``supervised``) scores above C1 on the same images. Each claim
is decided per space by :func:`c3lib.verdict.difference` on per-seed per-item scores: a paired bootstrap over
the test images plus the spread over decoder seeds (the ablation spaces run one decoder seed: their verdicts
say that training noise is not estimated). The threshold is the paper's wording, an ordering: above 0.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from c3lib.chapters.ch06_captioning.setting import CLAIM_METRIC, SUPERVISED, TEXT_ONLY
from c3lib.verdict import NOT_RUN, Verdict, above, all_of, difference, not_run

BEST = "C3 is best: above every other text-only variant"
STEPS = (("C2-collapse", "C1", "collapse", "collapse helps: C2-collapse above C1"),
         ("C2-corrupt", "C1", "corrupt", "corrupt helps: C2-corrupt above C1"),
         ("C2-corrupt", "C2-collapse", "order", "corrupt helps more than collapse: C2-corrupt above C2-collapse"))
GAP = "the gap makes C1 fail: the supervised decoder above C1"
ORDERING = ("best", "collapse", "corrupt", "order")  # Table 2's ordering, in the keys of :func:`claims`


def slug(task: str) -> str:
    """A space's name as a glue-key part: ``flickr8k-clip`` -> ``flickr8k_clip``."""
    return task.replace("-", "_")


def key(task: str, claim: str) -> str:
    """The glue key of a claim's verdict word, e.g. ``v_flickr8k_clip_best``."""
    return f"v_{slug(task)}_{claim}"


def item_scores(runs: Sequence[dict], task: str, variant: str, metric: str = CLAIM_METRIC) -> np.ndarray | None:
    """Per-seed per-item scores ``(k, n)`` of one space and variant, seeds in order; None if it did not run."""
    rows = sorted((r for r in runs if r["task"] == task and r["variant"] == variant), key=lambda r: r["seed"])
    return np.array([r["items"][metric] for r in rows], dtype=float) if rows else None


def compare(runs: Sequence[dict], task: str, a: str, b: str, claim: str, k: str = "",
            metric: str = CLAIM_METRIC) -> Verdict:
    """``metric(a) − metric(b) > 0`` on ``task``'s test images, or not run where either variant is missing."""
    sa, sb = item_scores(runs, task, a, metric), item_scores(runs, task, b, metric)
    stat = f"{metric}, {a} − {b}"
    if sa is None or sb is None:
        return not_run(claim, stat, task, k, why=f"{a} or {b} is not among this preset's variants")
    return difference(sa, sb, claim, stat, above(0), task, k)


GAIN = "C3 above C1"  # what an ablation space that trains only C1 and C3 tests


def claims(runs: Sequence[dict], tasks: Sequence[str], metric: str = CLAIM_METRIC) -> list[Verdict]:
    """Per space, in page order: C3 best (all of C3 − C1, C3 − C2-collapse, C3 − C2-corrupt > 0), collapse − C1,
    corrupt − C1, corrupt − collapse, supervised − C1, each > 0 on ``metric``'s per-item scores. A space that
    trained only C1 and C3 (an ablation) has one claim, C3 − C1 > 0."""
    out = []
    for task in tasks:
        ran = {r["variant"] for r in runs if r["task"] == task}
        if not set(TEXT_ONLY) <= ran and {"C1", "C3"} <= ran:
            out.append(compare(runs, task, "C3", "C1", GAIN, key(task, "gain"), metric))
            continue
        parts = [compare(runs, task, "C3", b, f"C3 above {b}", metric=metric) for b in TEXT_ONLY if b != "C3"]
        stat = f"{metric}, C3 − each other text-only variant"
        out.append(not_run(BEST, stat, task, key(task, "best"), why="not every text-only variant ran")
                   if any(p.verdict == NOT_RUN for p in parts) else all_of(parts, BEST, stat, task, key(task, "best")))
        out += [compare(runs, task, a, b, claim, key(task, k), metric) for a, b, k, claim in STEPS]
        out.append(compare(runs, task, SUPERVISED, "C1", GAP, key(task, "gap"), metric))
    return out


def gap_cost(summary: list[dict], spaces: dict[str, dict], metric: str = CLAIM_METRIC) -> dict[str, dict[str, Any]]:
    """Per space with C1 and a ``supervised`` run or C3: cost = 1 - C1 / supervised (``None`` without a
    supervised run), C3's gain over C1, and the gap."""
    out = {}
    for task in dict.fromkeys(r["task"] for r in summary):
        m = {r["variant"]: r.get(metric) for r in summary if r["task"] == task}
        n = {r["variant"]: r["n_seeds"] for r in summary if r["task"] == task}
        if "C1" not in m or not ({"supervised", "C3"} & set(m)):
            continue

        def ratio(a, b):  # None where there is no reference, or it scored 0 (a decoder that captions nothing right)
            return a / b if b else None
        ceiling = ratio(m["C1"], m.get("supervised"))
        row = {"supervised": m.get("supervised"), "C1": m["C1"], "gap_cost": None if ceiling is None else 1 - ceiling,
               "modality_gap": spaces[task]["modality_gap"], "n_seeds": min(n.values())}
        if "C3" in m:
            row.update({"C3": m["C3"], "C3_gain_over_C1": m["C3"] - m["C1"], "C3_over_C1": ratio(m["C3"], m["C1"]),
                        "C3_share_of_ceiling": ratio(m["C3"], m.get("supervised"))})
        out[task] = row
    return out
