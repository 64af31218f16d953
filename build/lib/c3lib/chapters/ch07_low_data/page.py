"""Chapter 07's page: the paper's Table 5 (and Table 2 at 0 %) beside ours, and the sentences built from the run."""

from __future__ import annotations

from typing import Any, Sequence

from c3lib import paper
from c3lib.chapters.ch07_low_data.claims import beats_key
from c3lib.chapters.ch07_low_data.setting import CLAIM_METRIC, METRICS
from c3lib.results import row
from c3lib.verdict import HELD, NOT_HELD, WITHIN_NOISE, Verdict

NAN = float("nan")


def paper_value(fraction: float, method: str, metric: str) -> float | None:
    """The paper's Table 5 (or Table 2 at 0 %) value, ``None`` where it has none."""
    table = paper.TABLE2 if fraction == 0 else paper.TABLE5.get(float(fraction), {})
    return paper.table_row(table, method, metric) if method in table else None


def paper_values() -> dict[str, Any]:
    """What the results file quotes: Table 5, and Table 2 for the 0 % (zero-shot) rows."""
    return {"table5": {f"{f:g}": {m: dict(zip(METRICS, v)) for m, v in rows.items()} for f, rows in paper.TABLE5.items()},
            "zero_shot_table2": {m: dict(zip(METRICS, v)) for m, v in paper.TABLE2.items()}}


def paper_prose() -> dict[str, Any]:
    """The paper's numbers the page states: C3 and ClipCap per fraction, C1 at 100 %, the ranking at 1 %."""
    prose: dict[str, Any] = {f"p_{k}_{f:g}": paper_value(f, m, CLAIM_METRIC) for f in paper.TABLE5
                             for k, m in (("c3", "C3"), ("cc", "ClipCap"))}
    first = min(paper.TABLE5)
    ranked = sorted(((m, paper_value(first, m, CLAIM_METRIC)) for m in paper.TABLE5[first] if m != "ClipCap"),
                    key=lambda x: -x[1])
    prose.update({"p_c1_100": paper_value(100.0, "C1", CLAIM_METRIC), "p_first": first,
                  "p_rank_first": ", ".join(f"{m} {x:.1f}" for m, x in ranked)})
    return prose


def comparison(summary: Sequence[dict]) -> list[dict]:
    """CIDEr and BLEU-4 of every (fraction, method) beside the paper's."""
    rows = []
    for rec in summary:
        f, m = rec["fraction"], rec["method"]
        for metric in (CLAIM_METRIC, "BLEU-4"):
            label = "zero-shot" if f == 0 else f"{f:g} % pairs"
            rows.append(row(f"{metric} {m}, {label}", paper_value(f, m, metric), round(rec[metric], 1),
                            f"mean of {rec['n_seeds']} seed(s), std {rec[metric + ' std']:.1f}; "
                            f"{rec['n_pairs']} pairs" if f else "no fine-tuning (paper: Table 2)"))
    return rows


def table5_frame(summary: Sequence[dict]):
    """Ours (mean ± std over seeds) per fraction and method, with the paper's BLEU-4 and CIDEr (a DataFrame)."""
    import pandas as pd

    s = pd.DataFrame(summary)
    show = [m for m in ("BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", CLAIM_METRIC) if s[m].notna().any()]
    return pd.DataFrame({
        "fraction %": s["fraction"], "method": s["method"], "seeds": s["n_seeds"],
        **{m: [f"{a:.1f} ± {d:.1f}" for a, d in zip(s[m], s[f"{m} std"])] for m in show},
        **{f"paper {m}": [paper_value(f, meth, m) for f, meth in zip(s["fraction"], s["method"])]
           for m in ("BLEU-4", CLAIM_METRIC)},
    }).set_index(["fraction %", "method"])


def _said(v: Verdict) -> str:
    return f"**{v.verdict}**" + (f" ({v.interval()})" if v.effect is not None else "")


def _beats_per_fraction(found: Sequence[Verdict], cider: dict, fractions: Sequence[float]) -> str:
    by_key = {v.key: v for v in found}
    small, parts = min(fractions), []
    for f in sorted(set(fractions)):
        if (f, "C3") not in cider or (f, "ClipCap") not in cider:
            continue
        p = paper_value(f, "C3", CLAIM_METRIC), paper_value(f, "ClipCap", CLAIM_METRIC)
        theirs = f"; paper {p[0] - p[1]:+.1f}" if None not in p else ""
        v = by_key.get(beats_key(f, small))
        said = (_said(v) if v is not None else
                f"{cider[f, 'C3'] - cider[f, 'ClipCap']:+.1f} in the means (the claim is tested below 100 % only)")
        parts.append(f"{f:g} %: {said} (C3 {cider[f, 'C3']:.1f}, ClipCap {cider[f, 'ClipCap']:.1f}{theirs})")
    return "; ".join(parts) if parts else "ClipCap did not run"


