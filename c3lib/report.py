"""Tables and plots shared by the chapters: means over seeds, the paper beside ours, one colour per variant."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from c3lib.metrics import TABLE_METRICS

COLOURS = {"C1": "tab:gray", "C2-collapse": "tab:blue", "C2-corrupt": "tab:orange", "C3": "tab:green",
           "span-only": "tab:purple", "LAFITE": "tab:brown", "ClipCap": "black", "supervised": "black",
           "real": "tab:olive"}


def mean_std(rows: list[dict], keys: Sequence[str]) -> dict[str, tuple[float | None, float | None]]:
    """Per metric: mean and sample std (ddof=0 as the paper's 'std with 3 runs') over rows; None stays None."""
    out = {}
    for k in keys:
        vals = [r[k] for r in rows if r.get(k) is not None]
        out[k] = (float(np.mean(vals)), float(np.std(vals))) if vals else (None, None)
    return out


def summarise(runs: list[dict], by: Sequence[str], keys: Sequence[str], keep_missing: Sequence[str] = (),
              keep_missing_std: Sequence[str] = (), first: Sequence[str] = ()) -> list[dict]:
    """Mean and std over seeds per group of ``by`` fields, in run order: ``{**by, n_seeds, *first, k, "k std"}``.

    A metric no run of a group has is left out, unless named in ``keep_missing`` (its mean kept as ``None``)
    or ``keep_missing_std`` (its std kept as ``None``); ``first`` fields are copied from the group's first
    run (e.g. its number of pairs)."""
    out = []
    for group_key in dict.fromkeys(tuple(r[b] for b in by) for r in runs):
        group = [r for r in runs if tuple(r[b] for b in by) == group_key]
        ms = mean_std(group, keys)
        out.append({**dict(zip(by, group_key)), "n_seeds": len(group), **{f: group[0][f] for f in first},
                    **{k: ms[k][0] for k in keys if ms[k][0] is not None or k in keep_missing},
                    **{f"{k} std": ms[k][1] for k in keys if ms[k][1] is not None or k in keep_missing_std}})
    return out


def summary_table(summary: list[dict], variants: Sequence[str], paper: dict[str, Sequence[float]],
                  extra: Sequence[str] = ()):
    """A DataFrame of ours (mean ± std) per (space, variant), followed by the paper's rows."""
    import pandas as pd

    cols = list(TABLE_METRICS) + list(extra)

    def fmt(r, k):
        v, s = r.get(k), r.get(f"{k} std")
        if v is None:
            return "unavailable"
        return f"{v:.1f} ± {s:.1f}" if s is not None and r["n_seeds"] > 1 else f"{v:.1f}"

    ours = [{"space": r["task"], "variant": r["variant"], **{k: fmt(r, k) for k in cols if k in r}} for r in summary]
    theirs = [{"space": "paper (MS-COCO, CLIP + GPT-2)", "variant": v,
               **{m: f"{x:.1f}" for m, x in zip(TABLE_METRICS, vals)}} for v, vals in paper.items() if v in variants]
    return pd.DataFrame(ours + theirs).fillna("")


def plot_metric(summary: list[dict], tasks: Sequence[str], variants: Sequence[str],
                paper: dict[str, Sequence[float]], metric: str = "CIDEr"):
    """Bars of ``metric`` per variant for each space (error bars: std over seeds) and the paper's."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(3.3 * (len(tasks) + 1), 3.4))
    for ax, task in zip(axes, tasks):
        rs = [r for r in summary if r["task"] == task]
        ax.bar([r["variant"] for r in rs], [r[metric] for r in rs], yerr=[r.get(f"{metric} std", 0) for r in rs],
               color=[COLOURS[r["variant"]] for r in rs], capsize=3)
        ax.set(title=f"ours: {task}", ylabel=metric)
        ax.tick_params(axis="x", rotation=45)
    pv = [v for v in variants if v in paper]
    axes[-1].bar(pv, [paper[v][TABLE_METRICS.index(metric)] for v in pv], color=[COLOURS[v] for v in pv], alpha=0.6)
    axes[-1].set(title="paper: MS-COCO", ylabel=metric)
    axes[-1].tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig
