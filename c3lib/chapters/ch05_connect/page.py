"""Chapter 05's page: the numbers and sentences it glues (built from the run and its verdicts), the paper
beside ours, and what the results file keeps."""

from __future__ import annotations

from typing import Any

from c3lib.chapters.ch05_connect.setting import CLIP_TEMPERATURE, PAPER, TARGETS, ConnectConfig
from c3lib.chapters.ch05_connect.verdicts import key
from c3lib.results import row
from c3lib.spaces import BOUND_SPACES, CLIP_GAP_TARGET, CLIP_SPACES, space
from c3lib.verdict import HELD, NOT_RUN, Verdict

TARGET_WORDS = {"gap_length": "gap", "gap_direction_cos": "direction", "orthogonality_mean": "|orthogonality|",
                "temperature": "τ"}
OPS = {">=": "≥", "<=": "≤", "|<=|": "≤"}


def metrics(reports: dict, table: dict, sweep: dict, met: dict, speed: dict, gaps: dict) -> dict[str, Any]:
    """What the results JSON keeps: each space's report (geometry at init and trained, history, sizes,
    temperature), the Table 1 rows, the sweep, the gap by epoch, the targets met, each CLIP space's chosen
    head and its candidates, and the world's speed."""
    out: dict[str, Any] = {space: {k: rep[k] for k in ("init", "trained", "history", "n_train", "n_test", "temperature")}
                           for space, rep in reports.items()}
    out["spaces"] = table
    out["temperature_sweep"] = sweep
    out["gap_by_epoch"] = gaps
    out["targets"] = met
    for s in CLIP_SPACES:
        if s in reports:
            out[f"{s.replace('-', '_')}_heads"] = {"chosen": reports[s]["head"], **reports[s]["candidates"]}
    out["world_items_per_second"] = speed
    return out


def prose(reports: dict) -> dict[str, Any]:
    """The numbers and short texts the page cites."""
    t1 = PAPER["table1"]
    return {"p_gap": t1["gap_length"], "p_dir": t1["gap_direction_cos"],
            "p_orth": f"{t1['orthogonality_mean']:.2f} ± {t1['orthogonality_std']:.2f}",
            "p_group": PAPER["table1_group"],
            "clip_tau": CLIP_TEMPERATURE,
            "targets_text": ", ".join(f"{TARGET_WORDS[k]} {OPS[op]} {b:g}" for k, op, b in TARGETS),
            "head": reports["flickr8k-clip"]["head"] if "flickr8k-clip" in reports else NOT_RUN,
            "world_head": reports["world-clip"]["head"] if "world-clip" in reports else NOT_RUN,
            "p_fig9": "{:.1f}–{:.1f}".format(*PAPER["fig9_text_gap"])}


def _claim(claims: list[Verdict], k: str) -> Verdict:
    return next(v for v in claims if v.key == k)


def _by_word(claims: list[Verdict], prefix: str, spaces: list[str]) -> str:
    """``**held** for a, b; **not held** for c`` over the spaces' claims of one kind."""
    words: dict[str, list[str]] = {}
    for s in spaces:
        words.setdefault(_claim(claims, key(prefix, s)).verdict, []).append(f"`{s}`")
    return "; ".join(f"**{w}** for {', '.join(names)}" for w, names in words.items())