def top(values: dict[str, float]) -> str:
    """The key with the highest value, or every tied key joined by " = " (``"C1 = C3"``); "" when empty."""
    best = max(values.values(), default=None)
    return " = ".join(k for k, x in values.items() if x == best)


def _weakest(v: Verdict) -> str:
    """The comparison an ``all_of`` verdict's effect and interval come from, with them."""
    return f"{v.statistic.split('(weakest: ')[-1].rstrip(')')}: {v.interval()}"


def _corrupt_sentence(found: Sequence[Verdict], small: float, zero_shot: dict[str, float]) -> str:
    v = next(v for v in found if v.key == "v_corrupt")
    if v.verdict == HELD:
        text = (f"As in the paper, the corrupted variants lead at {small:g} %: C3 and C2-corrupt are each above C1 "
                f"and C2-collapse beyond noise (the narrowest, {_weakest(v)}).")
    elif v.verdict == NOT_HELD:
        text = (f"Unlike the paper, where the corrupted variants (C3, C2-corrupt) lead at small fractions, here they "
                f"do not at {small:g} %: one of them is not above an uncorrupted variant, the whole interval at or "
                f"below 0 ({_weakest(v)}).")
    elif v.verdict == WITHIN_NOISE:
        text = (f"The paper's corrupted variants lead at small fractions; at {small:g} % this run cannot tell them "
                f"from the uncorrupted ones: the narrowest comparison ({_weakest(v)}) straddles 0.")
    else:
        text = f"Whether the corrupted variants lead at {small:g} % is not tested here ({v.verdict})."
    if zero_shot:
        theirs = {m: paper_value(0, m, CLAIM_METRIC) for m in paper.TABLE2}
        text += (f" Zero-shot (the 0 % row) the highest mean is {top(zero_shot)}'s, {max(zero_shot.values()):.1f}; "
                 f"in the paper's Table 2 it is {top(theirs)}'s, {max(theirs.values()):.1f}.")
    return text


def page(out: dict[str, Any], found: Sequence[Verdict], fractions: Sequence[float],
         variants: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``(prose, markdown)``: the numbers and sentences the page glues."""
    summary, pool, task = out["summary"], out["pool"], out["task"]
    cider = {(r["fraction"], r["method"]): r[CLAIM_METRIC] for r in summary}
    n_pairs = {r["fraction"]: r["n_pairs"] for r in summary}
    small, full = min(fractions), max(fractions)
    zs = {m: cider[0.0, m] for m in variants if (0.0, m) in cider}
    at_small = {m: cider[small, m] for m in (*variants, "ClipCap") if (small, m) in cider}
    at_full = {m: cider[full, m] for m in variants if (full, m) in cider}
    ranked = sorted(((m, cider[small, m]) for m in variants if (small, m) in cider), key=lambda x: -x[1])
    finetuned = [r for r in out["runs"] if r["fraction"] > 0 and r["method"] != "ClipCap"]
    kept = {}
    for f in sorted({r["fraction"] for r in finetuned}):
        here = [r for r in finetuned if r["fraction"] == f]
        kept[f] = f"{f:g} %: {sum(int(r['kept_pretrained']) for r in here)} of {len(here)}"
    prose: dict[str, Any] = {
        **paper_prose(), "task": task["task"], "space": task["space"], "pool_images": pool["n_images"],
        "pool_pairs": pool["n_pairs"], "val_images": pool["n_val_images"], "val_pairs": pool["n_val_pairs"],
        "test_images": task["n_test_images"], "train_captions": task["n_train_captions"],
        "pairs_per_fraction": ", ".join(f"{f:g} % = {n}" for f, n in sorted(n_pairs.items()) if f > 0),
        "small": small, "full": full, "n_small_pairs": n_pairs.get(small, 0), "n_full_pairs": n_pairs.get(full, 0),
        "c3_small": at_small.get("C3", NAN), "cc_small": at_small.get("ClipCap", NAN),
        "zero_shot": ", ".join(f"{m} {x:.1f}" for m, x in zs.items()),
        "gain_c3": f"{at_small.get('C3', NAN) - zs.get('C3', NAN):+.1f}",
        "rank_small": ", ".join(f"{m} {x:.1f}" for m, x in ranked), "kept": ", ".join(kept.values()),
        "cc_full": cider.get((full, "ClipCap"), NAN), "best_zs": top(zs), "best_zs_cider": max(zs.values(), default=NAN),
        "c3_full": at_full.get("C3", NAN), "c3_full_gain": f"{at_full.get('C3', NAN) - zs.get('C3', NAN):+.1f}",
        "best_full": top(at_full), "best_full_cider": max(at_full.values(), default=NAN)}
    markdown = {"beats_per_fraction": _beats_per_fraction(found, cider, fractions),
                "corrupt_sentence": _corrupt_sentence(found, small, zs)}
    return prose, markdown
