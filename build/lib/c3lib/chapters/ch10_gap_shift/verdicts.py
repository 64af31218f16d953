"""Chapter 10's claims and the sentences its page states, built from the sweep.

The paper (Appendix G, Table 6): "We observe substantial performance drops when the gap grows". Three claims
on the per-item ROUGE-1 of the same held-out captions at each ``||c||`` (paired over captions; one decoder, so
the intervals carry the captions' noise only, not the decoder's training noise):

* **the score falls**: ROUGE-1 at ``||c|| = 0`` minus ROUGE-1 at ``||c|| = 2`` is above 0;
* **it falls at every step** (never an increase): for each step of the sweep, ROUGE-1 at the smaller ``||c||``
  minus ROUGE-1 at the larger one is above 0, for all of the steps. A step whose interval straddles 0 leaves
  the claim within noise; a step that rises measurably, or whose captions do not change at all (a fall of
  exactly 0), makes it not held;
* **the drop is at least the paper's share**: the paper loses ``p = 1 − 13.8 / 85.5`` of its unshifted
  ROUGE-1 by ``||c|| = 2``. Ours loses at least that share when ``(1 − p) · R(0) − R(2) ≥ 0``, a linear paired
  statistic of the per-item scores (so the interval needs no ratio).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from c3lib import paper, results
from c3lib.chapters.ch10_gap_shift.sweep import normalised
from c3lib.verdict import HELD, NOT_HELD, NOT_RUN, WITHIN_NOISE, Verdict, above, all_of, difference, not_enough, not_run

ROUGE1 = paper.TABLE6_METRICS.index("ROUGE-1")
FALLS = "a decoder trained on x reads x + c worse than x"
MONOTONE = "ROUGE-1 falls at every step as ‖c‖ grows"
PAPER_SIZE = "the drop by ‖c‖ = 2 is at least the paper's share of the unshifted score"
SOURCE_NAMES = {"flickr8k": "Flickr8k", "coco": "MS-COCO", "bag-of-words": "generated"}


def space_label(source: str, encoder: str) -> str:
    """The space the chapter ran in, as the verdict names it."""
    return f"{encoder} embeddings of {SOURCE_NAMES.get(source, source)} captions"


def paper_share() -> float:
    """The share of its unshifted ROUGE-1 the paper's decoder loses by ``||c|| = 2`` (Table 6)."""
    return 1 - paper.TABLE6[2.0][ROUGE1] / paper.TABLE6[0.0][ROUGE1]


def claims(norms: Sequence[float], items: Sequence[Any], space: str) -> tuple[list[Verdict], list[Verdict]]:
    """``(claims, steps)``: the three claims of the module docstring on per-item ROUGE-1 ``items[i]`` ``(n,)`` at
    ``norms[i]``, and the verdict of each step of the sweep (the parts of the second claim)."""
    at = {float(r): np.asarray(x, dtype=float)[None] for r, x in zip(norms, items)}  # (1 seed, n captions)
    order = sorted(at)
    steps = [difference(at[a], at[b], f"ROUGE-1 falls from ‖c‖ = {a:g} to {b:g}",
                        f"ROUGE-1 at ‖c‖ = {a:g} − at {b:g}", above(0), space) for a, b in zip(order, order[1:])]
    if steps:
        monotone = all_of(steps, MONOTONE, "ROUGE-1 fall over each step", space, "v_monotone")
    else:
        monotone = not_enough(MONOTONE, "ROUGE-1 fall over each step", "a sweep of one ‖c‖ has no step", space,
                              "v_monotone")
    if 0.0 in at and 2.0 in at:
        falls = difference(at[0.0], at[2.0], FALLS, "ROUGE-1 at ‖c‖ = 0 − at 2", above(0), space, "v_falls")
        p = paper_share()
        size = difference((1 - p) * at[0.0], at[2.0], PAPER_SIZE,
                          f"ROUGE-1 at ‖c‖ = 0 × {1 - p:.3f} (the share the paper keeps) − at 2", above(0), space,
                          "v_size")
    else:
        why = "‖c‖ = 0 or 2 is not in this run's sweep"
        falls = not_run(FALLS, "ROUGE-1 at ‖c‖ = 0 − at 2", space, "v_falls", why)
        size = not_run(PAPER_SIZE, "ROUGE-1 at ‖c‖ = 0 and 2", space, "v_size", why)
    return [falls, monotone, size], steps


def paper_values() -> dict:
    """Table 6 and CLIP's gap length (Table 1, the unit of Table 6's ``||c||``) as the results file quotes them."""
    return {"table6": {str(k): dict(zip(paper.TABLE6_METRICS, v)) for k, v in paper.TABLE6.items()},
            "clip_gap_length": paper.GAP_LENGTH}


def comparison(rows: Sequence[dict], norms: Sequence[float]) -> list[dict]:
    at = {r["norm"]: r["ROUGE-1"] for r in rows}
    return [results.row(f"ROUGE-1 at ||c|| = {r:g}", paper.TABLE6[r][ROUGE1], round(float(at[r]), 1),
                        "reconstruction of held-out captions") for r in norms if r in paper.TABLE6]


def examples(references: Sequence[str], captions: Sequence[Sequence[str]], norms: Sequence[float],
             k: int = 4, shown: Sequence[float] = (0.0, 0.6, 2.0)) -> list[dict]:
    """The first ``k`` references and what the decoder says at the ``shown`` gap distances."""
    cols = {f"||c|| = {r:g}": caps for r, caps in zip(norms, captions) if r in shown}
    return [{"reference": references[i], **{name: caps[i] for name, caps in cols.items()}}
            for i in range(min(k, len(references)))]


# ---- the page's sentences --------------------------------------------------------------------------------
def _sweep_sentence(r0: float, r2: float, falls: Verdict, monotone: Verdict, steps: Sequence[Verdict]) -> str:
    if falls.verdict == NOT_RUN:
        return "This sweep does not reach both ‖c‖ = 0 and ‖c‖ = 2, so the drop is not tested."
    ci = f"{falls.interval()} points over {falls.n} captions"
    if falls.verdict == HELD:
        text = f"ROUGE-1 **falls** from {r0:.1f} at ‖c‖ = 0 to {r2:.1f} at ‖c‖ = 2 (a drop of {ci})"
    elif falls.verdict == NOT_HELD:
        text = f"ROUGE-1 **does not fall**: {r0:.1f} at ‖c‖ = 0, {r2:.1f} at ‖c‖ = 2 (0 − 2: {ci})"
    else:
        text = (f"ROUGE-1 goes from {r0:.1f} at ‖c‖ = 0 to {r2:.1f} at ‖c‖ = 2, a difference "
                f"**within the noise** of the test captions ({ci})")
    if monotone.verdict == HELD:
        return text + "; it falls measurably at every step of the sweep."
    if monotone.verdict not in (NOT_HELD, WITHIN_NOISE):
        return text + f"; whether it falls at every step is not tested ({monotone.method})."
    short = [v for v in steps if v.verdict != HELD]
    listed = "; ".join(f"{v.statistic}: {v.interval()}, {v.verdict}" for v in short)
    if monotone.verdict == NOT_HELD:
        return text + f". It does not fall at every step of the sweep ({listed})."
    return text + f". Not every step of the sweep is a measurable fall ({listed})."


def _size_sentence(size: Verdict, share: float, n_train: int) -> str:
    ours = (f"Ours loses {100 * share:.0f} % of its unshifted ROUGE-1 by ‖c‖ = 2, the paper's "
            f"{100 * paper_share():.0f} %")
    if size.verdict == HELD:
        return ours + ": the drop is at least the paper's."
    if size.verdict == NOT_RUN:
        return "The drop's size is not tested: the sweep does not reach both ‖c‖ = 0 and 2."
    if size.verdict == NOT_HELD:
        head = ours + ": the drop is smaller than the paper's."
    else:
        head = ours + ": whether the drop reaches the paper's is within the noise of this run."
    return head + (f" Our decoder is a small GPT-2 trained from scratch on {n_train} captions for a few epochs on a "
                   "CPU, where the paper fine-tunes pretrained GPT-2 on MS-COCO; we expect the paper preset to show "
                   "the larger drop, but have not run it.")


def page(out: dict, found: list[Verdict], steps: list[Verdict], norm_rows: list[dict], paper_rows: list[dict],
         space: str) -> tuple[dict[str, Any], dict[str, str]]:
    """``(prose, markdown)``: the numbers and sentences the page glues."""
    at = {r["norm"]: r["ROUGE-1"] for r in out["rows"]}
    r0, r1, r2 = (at.get(n, float("nan")) for n in (0.0, 1.0, 2.0))
    p0 = paper.TABLE6[0.0][ROUGE1]
    share = (r0 - r2) / r0 if r0 else float("nan")
    nan = float("nan")
    rel = {r["shift_in_gaps"]: r["relative"] for r in norm_rows}
    one = min(rel, key=lambda g: abs(g - 1.0)) if out["gap_length"] else nan
    g_rows = normalised(out["along_gap"]["rows"], out["gap_length"]) if out["along_gap"] else []
    g_rel = {r["shift_in_gaps"]: r["relative"] for r in g_rows}
    d = out["direction"]
    prose = {**{f"p_r{i}": paper.TABLE6[float(i)][ROUGE1] for i in (0, 1, 2)},
             "n_train": out["n_train"], "encoder": out["encoder"], "epochs": len(out["train_log"]),
             "n_test": out["n_test"], "span_dims": d["span_dims"], "dim": d["dim"],
             "var_along_c": d["variance_fraction_along_c"], "r0": r0, "r1": r1, "r2": r2,
             "drop_ours_pct": 100 * share, "drop_paper_pct": 100 * paper_share(),
             "gap_length": out["gap_length"] or nan, "paper_gap": paper.GAP_LENGTH, "shift_at_gap": one,
             "rel_at_gap": rel.get(one, nan),
             "paper_rel_1": next(r["relative"] for r in paper_rows if r["norm"] == 0.8),  # about one CLIP gap
             "gap_share_in_span": out["along_gap"]["share_in_span"] if out["along_gap"] else nan,
             "rel_gap_at_gap": g_rel.get(one, nan), "space": space}
    falls, monotone, size = found
    level = "below" if r0 < p0 else "at or above"
    markdown = {"sweep_sentence": _sweep_sentence(r0, r2, falls, monotone, steps),
                "level_sentence": f"Without a shift our decoder reconstructs held-out captions with ROUGE-1 "
                                  f"{r0:.1f}, {level} the paper's {p0:.1f}.",
                "size_sentence": _size_sentence(size, share, out["n_train"])}
    return prose, markdown
