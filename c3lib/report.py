"""Tables and plots shared by the chapters: means over seeds, the paper beside ours, one colour per variant."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from c3lib.metrics import TABLE_METRICS
from c3lib.verdict import HELD, NOT_ENOUGH, NOT_HELD, NOT_RUN, WITHIN_NOISE, Verdict, counts, from_dict

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

    n = len(tasks) + 1
    cols = n if n <= 4 else 3  # wrap many spaces onto rows of three, so each panel stays readable on a page
    rows = -(-n // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.4 * rows), squeeze=False)
    axes = list(grid.ravel())
    for ax in axes[n:]:
        ax.set_axis_off()
    axes = axes[:n]
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


# --- The book page: glued numbers, figures, verdicts, live panels --------------------------------------------
# A chapter computes every number its prose states and glues it (myst-nb) under a key; the Markdown cells say
# {glue:text}`key:.2f`, so the prose cannot disagree with the run. Figures are glued too and placed by a
# {glue:figure} directive with a :name: and a caption; the prose cites them with {numref}.

BOOK_ENV = "C3_BOOK"  # set to 1 by c3lib.book for the papermill runs of the book


def plain(value: Any) -> Any:
    """A value whose ``repr`` myst-nb's ``{glue:text}`` can read back: numpy scalars become Python ones."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def glue_values(values: Mapping[str, Any]) -> None:
    """Glue each ``key: value`` without showing it (``myst_nb.glue(key, value, display=False)``)."""
    from myst_nb import glue

    for key, value in values.items():
        glue(key, plain(value), display=False)


def glue_markdown(values: Mapping[str, str]) -> None:
    """Glue Markdown text (a clause with bold words, a list) under each key, for an inline ``{glue:md}`key```
    role or a ``{glue:md}`` directive; ``{glue:text}`` would show its asterisks."""
    from IPython.display import Markdown
    from myst_nb import glue

    for key, text in values.items():
        glue(key, Markdown(text), display=False)


def glue_figure(key: str, fig) -> None:
    """Glue a Matplotlib figure (its PNG) under ``key`` and close it, so it shows only where a
    ``{glue:figure}`` directive places it (with its name and caption)."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(key, fig, display=False)
    plt.close(fig)


def verdict_markdown(claims: Sequence[Verdict]) -> str:
    """A Markdown table, one row per claim: space, claim, statistic, effect with its 95 % interval, items and
    seeds, and the verdict (bold when held)."""
    rows = ["| space | claim | statistic | effect [95 % interval] | n · seeds | verdict |", "|---|---|---|---|---|---|"]
    for v in claims:
        word = f"**{v.verdict}**" if v.verdict == HELD else v.verdict
        size = " · ".join(str(x) if x is not None else "—" for x in (v.n, v.seeds))
        stat = f"{v.statistic} {v.region}".strip()
        rows.append(f"| {v.space or '—'} | {v.claim} | {stat} | {v.interval()} | {size} | {word} |")
    return "\n".join(rows) if len(rows) > 2 else "*No claim could be tested at this preset.*"


def glue_claims(claims: Sequence[Verdict], table_key: str = "verdict_table") -> None:
    """Glue each keyed claim's verdict word under its key and its effect and interval under ``key + "_ci"``,
    and the table of every claim (:func:`verdict_markdown`) under ``table_key`` (a ``{glue:md}`` directive
    with ``:format: gfm``)."""
    from IPython.display import Markdown
    from myst_nb import glue

    keyed = {v.key: v for v in claims if v.key}
    glue_values({k: v.verdict for k, v in keyed.items()})
    glue_values({f"{k}_ci": v.interval() for k, v in keyed.items()})
    glue(table_key, Markdown(verdict_markdown(claims)), display=False)


def live() -> bool:
    """True in a live Jupyter session, False in the papermill runs of the book (``$C3_BOOK`` = 1)."""
    return os.environ.get(BOOK_ENV, "") != "1"


def panel(draw: Callable[..., Any], sliders: Mapping[str, tuple[float, float, float, float]]):
    """An ipywidgets panel: one slider per ``name: (min, max, step, default)``, redrawing ``draw(**values)``
    (which returns a figure) on release. Shown only when :func:`live`; returns the widget, or None.

    The static book shows ``draw(**defaults)`` instead, glued as a figure by the chapter."""
    if not live():
        return None
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    controls = {name: w.FloatSlider(value=dflt, min=lo, max=hi, step=step, description=name,
                                    continuous_update=False, readout_format=".3g")
                for name, (lo, hi, step, dflt) in sliders.items()}

    def show(**values):
        draw(**values)
        plt.show()

    box = w.VBox([w.HBox(list(controls.values())), w.interactive_output(show, controls)])
    display(box)
    return box


def defaults(sliders: Mapping[str, tuple[float, float, float, float]]) -> dict[str, float]:
    """The default value of each slider of a :func:`panel`: what the static book shows."""
    return {name: spec[3] for name, spec in sliders.items()}


# --- The results dashboard (chapter 99): every chapter's claims and numbers from its results JSON ----------------

def claim_rows(record: Mapping[str, Any]) -> list[Verdict]:
    """A chapter's claims, read back from its results record (``metrics.claims``: one dict per verdict)."""
    return [from_dict(d) for d in (record.get("metrics") or {}).get("claims") or []]


