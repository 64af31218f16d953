"""Chapter 11's claims and the sentences its page states, built from the run.

The paper (Appendix H, Table 7): adding noise only in the span "makes its performance much worse than adding
noise to all the directions", and "its performance is similar to removing the modality gap" (collapse). Per
space, on per-item CIDEr (the paper's headline metric; its corpus score is the mean of per-item scores) of the
same test images, over the decoder seeds:

* **much worse than corrupt**: CIDEr of C2-corrupt minus CIDEr of span-only is above 0. "Much" names no size,
  so the claim is the ordering.
* **similar to collapse**: without a tolerance of our own, "similar to collapse" is read against the other
  candidate the paper names: span-only is *closer to collapse than to corrupt*,
  ``D = |SO − corrupt| − |SO − collapse| > 0`` on the variants' mean CIDEr (in Table 7 span-only sits just below
  collapse and far below corrupt: ``D`` is large). ``D`` is linear in the three means once their order is fixed
  (with collapse < SO < corrupt, ``D = corrupt + collapse − 2 SO``; with SO below both, ``D = corrupt − collapse``;
  above both, ``collapse − corrupt``), so its interval is that of the linear contrast at the measured order
  (the delta method for ``|·|``): paired over items, with the seed spread of each variant (seeds of different
  variants are independent trainings, so adding them seed by seed leaves the variance of the mean unbiased).
  Where span-only sits within noise of collapse or corrupt, the linearisation is approximate at the kink.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from c3lib import paper, results
from c3lib.metrics import TABLE_METRICS
from c3lib.trainer import convergence_line
from c3lib.verdict import HELD, Verdict, above, difference, not_enough, not_run

CIDER = TABLE_METRICS.index("CIDEr")
METRIC = "CIDEr"
WORSE = "span-only noise is much worse than corrupt"
SIMILAR = "span-only noise is similar to collapse (closer to it than to corrupt)"


def key(space: str, claim: str) -> str:
    """The glue key of a claim's verdict word: ``v_world_clip_similar``."""
    return f"v_{space.replace('-', '_')}_{claim}"


def item_scores(runs: Sequence[dict], task: str, variant: str, metric: str = METRIC) -> np.ndarray | None:
    """Per-seed per-item scores ``(k, n)`` of one space and variant, seeds in order; None if not run."""
    rows = sorted((r for r in runs if r["task"] == task and r["variant"] == variant), key=lambda r: r["seed"])
    return np.array([r["items"][metric] for r in rows], dtype=float) if rows else None


def closeness(so: np.ndarray, collapse: np.ndarray, corrupt: np.ndarray, space: str = "", k: str = "") -> Verdict:
    """The verdict on ``D = |SO − corrupt| − |SO − collapse| > 0`` (module docstring), scores ``(k, n)`` each."""
    stat = f"{METRIC}, |span-only − corrupt| − |span-only − collapse|"
    if not (so.shape == collapse.shape == corrupt.shape):
        return not_enough(SIMILAR, stat, "span-only, collapse and corrupt need the same seeds and items", space, k)
    m_so, m_col, m_cor = so.mean(), collapse.mean(), corrupt.mean()
    s1 = 1.0 if m_so >= m_cor else -1.0  # the sign of SO − corrupt
    s2 = 1.0 if m_so >= m_col else -1.0  # the sign of SO − collapse
    coef = {"span-only": s1 - s2, "corrupt": -s1, "collapse": s2}  # D = sum of coef x mean
    arrays = {"span-only": so, "corrupt": corrupt, "collapse": collapse}
    plus = sum(c * arrays[v] for v, c in coef.items() if c > 0)
    minus = sum(-c * arrays[v] for v, c in coef.items() if c < 0)
    v = difference(plus, minus, SIMILAR, stat, above(0), space, k)
    named = {name: (name if abs(c) == 1 else f"{abs(c):g}·{name}") for name, c in coef.items()}
    terms = " + ".join(named[n] for n, c in coef.items() if c > 0) + "".join(
        f" − {named[n]}" for n, c in coef.items() if c < 0)
    return dataclasses.replace(v, method=f"{v.method}; linear at the measured order: D = {terms}")


def claims(runs: Sequence[dict], tasks: Sequence[str]) -> list[Verdict]:
    """Per space: corrupt − span-only > 0, and span-only closer to collapse than to corrupt (module docstring)."""
    out = []
    for t in tasks:
        s = {v: item_scores(runs, t, v) for v in ("span-only", "C2-collapse", "C2-corrupt")}
        if s["span-only"] is None or s["C2-corrupt"] is None:
            out.append(not_run(WORSE, f"{METRIC}, corrupt − span-only", t, key(t, "worse"), "a variant was not run"))
        else:
            out.append(difference(s["C2-corrupt"], s["span-only"], WORSE, f"{METRIC}, corrupt − span-only",
                                  above(0), t, key(t, "worse")))
        if any(x is None for x in s.values()):
            out.append(not_run(SIMILAR, f"{METRIC}, |span-only − corrupt| − |span-only − collapse|", t,
                               key(t, "similar"), "a variant was not run"))
        else:
            out.append(closeness(s["span-only"], s["C2-collapse"], s["C2-corrupt"], t, key(t, "similar")))
    return out


def paper_values() -> dict:
    return {"table7": {v: dict(zip(TABLE_METRICS, vals)) for v, vals in paper.TABLE7.items()}}


def comparison(summary: Sequence[dict]) -> list[dict]:
    return [results.row(f"{r['task']} {r['variant']} CIDEr", paper.TABLE7[r["variant"]][CIDER], round(r["CIDEr"], 1),
                        f"mean ± {r.get('CIDEr std', 0):.1f} over {r['n_seeds']} seeds") for r in summary]


# ---- the page's sentences --------------------------------------------------------------------------------
def _table7_lines(summary: Sequence[dict], found: Sequence[Verdict], tasks: Sequence[str]) -> str:
    word = {v.key: v.verdict for v in found}
    lines = []
    for t in tasks:
        m = {r["variant"]: r["CIDEr"] for r in summary if r["task"] == t}
        s = {r["variant"]: r.get("CIDEr std", 0.0) for r in summary if r["task"] == t}
        shown = ", ".join(f"{name} {m[v]:.1f}" + (f" ± {s[v]:.1f}" if v in ("span-only", "C2-corrupt", "C2-collapse")
                                                  else "")
                          for v, name in (("span-only", "span-only"), ("C2-corrupt", "corrupt"),
                                          ("C2-collapse", "collapse"), ("C1", "C1"), ("C3", "C3")) if v in m)
        lines.append(f"- **{t}**: {shown}. Span-only much worse than corrupt: **{word[key(t, 'worse')]}**; closer to "
                     f"collapse than to corrupt: **{word[key(t, 'similar')]}**.")
    return "\n".join(lines)


def _beside(found: Sequence[Verdict], tasks: Sequence[str]) -> str:
    worse = {v.space: v for v in found if v.key.endswith("_worse")}
    held = [t for t in tasks if worse[t].verdict == HELD]
    if len(held) == len(tasks):
        return "As in the paper, removing the gap-direction part of the noise costs score on every space here."
    others = "; ".join(f"{t}: {worse[t].verdict}, {worse[t].interval()}" for t in tasks if t not in held)
    if not held:
        return ("Unlike the paper, removing the gap-direction part of the noise costs no measurable score here "
                f"({others}).")
    return (f"Removing the gap-direction part of the noise costs score, as in the paper, on {', '.join(held)}; "
            f"elsewhere the claim is not held or within noise ({others}).")


def _sigma_words(per_space: Sequence[dict], ratio: dict | None) -> str:
    words = []
    for r in per_space:
        at_clip = r["CIDEr at CLIP's sigma"]
        w = (f"- **{r['space']}**: noise {r['noise_per_dim']:.4f} per dimension; sigma* = {r['sigma_star']:g} on the "
             f"selection images ({r['sigma_star_over_noise']:.1f} times the noise; CLIP's sigma is "
             f"{(ratio or {}).get('ratio', float('nan')):.1f} times CLIP's); test CIDEr at sigma* "
             f"{r['CIDEr at sigma*']:.1f}, at CLIP's sigma {at_clip:.1f}")
        if r.get("sigma_predicted") is not None:
            w += f", at the predicted sigma {r['sigma_predicted']:.3f}: {r['CIDEr at predicted sigma']:.1f}"
        words.append(w + ".")
    return ("**Sigma from the data.**\n\n" + "\n".join(words)
            + ("" if ratio else "\n\n*No data folder: CLIP's features are absent, so no sigma is predicted.*"))


def page(out: dict, summary: Sequence[dict], found: Sequence[Verdict], cfg: Any) -> tuple[dict, dict]:
    """``(prose, markdown)``: the numbers and sentences the page glues."""
    ratio = out["clip_sigma_ratio"] or {}
    prose: dict[str, Any] = {f"p_{k}": paper.TABLE7[v][CIDER] for k, v in
                             (("span", "span-only"), ("collapse", "C2-collapse"), ("corrupt", "C2-corrupt"),
                              ("c3", "C3"))}
    prose.update({"n_seeds": len(cfg.seeds), "n_noise": cfg.n_noise_pairs,
                  "n_select": int(min(r["n_select_images"] for r in out["sigma_from_noise"])),
                  "clip_noise": ratio.get("clip_noise_per_dim", float("nan")),
                  "clip_ratio": ratio.get("ratio", float("nan"))})
    markdown = {"table7_lines": _table7_lines(summary, found, cfg.tasks), "beside": _beside(found, cfg.tasks),
                "sigma_words": _sigma_words(out["sigma_from_noise"], out["clip_sigma_ratio"]),
                "convergence": convergence_line(out["runs"])}
    return prose, markdown
