"""Chapter 09's claims and the sentences its page states, built from the run.

The paper (section 5.3): "C3 consistently improves baselines in all the settings" of Table 4. Per modality,
on ROUGE-L (:data:`CLAIM_METRIC`: Table 4's metric whose corpus score is the mean of per-item scores), each a
paired comparison over the same test items and the decoder seeds: C3 above C1, above C2-collapse and above
C2-corrupt, and C3 above all three at once; and, as Table 4 shows in every modality, collapse alone and corrupt
alone each above C1.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from c3lib import paper, results
from c3lib.chapters.ch09_other_modalities.setting import CLAIM_METRIC, EXPRESSIBLE, METRICS, MODALITIES, VARIANTS
from c3lib.verdict import HELD, NOT_RUN, Verdict, above, all_of, difference, not_run

BASELINES = (("C1", "c3_c1"), ("C2-collapse", "c3_collapse"), ("C2-corrupt", "c3_corrupt"))
STEPS = (("C2-collapse", "collapse", "collapse alone improves on C1"),
         ("C2-corrupt", "corrupt", "corrupt alone improves on C1"))


def item_scores(runs: Sequence[dict], modality: str, variant: str, metric: str = CLAIM_METRIC) -> np.ndarray | None:
    """Per-seed per-item scores ``(k, n)`` of one modality and variant, seeds in order; None if not run."""
    rows = sorted((r for r in runs if r["modality"] == modality and r["variant"] == variant), key=lambda r: r["seed"])
    return np.array([r["items"][metric] for r in rows], dtype=float) if rows else None


def claims(runs: Sequence[dict], modalities: Sequence[str], metric: str = CLAIM_METRIC) -> list[Verdict]:
    """Per modality: C3 − each baseline > 0, C3 above every baseline (all of them), collapse − C1 > 0 and
    corrupt − C1 > 0, on ``metric``'s per-item scores (paired bootstrap over items plus spread over seeds)."""
    out = []
    for mod in modalities:
        s = {v: item_scores(runs, mod, v, metric) for v in VARIANTS}

        def diff(a: str, b: str, claim: str, key: str) -> Verdict:
            stat = f"{metric}, {a} − {b}"
            if s[a] is None or s[b] is None:
                return not_run(claim, stat, mod, key, why=f"{a} or {b} is not among this run's variants")
            return difference(s[a], s[b], claim, stat, above(0), mod, key)

        beats = [diff("C3", b, f"C3 improves on {b}", f"v_{mod}_{k}") for b, k in BASELINES]
        out += beats
        best, stat = "C3 improves on every baseline", f"{metric}, C3 − baseline"
        out.append(not_run(best, stat, mod, f"v_{mod}_best", why="not every baseline is among this run's variants")
                   if any(v.verdict == NOT_RUN for v in beats) else all_of(beats, best, stat, mod, f"v_{mod}_best"))
        out += [diff(v, "C1", claim, f"v_{mod}_{k}") for v, k, claim in STEPS]
    return out


# ---- what the results file keeps -------------------------------------------------------------------------
def saved_summary(summary: dict) -> dict:
    """The summary as the results file keeps it: means and ``n_seeds`` (the stds stay with the page)."""
    return {m: {v: {k: r[k] for k in (*METRICS, "n_seeds")} for v, r in per.items()} for m, per in summary.items()}


def saved_binding(b: dict) -> dict:
    """Per modality: retrieval to text, chance, gap length, Table 1 statistics and the binding's epoch."""
    return {m: {"R@1": r["R@1"], "R@5": r["R@5"], "chance_R@1": r["chance_R@1"], "chance_R@5": r["chance_R@5"],
                "gap_length": r["gap_length"], "table1": r["table1"],
                **{k: r[k] for k in ("best_epoch", "val_score", "epochs") if k in r}} for m, r in b.items()}


def paper_values() -> dict:
    """Table 4 as the results file quotes it."""
    return {"table4": {m: {v: dict(zip(paper.TABLE4_METRICS, x)) for v, x in per.items()}
                       for m, per in paper.TABLE4.items()}}


def paper_cell(modality: str, variant: str, metric: str) -> float:
    return paper.TABLE4[modality][variant][paper.TABLE4_METRICS.index(metric)]


def comparison(summary: dict, b: dict, modalities: Sequence[str], variants: Sequence[str]) -> list[dict]:
    """BLEU-1 and ROUGE-L beside Table 4's, and the emergent retrieval to text (no paper value)."""
    rows = [results.row(f"{m} {v} {k}", paper_cell(m, v, k), summary[m][v][k])
            for k in ("BLEU-1", CLAIM_METRIC) for m in modalities for v in variants]
    return rows + [results.row(f"{m} -> text R@1 (emergent)", None, r["R@1"], f"chance {r['chance_R@1']:.3f}")
                   for m, r in b.items()]


def table4_frame(summary: dict, modalities: Sequence[str], variants: Sequence[str]):
    """Ours (mean ± std over seeds) beside Table 4's BLEU-1 / METEOR / ROUGE-L, one row per modality and variant."""
    import pandas as pd

    def fmt(r, k):
        v, sd = r.get(k), r.get(f"{k} std")
        return "unavailable" if v is None else (f"{v:.1f} ± {sd:.1f}" if r["n_seeds"] > 1 else f"{v:.1f}")

    rows = [{"modality": m, "variant": v, **{k: fmt(summary[m][v], k) for k in METRICS},
             "paper " + " / ".join(paper.TABLE4_METRICS): " / ".join(f"{x:.1f}" for x in paper.TABLE4[m][v])}
            for m in modalities for v in variants]
    return pd.DataFrame(rows).set_index(["modality", "variant"])


# ---- the page's sentences --------------------------------------------------------------------------------
def _table4_lines(summary: dict, found: list[Verdict], modalities: Sequence[str], variants: Sequence[str]) -> str:
    word = {v.key: v.verdict for v in found}
    lines = []
    for m in modalities:
        ours = ", ".join(f"{v} {summary[m][v][CLAIM_METRIC]:.1f}" for v in variants)
        theirs = ", ".join(f"{paper_cell(m, v, CLAIM_METRIC):.1f}" for v in variants)
        lines.append(f"- **{m}**: {CLAIM_METRIC} {ours} (paper: {theirs}). C3 improves on every baseline: "
                     f"**{word[f'v_{m}_best']}**; collapse alone improves on C1: **{word[f'v_{m}_collapse']}**; "
                     f"corrupt alone improves on C1: **{word[f'v_{m}_corrupt']}**.")
    return "\n".join(lines)


def _chapter06_line(summary: dict, preset: str, variants: Sequence[str]) -> str:
    """Whether the image row equals chapter 06's saved world-clip results (the same decoders on the same images)."""
    try:
        prev = results.load("06_captioning")
    except FileNotFoundError:
        return ""
    ch06 = {r["variant"]: r["BLEU-1"] for r in (prev.get("metrics") or {}).get("summary") or []
            if isinstance(r, dict) and r.get("task") == "world-clip" and "BLEU-1" in r}
    if prev.get("preset") != preset or "image" not in summary or not ch06:
        return ""
    same = all(abs(ch06[v] - summary["image"][v]["BLEU-1"]) < 0.05 for v in variants if v in ch06)
    return ("The image row " + ("reproduces" if same else "differs from") + " chapter 06's saved world-clip results "
            "(BLEU-1 " + ", ".join(f"{v} {x:.1f}" for v, x in ch06.items()) + "): the same decoders on the same "
            "test images.")


def _beside(b: dict, found: list[Verdict], modalities: Sequence[str]) -> list[str]:
    text = []
    for m in ("audio", "video"):
        if m in b:
            r = b[m]
            image = f" (image's {b['image']['gap_length']:.2f})" if "image" in b else ""
            text.append(f"{m.capitalize()} → text, never trained, reaches R@1 {r['R@1']:.3f} and R@5 {r['R@5']:.3f} "
                        f"({r['R@1'] / r['chance_R@1']:.0f}× chance at R@1); its gap to text is "
                        f"{r['gap_length']:.2f}{image}.")
    for k in (k for k in b if "fresh" in k and "audio" in b):
        text.append(f"The control, audio bound to a fresh image head, retrieves text at R@5 {b[k]['R@5']:.3f} "
                    f"(chance {b[k]['chance_R@5']:.3f}; bound audio {b['audio']['R@5']:.3f}).")
    per = {m: [v for v in found if v.space == m] for m in modalities}
    text.append("Claims held per modality: " + ", ".join(
        f"{m} {sum(v.verdict == HELD for v in vs)} of {len(vs)}" for m, vs in per.items()) + ".")
    gaps = {m: b[m]["gap_length"] for m in modalities if m in b}
    if gaps:
        shorter = all(g < paper.GAP_LENGTH for g in gaps.values())
        text.append("The gaps to text here (" + ", ".join(f"{m} {g:.2f}" for m, g in gaps.items()) + ") are "
                    + ("all shorter than" if shorter else "not all shorter than")
                    + f" CLIP's {paper.GAP_LENGTH:.2f} (the paper's Table 1, chapter 04)"
                    + (": collapse has less gap to remove here than in CLIP." if shorter else "."))
    return text


def page(out: dict, found: list[Verdict], cfg) -> tuple[dict[str, Any], dict[str, str]]:
    """``(prose, markdown)``: the numbers and sentences the page glues."""
    b, s, t = out["binding"], out["summary"], out.get("timing") or {}
    prose: dict[str, Any] = {f"p_{m}_{v.lower()}": paper_cell(m, v, CLAIM_METRIC)
                             for m in MODALITIES for v in ("C1", "C3")}
    prose.update({"n_test": out["n_test"], "dim": out["space"]["dim"], "claim_metric": CLAIM_METRIC})
    image = b.get("image", {})
    prose.update({"img_r1": image.get("R@1", float("nan")), "img_chance": image.get("chance_R@1", float("nan"))})
    setup = f"Test items: {out['n_test']}; space dimension {out['space']['dim']}."
    if t:
        bind = ", ".join(f"{m} {x:.0f} s" for m, x in t["binding_s"].items())
        setup += (f" Chapter 06 decoders ready in {t['decoders_s']:.0f} s; rendering {t['render_s']:.0f} s; "
                  f"bound towers ready (chapter 05's, loaded or trained) in {bind}.")
    beside = _beside(b, found, cfg.modalities)
    line06 = _chapter06_line(s, cfg.preset, cfg.variants)
    markdown = {"expressible": "\n".join(f"- **{m}**: {EXPRESSIBLE[m]}" for m in cfg.modalities),
                "setup_line": setup, "table4_lines": _table4_lines(s, found, cfg.modalities, cfg.variants),
                "beside": " ".join(beside + ([line06] if line06 else []))}
    return prose, markdown
