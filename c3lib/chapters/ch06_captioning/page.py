"""Chapter 06's page: the paper's values it quotes, ours beside them, and the sentences built from the run."""

from __future__ import annotations

from typing import Any, Sequence

from c3lib import paper
from c3lib.chapters.ch06_captioning.claims import GAIN, ORDERING, STEPS, compare, key
from c3lib.chapters.ch06_captioning.setting import CLAIM_METRIC, SUPERVISED
from c3lib.results import row
from c3lib.spaces import CLIP_GAP_TARGET, CLIP_SPACES
from c3lib.trainer import convergence_line
from c3lib.verdict import HELD, NOT_HELD, NOT_RUN, Verdict

PAPER_SETTING = "MS-COCO Karpathy test, CLIP ViT-B/32, GPT-2 decoder trained on COCO captions"
NAMES = {"best": "C3 best", **{k: claim.split(":")[0] for _, _, k, claim in STEPS}, "gap": "supervised above C1",
         "gain": GAIN}


def paper_cider(variant: str) -> float | None:
    """The paper's CIDEr of a variant: Table 2, or supervised ClipCap on all pairs (Table 5) for ``supervised``."""
    if variant == SUPERVISED:
        return paper.CLIPCAP_SUPERVISED_CIDER
    return paper.table_row(paper.TABLE2, variant, CLAIM_METRIC) if variant in paper.TABLE2 else None


def paper_values() -> dict[str, Any]:
    """What the results file quotes: Table 2, C3's std, and the gap's cost in the paper's setting."""
    return {"table2": {v: dict(zip(paper.TABLE_METRICS, vals)) for v, vals in paper.TABLE2.items()},
            "c3_std": dict(zip(paper.TABLE_METRICS, paper.TABLE2_C3_STD)),
            "gap_cost": {"C1": paper_cider("C1"), "supervised": paper.CLIPCAP_SUPERVISED_CIDER,
                         "gap_cost": paper.GAP_COST, "gap_length": paper.GAP_LENGTH},
            "setting": PAPER_SETTING}


def paper_prose() -> dict[str, float]:
    """The paper's numbers the page states (its admonition and the gap's cost)."""
    return {"p_c1": paper_cider("C1"), "p_collapse": paper_cider("C2-collapse"),
            "p_corrupt": paper_cider("C2-corrupt"), "p_c3": paper_cider("C3"), "p_sup": paper.CLIPCAP_SUPERVISED_CIDER,
            "p_cost": paper.GAP_COST, "p_gap": paper.GAP_LENGTH,
            **{f"p_c3_std_{k.lower().replace('-', '')}": paper.TABLE2_C3_STD[paper.TABLE_METRICS.index(k)]
               for k in ("BLEU-1", CLAIM_METRIC)}}


def paper_gain() -> tuple[float, float]:
    """The paper's point of the gain figure: (CLIP's gap length, C3 − C1 CIDEr in Table 2)."""
    return paper.GAP_LENGTH, paper_cider("C3") - paper_cider("C1")


def comparison(summary: list[dict], cost: dict[str, dict]) -> list[dict]:
    """CIDEr and BLEU-4 of every (space, variant) beside the paper's, and each space's gap cost."""
    rows = []
    for r in summary:
        v = r["variant"]
        for k in (CLAIM_METRIC, "BLEU-4"):
            theirs = (paper.table_row(paper.TABLE5[100.0], "ClipCap", k) if v == SUPERVISED
                      else paper.table_row(paper.TABLE2, v, k) if v in paper.TABLE2 else None)
            note = f"mean ± {r.get(k + ' std', 0):.1f} over {r['n_seeds']} seeds"
            rows.append(row(f"{r['task']} {v} {k}", theirs, round(r[k], 1),
                            note + ("; paper: ClipCap on all pairs (Table 5)" if v == SUPERVISED else "")))
    for task, c in cost.items():
        if c["gap_cost"] is not None:
            rows.append(row(f"{task} gap cost 1 − C1 / supervised (CIDEr)", round(paper.GAP_COST, 3),
                            round(c["gap_cost"], 3), "paper: Table 2's C1 against ClipCap on all pairs (Table 5)"))
    return rows


def cost_table(cost: dict[str, dict]):
    """Per space (and the paper's setting): supervised, C1, C3, the gap's cost and C3's gain (a DataFrame)."""
    import pandas as pd

    gap, gain = paper_gain()
    theirs = {"supervised": paper.CLIPCAP_SUPERVISED_CIDER, "C1": paper_cider("C1"), "gap_cost": paper.GAP_COST,
              "modality_gap": gap, "C3": paper_cider("C3"), "C3_gain_over_C1": gain}
    table = pd.DataFrame(cost).T
    table.loc["paper (CLIP, COCO)"] = pd.Series(theirs)
    return table.astype(float).round(3)


def _said(v: Verdict) -> str:
    return f"{v.verdict} ({v.interval()})" if v.effect is not None else v.verdict


def table2_lines(summary: list[dict], found: list[Verdict], gaps: dict[str, float]) -> str:
    """One bullet per space: its means ± std, the best text-only variant, each claim's verdict and interval."""
    by_key = {v.key: v for v in found}
    lines = []
    for task in gaps:
        rs = [r for r in summary if r["task"] == task]
        means = ", ".join(f"{r['variant']} {r[CLAIM_METRIC]:.1f} ± {r.get(CLAIM_METRIC + ' std', 0.0):.1f}" for r in rs)
        text_only = {r["variant"]: r[CLAIM_METRIC] for r in rs if r["variant"] != SUPERVISED}
        said = [f"{NAMES[k]}: **{_said(by_key[key(task, k)])}**" for k in NAMES
                if key(task, k) in by_key and by_key[key(task, k)].verdict != NOT_RUN]
        top = [v for v, x in text_only.items() if x == max(text_only.values())]
        lead = ("every text-only variant scores the same mean" if len(top) == len(text_only) > 1 else
                f"highest mean among the text-only variants: {' and '.join(top)}")
        lines.append(f"- **{task}** (gap {gaps[task]:.2f}): {CLAIM_METRIC} {means}; {lead}."
                     + (f" {'; '.join(said)}." if said else ""))
    return "\n".join(lines)


