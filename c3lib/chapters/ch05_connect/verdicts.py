"""Chapter 05's claims, per trained space, each with its interval over the held-out test items (one training
seed per space: training noise is not estimated, and the verdicts say so).

* **born** (section 3.1, "the modality gap exists when randomly initializing multi-modal models"): the gap
  at initialisation, measured along the other half's direction (:func:`.measures.gap_scores`), is above 0.
* **kept** (section 3.1, "the modality gap and its orthogonality are preserved after optimization"; in its
  simulation the gap becomes "slightly smaller", 0.99 → 0.82): read leniently as *at least half of it is
  left*: trained gap − ½ × gap at initialisation > 0, on the same test items.
* **lower τ₀, larger gap** (Lemma 2, Fig 5: the stable region grows as the temperature falls): for each pair of
  neighbouring starting temperatures of the sweep, the trained gap at the lower minus that at the higher > 0.
* **the project's targets** (ours, not the paper's; :data:`.setting.TARGETS`): a CLIP-recipe space's Table 1
  statistics, over the groups of held-out pairs (t over groups), and its learned temperature (one value).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from c3lib import verdict
from c3lib.chapters.ch05_connect.measures import gap_scores, gap_statistics, target_name
from c3lib.chapters.ch05_connect.setting import TARGETS, ConnectConfig
from c3lib.spaces import CLIP_SPACES
from c3lib.verdict import Verdict

KEEP_SHARE = 0.5  # "preserved", read leniently: at least half of the gap at initialisation left
KEPT_STAT = f"trained gap − {KEEP_SHARE:g} × gap at initialisation"
FIG5_STAT = "gap, lower τ₀ − higher τ₀"

BORN = "a modality gap exists at random initialisation (§3.1)"
KEPT = "training preserves the gap: at least half of it is left (§3.1)"
FIG5 = "a lower starting temperature leaves a larger gap (Lemma 2, Fig 5)"
CLIP_LIKE = "project target (ours, not the paper's): CLIP's Table 1 geometry"


def key(prefix: str, space: str) -> str:
    """The glue key of a space's claim: ``v_born_image_text``."""
    return f"v_{prefix}_{space.replace('-', '_')}"


def gap_claims(space: str, init_pairs: tuple, test_pairs: tuple, seed: int) -> list[Verdict]:
    """Born and kept for one space: its test pairs at initialisation and after training (the same items)."""
    s0, s1 = gap_scores(*init_pairs, seed)[None], gap_scores(*test_pairs, seed)[None]  # (1, n): one seed
    return [verdict.one_sample(s0, BORN, "gap at initialisation", verdict.above(0), space, key("born", space)),
            verdict.difference(s1, KEEP_SHARE * s0, KEPT, KEPT_STAT, verdict.above(0), space, key("kept", space))]


def target_claim(space: str, row: dict[str, Any], test_pairs: tuple, cfg: ConnectConfig) -> Verdict:
    """Every one of the project's targets for one CLIP-recipe space (:func:`c3lib.verdict.all_of`)."""
    stats = gap_statistics(*test_pairs, cfg.group_size, cfg.seed)
    parts = []
    for name, op, bound in TARGETS:
        region = (verdict.above(bound) if op == ">=" else verdict.near_zero(bound) if op == "|<=|"
                  else verdict.below(bound))
        what = target_name(name, op, bound)
        if name == "temperature":
            parts.append(verdict.exact(row[name], CLIP_LIKE, "learned τ", region, space,
                                       why="the learned temperature of the one training"))
            continue
        values = stats.per_group[{"gap_length": "gap_length", "gap_direction_cos": "gap_direction",
                                  "orthogonality_mean": "orthogonality"}[name]]
        values = values[np.isfinite(values)]  # a group whose images never differ has no orthogonality
        if len(values) < 3:  # two groups give one direction cosine, the same for both: no spread to measure
            parts.append(verdict.not_enough(CLIP_LIKE, what, f"{len(values)} groups of held-out pairs", space))
        else:
            parts.append(verdict.one_sample(values, CLIP_LIKE, f"{name} per group", region, space, unit="groups"))
    return verdict.all_of(parts, CLIP_LIKE, "every target", space, key("targets", space))


def fig5_claim(space: str, sweep: dict[str, dict], pairs: dict[str, tuple], seed: int) -> Verdict:
    """Lemma 2 / Fig 5 for one swept space: each lower starting temperature leaves a larger trained gap than
    the next higher one, on the same test items."""
    points = sorted((p["init_temperature"], k) for k, p in sweep.items() if k.startswith(f"{space} "))
    if len(points) < 2:
        return verdict.not_enough(FIG5, FIG5_STAT, f"{len(points)} starting temperature(s)",
                                  space, key("fig5", space))
    scores = {t0: gap_scores(*pairs[k], seed)[None] for t0, k in points}
    parts = [verdict.difference(scores[lo], scores[hi], FIG5, f"gap at τ₀ = {lo:g} − gap at τ₀ = {hi:g}",
                                verdict.above(0), space) for (lo, _), (hi, _) in zip(points, points[1:])]
    return verdict.all_of(parts, FIG5, FIG5_STAT, space, key("fig5", space))


def claims(cfg: ConnectConfig, reports: dict[str, dict], table: dict[str, dict], sweep: dict[str, dict],
           sweep_pairs: dict[str, tuple]) -> list[Verdict]:
    """Every claim, space by space in the config's order: born, kept, and for the CLIP-recipe spaces the
    project's targets and Fig 5. A space not trained at this run (no data folder) is "not run"."""
    out = []
    for space in cfg.spaces:
        clip = space in CLIP_SPACES
        if space not in reports:
            why = "no data folder: the space was not trained"
            out += [verdict.not_run(BORN, "gap at initialisation", space, key("born", space), why),
                    verdict.not_run(KEPT, KEPT_STAT, space, key("kept", space), why)]
            out += [verdict.not_run(CLIP_LIKE, "every target", space, key("targets", space), why),
                    verdict.not_run(FIG5, FIG5_STAT, space, key("fig5", space), why)] if clip else []
            continue
        out += gap_claims(space, reports[space]["init_pairs"], reports[space]["test_pairs"], cfg.seed)
        if clip:
            out.append(target_claim(space, table[space], reports[space]["test_pairs"], cfg))
            swept = any(k.startswith(f"{space} ") for k in sweep)
            out.append(fig5_claim(space, sweep, sweep_pairs, cfg.seed) if swept else
                       verdict.not_run(FIG5, FIG5_STAT, space, key("fig5", space),
                                       "not swept (world-clip is swept with sweep_world)"))
    return out