def bound_lines(reports: dict, table: dict) -> str:
    """One line per bound space: emergent retrieval to text beside chance, and its gap to text beside
    ImageBind's (Fig 9)."""
    lines = []
    for s in BOUND_SPACES:
        if s not in reports:
            continue
        t, r, rec = table[s]["against_text"], table[s], space(s)
        lo, hi = PAPER["fig9_text_gap"]
        where = "inside" if lo <= t["gap_length"] <= hi else "below" if t["gap_length"] < lo else "above"
        lines.append(f"- **{s}** ({rec.modalities[0]} tower from random init, bound to `{rec.bound_to}`'s frozen "
                     f"image head; never shown a caption): {rec.modalities[0]} → text R@1 {t['R@1']:.3f} and R@5 "
                     f"{t['R@5']:.3f} (chance {t['chance_R@1']:.3f} and {t['chance_R@5']:.3f}); gap to text "
                     f"{t['gap_length']:.2f}, {where} ImageBind's {lo:.1f}–{hi:.1f} (Fig 9); to the images it was bound "
                     f"to: R@1 {r['recall_at_1']:.3f}, gap {r['gap_length']:.2f}; {r['epochs']} epochs, the best "
                     f"{r['best_epoch'] + 1}.")
    return "\n".join(lines) or "*No bound space at this preset.*"


def epoch_words(reports: dict, gaps: dict) -> str:
    """How each CLIP space's gap moves by epoch, and, where it ends below the target, what the run shows."""
    out = []
    for s in CLIP_SPACES:
        if s not in gaps:
            continue
        g, best = gaps[s]["gap"], gaps[s]["best_epoch"] + 1  # g[0]: at initialisation; g[e]: after epoch e
        val = reports[s]["history"]["val"]
        marks = [e for e in (5, 10, 20, 40, 80) if e < best] + [best]
        text = (f"`{s}` (head {reports[s]['head']}): gap {g[0]:.2f} at initialisation, "
                + ", ".join(f"{g[e]:.2f} after epoch {e}" for e in marks)
                + f" (the epoch validation chose; it trained {gaps[s]['epochs']}).")
        above = [e for e in range(1, best + 1) if g[e] >= CLIP_GAP_TARGET]
        if g[best] < CLIP_GAP_TARGET and above:
            last = above[-1]
            text += (f" Its gap was still {g[last]:.2f} after epoch {last}, at or above the target of "
                     f"{CLIP_GAP_TARGET:g}, with a validation score of {val[last - 1]:.3f}; by the chosen epoch it had "
                     f"eroded to {g[best]:.2f} while the score rose by {val[best - 1] - val[last - 1]:+.3f} to "
                     f"{val[best - 1]:.3f}. The stopping rule follows retrieval, and retrieval kept rising while the "
                     "two modalities' means were pulled together: in this space the gap a run keeps depends on when "
                     "it stops.")
        out.append(text)
    return " ".join(out) or "*No CLIP space at this preset.*"