def _ordering(found: list[Verdict], task: str) -> str:
    """What Table 2's ordering claims came to on one space, by verdict word."""
    by_key = {v.key: v for v in found}
    words: dict[str, list[str]] = {}
    for k in ORDERING:
        v = by_key.get(key(task, k))
        if v is not None and v.verdict != NOT_RUN:
            words.setdefault(v.verdict, []).append(NAMES[k])
    if set(words) == {HELD}:
        return "every claim of Table 2's ordering held"
    return "; ".join(f"{w}: {', '.join(names)}" for w, names in words.items())


def beside(runs: Sequence[dict], cost: dict[str, dict], found: list[Verdict], gaps: dict[str, float]) -> str:
    """The page's comparison with the paper: the CLIP-sized-gap spaces' ordering, the small-gap spaces' cost
    and C3 against C1 there, and one line per space on the gap's cost (all from this run)."""
    big = [t for t, g in gaps.items() if g >= CLIP_GAP_TARGET]
    small = [t for t, g in gaps.items() if g < CLIP_GAP_TARGET]
    target = f"at least {CLIP_GAP_TARGET:g}, the CLIP-recipe spaces' target of chapter 05"
    text = [f"In the spaces with a CLIP-sized gap ({target}): "
            + "; ".join(f"**{t}** ({gaps[t]:.2f}): {_ordering(found, t)}" for t in big) + "."
            if big else f"No space at this preset has a CLIP-sized gap ({target})."]
    if small:
        costs = ", ".join(f"{t} {cost[t]['gap_cost']:.2f}" for t in small if t in cost and cost[t]["gap_cost"] is not None)
        c3_c1 = {t: compare(runs, t, "C3", "C1", "C3 above C1") for t in small}
        above = [t for t, v in c3_c1.items() if v.verdict == HELD]
        below = [t for t, v in c3_c1.items() if v.verdict == NOT_HELD and v.high < 0]
        tied = [t for t, v in c3_c1.items() if v.verdict == NOT_HELD and v.high == 0]
        noise = [t for t, v in c3_c1.items() if v.verdict not in (HELD, NOT_HELD, NOT_RUN)]
        line = (f"In the small-gap spaces ({', '.join(f'{t} {gaps[t]:.2f}' for t in small)})"
                + (f" the gap's cost is {costs}" if costs else "") + ".")
        if above:
            line += f" C3 scores above C1 beyond noise on {', '.join(above)}."
        if below:
            line += (f" C3 scores below C1 beyond noise on {', '.join(below)}, where there is less gap to repair and "
                     "the noise costs reconstruction.")
        if tied:
            line += f" C3 and C1 score the same on every test image of {', '.join(tied)}."
        if noise:
            line += f" C3 and C1 cannot be told apart on {', '.join(noise)} (within noise)."
        text.append(line)
    text += [f"`{t}` is trained by the CLIP recipe but its gap is under chapter 05's target, so it sides with the "
             "small-gap spaces." for t in small if t in CLIP_SPACES]
    by_key = {v.key: v for v in found}
    words = []
    for task, r in cost.items():
        if r["supervised"] is None:
            w = f"**{task}** (gap {r['modality_gap']:.2f}, ablation: no supervised reference): C1 {r['C1']:.1f}"
        else:
            w = (f"**{task}** (gap {r['modality_gap']:.2f}): C1 {r['C1']:.1f} against supervised "
                 f"{r['supervised']:.1f}, a cost of " + ("n/a" if r["gap_cost"] is None else f"{r['gap_cost']:.2f}")
                 + f" (supervised above C1: {_said(by_key[key(task, 'gap')])})")
        if "C3" in r:
            w += f"; C3 {r['C3']:.1f}, {r['C3_gain_over_C1']:+.1f} over C1"
            if r["C3_share_of_ceiling"] is not None and r["C3_share_of_ceiling"] > 1:
                w += (f", above the supervised decoder ({r['C3_share_of_ceiling']:.2f} of it), although that decoder "
                      "reads every training image's captions: here it is no ceiling, and the cost is a lower bound")
        words.append("- " + w + ".")
    return ("**Beside the paper.** " + " ".join(text) + ("\n\n" + "\n".join(words) if words else "")
            + "\n\nAbsolute scores are far below the paper's: a small decoder trained from scratch for a few CPU "
            "minutes on a few thousand captions, against pretrained GPT-2 on COCO.")


def page(grid: dict, summary: list[dict], cost: dict[str, dict], found: list[Verdict],
         checks: list[dict]) -> tuple[dict[str, Any], dict[str, str]]:
    """``(prose, markdown)``: the numbers and sentences the page glues."""
    gaps = {t: d["modality_gap"] for t, d in grid["tasks"].items()}
    prose: dict[str, Any] = {**paper_prose(),
                             "eval_max_diff": max((c["max |difference|"] for c in checks), default=float("nan"))}
    markdown = {"table2_lines": table2_lines(summary, found, gaps), "beside": beside(grid["runs"], cost, found, gaps),
                "convergence": convergence_line(grid["runs"])}
    return prose, markdown