def dashboard(records: Mapping[str, Mapping[str, Any]], link: Callable[[str], str] = lambda n: f"{n}.html"):
    """The dashboard's two tables (DataFrames): one row per chapter (its verdicts counted by word, preset, wall
    time), and one row per claim (chapter number, verdict, claim, space, statistic, effect with its 95 %
    interval, items and seeds). Chapter names are HTML links made by ``link``."""
    import pandas as pd

    chapters, claims = [], []
    for name, rec in records.items():
        rows = claim_rows(rec)
        n = counts(rows)
        anchor = f'<a href="{link(name)}">{name}</a>'
        chapters.append({"chapter": anchor, "preset": rec.get("preset"), HELD: n[HELD], NOT_HELD: n[NOT_HELD],
                         WITHIN_NOISE: n[WITHIN_NOISE], NOT_ENOUGH: n[NOT_ENOUGH], NOT_RUN: n[NOT_RUN],
                         "numbers beside the paper's": len(rec.get("comparison", [])),
                         "wall time (s)": rec.get("wall_time_s")})
        short = f'<a href="{link(name)}">{name[:2]}</a>'  # the verdict stays in view on a narrow page
        claims += [{"chapter": short, "verdict": v.verdict, "claim": v.claim, "space": v.space or "—",
                    "statistic": f"{v.statistic} {v.region}".strip(), "effect [95 % interval]": v.interval(),
                    "n": v.n, "seeds": v.seeds} for v in rows]
    columns = ["chapter", "verdict", "claim", "space", "statistic", "effect [95 % interval]", "n", "seeds"]
    return pd.DataFrame(chapters), pd.DataFrame(claims, columns=columns)


CHAPTERS = ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11")  # the paper's chapters in this book


def dashboard_counts(records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The results page's summary numbers: claims tested, held, not held, within noise, not enough data,
    chapters with results and the chapters without."""
    n = counts(v for rec in records.values() for v in claim_rows(rec))
    present = {name[:2] for name in records}
    return {"n_claims": sum(n.values()) - n[NOT_RUN], "n_held": n[HELD], "n_not_held": n[NOT_HELD],
            "n_noise": n[WITHIN_NOISE], "n_not_enough": n[NOT_ENOUGH], "n_chapters": len(records),
            "absent": ", ".join(c for c in CHAPTERS if c not in present) or "none"}


VERDICT_COLOURS = {HELD: "tab:green", NOT_HELD: "tab:red", WITHIN_NOISE: "tab:gray", NOT_ENOUGH: "tab:olive",
                   NOT_RUN: "whitesmoke"}


def plot_verdict_counts(records: Mapping[str, Mapping[str, Any]]):
    """One stacked bar per chapter: how many of its claims were held, not held, within noise, short of data or
    not run."""
    import matplotlib.pyplot as plt

    names = list(records)
    per = [counts(claim_rows(records[n])) for n in names]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.2))
    left = np.zeros(len(names))
    for word, colour in VERDICT_COLOURS.items():
        widths = np.array([c[word] for c in per], dtype=float)
        ax.barh(names, widths, left=left, color=colour, edgecolor="grey", linewidth=0.5, label=word)
        left += widths
    ax.invert_yaxis()
    ax.set(xlabel="claims")
    ax.legend(ncol=5, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def comparison_table(comparison: Sequence[Mapping[str, Any]]):
    """The paper beside ours as a DataFrame that prints every value as the results JSON holds it (pandas
    would round 2.96e-16 to 0.0); a missing value shows as "—"."""
    import pandas as pd

    def shown(v):
        return "—" if v is None else str(v)

    return pd.DataFrame([{**r, "paper": shown(r.get("paper")), "ours": shown(r.get("ours"))} for r in comparison])