def markdown(cfg: ConnectConfig, reports: dict, table: dict, met: dict, sweep: dict, claims: list[Verdict],
             gaps: dict) -> dict:
    """The sentences and lists that state the chapter's results."""
    skipped = [s for s in cfg.spaces if s not in reports]
    out = {"skipped_words": (f"*No data folder: {', '.join(f'`{s}`' for s in skipped)} not trained.*" if skipped else
                             "Every space of the config was trained (or loaded from its finished checkpoint).")}
    lines = []
    for s, checks in met.items():
        missed = [k for k, ok in checks.items() if not ok]
        r, v = table[s], _claim(claims, key("targets", s))
        lines.append(f"- **{s}**: gap {r['gap_length']:.2f}, direction {r['gap_direction_cos']:.2f}, orthogonality "
                     f"{r['orthogonality_mean']:.2f} ± {r['orthogonality_std']:.2f}, τ {r['temperature']:.3f}, noise "
                     f"{r['noise_std_per_dim']:.3f} per dimension: "
                     + ("every target met" if not missed else "misses " + "; ".join(missed))
                     + f". With its interval over groups of held-out pairs: **{v.verdict}** ({v.statistic} {v.region}: "
                       f"{v.interval()}).")
    out["target_lines"] = "\n".join(lines) if lines else "*No CLIP-recipe space at this preset.*"
    sweep_lines = []
    for s in CLIP_SPACES:
        pts = sorted((p["init_temperature"], p["gap"]) for k, p in sweep.items() if k.startswith(f"{s} "))
        if pts:
            v = _claim(claims, key("fig5", s))
            sweep_lines.append(f"In `{s}`, from τ₀ = " + ", ".join(f"{t:g}" for t, _ in pts)
                               + " the gap that survives is " + ", ".join(f"{g:.2f}" for _, g in pts)
                               + f": the claim that a lower starting temperature leaves a larger gap is "
                                 f"**{v.verdict}** (weakest step: {v.interval()}).")
    out["sweep_words"] = " ".join(sweep_lines) or "*Not swept at this preset.*"
    trained = [s for s in cfg.spaces if s in reports]
    kept = {s: reports[s]["trained"]["gap"] / reports[s]["init"]["gap"] for s in trained}
    words = ("Share of the initial gap left after training: " + ", ".join(f"`{s}` {k:.0%}" for s, k in kept.items())
             + ". The gap at initialisation is there: " + _by_word(claims, "born", trained) + ". At least half of it "
             "is left after training (with its interval over the test items): " + _by_word(claims, "kept", trained)
             + ".") if trained else "*No space trained at this preset.*"
    clip = [s for s in CLIP_SPACES if s in reports]
    if clip:
        ends = ", ".join(f"{reports[s]['trained']['gap']:.2f} (`{s}`)" for s in clip)
        words += f" The CLIP-recipe spaces end with a gap of {ends}; CLIP's, in Table 1: {PAPER['table1']['gap_length']}."
    lost = [s for s in trained if _claim(claims, key("kept", s)).verdict != HELD]
    fixed = [s for s in lost if space(s).recipe == "fixed"]
    long = [s for s in lost if space(s).recipe != "fixed"]
    if fixed:
        words += (f" A likely reason for {', '.join(f'`{s}`' for s in fixed)}: their towers are small, embed in a "
                  "low-dimensional space and train for a fixed few epochs with a temperature learned from 0.07, and "
                  "Lemma 1's argument (no gradient along the ineffective dimensions) holds only to the extent that "
                  "each tower's initial collapse leaves whole directions unused by both modalities.")
    if long:
        words += (f" {', '.join(f'`{s}`' for s in long)} train by CLIP's recipe until validation stops them; the gap "
                  "epoch by epoch (below) shows when theirs went.")
    out["kept_words"] = words
    out["bound_lines"] = bound_lines(reports, table)
    out["epoch_words"] = epoch_words(reports, gaps)
    return out


def comparison(reports: dict, table: dict) -> list[dict]:
    """The paper's Table 1 beside each CLIP-recipe space and pretrained CLIP, and every space's retrieval and gap."""
    t1 = PAPER["table1"]
    paper_t1 = (f"{t1['gap_length']:.2f} / {t1['gap_direction_cos']:.2f} / {t1['orthogonality_mean']:.2f}"
                f"±{t1['orthogonality_std']:.2f}")
    out = []
    for space, r in table.items():
        if space in CLIP_SPACES or space.startswith("CLIP"):
            out.append(row(f"{space}: Table 1 gap / direction / orthogonality", paper_t1,
                           f"{r['gap_length']:.2f} / {r['gap_direction_cos']:.2f} / {r['orthogonality_mean']:.2f}"
                           f"±{r['orthogonality_std']:.2f}",
                           f"tau {r['temperature']:.3f}, noise {r['noise_std_per_dim']:.3f}/dim"))
    for space, rep in reports.items():
        r = rep["trained"]["recall"]
        out.append(row(f"{space}: R@1 a→b / b→a (chance)", None,
                       f"{r['a2b_R@1']:.3f} / {r['b2a_R@1']:.3f} ({r['chance_R@1']:.3f})", f"{rep['n_test']} held out"))
        out.append(row(f"{space}: gap at init → trained", "present at init, preserved by training (§3.1)",
                       f"{rep['init']['gap']:.2f} → {rep['trained']['gap']:.2f}", ""))
    return out
