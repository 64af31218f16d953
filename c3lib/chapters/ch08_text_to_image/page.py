"""Chapter 08's page: the paper's Table 3 beside ours, and every sentence that states a result, built from the
run's summary and its verdicts."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from c3lib import paper as paper_values
from c3lib.chapters.ch08_text_to_image.claims import BEST, MEASURES, ORDER, SHORT
from c3lib.chapters.ch08_text_to_image.setting import VARIANTS, TextToImageConfig
from c3lib.results import row
from c3lib.verdict import NOT_HELD, NOT_RUN, VERDICTS, Verdict, counts

PAPER_KEYS = {"C1": "c1", "C2-collapse": "collapse", "C2-corrupt": "corrupt", "C3": "c3", "LAFITE": "lafite",
              "DALL-E": "dalle"}
PAPER_SETTING = "MS-COCO (LAFITE split), CLIP ViT-B/32, LAFITE generator; FID/IS on 50k images"


def paper() -> dict[str, Any]:
    """The paper's Table 3 as the results file keeps it."""
    return {"table3": {v: {"FID": f, "IS": i} for v, (f, i) in paper_values.TABLE3.items()},
            "setting": PAPER_SETTING}


def _pm(mean: float, std: float | None, digits: int = 1) -> str:
    """``mean ± std``, or the mean alone when there is no std (one seed)."""
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def comparison(summary: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each row's mean FID beside the paper's (``None`` for our reference rows, which the paper has not)."""
    return [row(f"{sp} {v} FID", paper_values.TABLE3.get(v, (None,))[0], round(m["fid"], 1),
                f"{_pm(m['fid'], m['fid_std'])} over {m['n_seeds']} seed(s), N = {m['n_inception']} (Inception)")
            for sp, s in summary.items() for v, m in s.items()]


def table(summary: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (space, row of ours): the paper's FID and IS beside our metrics (mean over seeds)."""
    rows = []
    for space, s in summary.items():
        for v, m in s.items():
            p, inception = paper_values.TABLE3.get(v, (None, None)), m["inception_score"]
            rows.append({"space": space, "variant": v, "paper FID": p[0], "paper IS": p[1],
                         "FID": _pm(m["fid"], m["fid_std"]), "KID": round(m["kid"], 4),
                         "IS": "unavailable offline" if inception is None else round(inception, 2),
                         "FID (space encoder)": _pm(m["fid_space"], m["fid_space_std"], 3),
                         "KID (space encoder)": round(m["kid_space"], 4),
                         "attr accuracy": "–" if m["attr_accuracy"] is None else round(m["attr_accuracy"], 3),
                         "text-image cosine": round(m["text_image_cosine"], 3), "seeds": m["n_seeds"],
                         "N (Inception)": m["n_inception"], "N": m["n_images"]})
    return rows


def latents_per_second(runs: list[dict], cfg: TextToImageConfig) -> float:
    """Denoiser training throughput (latents per second): over the generators trained in this run, else over
    the stored ones."""
    timed = [r for r in runs if r.get("train_seconds")]
    trained = [r for r in timed if not r["loaded"]] or timed
    if not trained:
        return 0.0
    g = cfg.generator_config(1, 0)
    return float(np.mean([g.num_steps * g.batch_size / r["train_seconds"] for r in trained]))


def seeds_sentence(cfg: TextToImageConfig) -> str:
    return (f"Seeds per variant: {len(cfg.seeds)} in every space (each seed trains its own denoiser and draws its "
            "own noise; the space's autoencoder is shared).")


def fid_lines(summary: dict, gaps: dict, spaces: dict) -> str:
    """Per space: the lowest trained row, C1, the ceiling and the floor, how far C1 and C3 stand above the
    ceiling, and whether the seed noise of FID is smaller than the C1-to-ceiling distance."""
    lines = []
    for space, s in summary.items():
        best = min((v for v in VARIANTS if v in s), key=lambda v: s[v]["fid"])
        g, c1 = gaps.get(space, {}), s["C1"]
        std = c1["fid_std"]
        noise = ("" if std is None else f" The seed std of C1's FID ({std:.1f}) is "
                 + ("smaller" if std < abs(g["FID gap C1 - supervised"]) else "not smaller")
                 + " than C1's distance from the ceiling.")
        lines.append(f"- **{space}** (modality gap {spaces[space]['modality_gap']:.2f}): lowest mean FID of the "
                     f"trained rows **{best}** ({s[best]['fid']:.1f}), C1 {c1['fid']:.1f}; supervised "
                     f"ceiling {s['supervised']['fid']:.1f}, real-vs-real floor {s['real-vs-real']['fid']:.1f} "
                     f"({spaces[space]['n_real_vs_real']} real images against the N references in the space's "
                     f"encoder). "
                     f"Above the ceiling: C1 by {g['FID gap C1 - supervised']:.1f}"
                     + (f", C3 by {g['FID gap C3 - supervised']:.1f}" if "C3" in s else "")
                     + f" ({c1['n_seeds']} seed(s), N = {c1['n_inception']} in Inception features)." + noise)
    return "\n".join(lines)


def ceiling_lines(summary: dict, spaces: dict) -> str:
    """Per world space: the supervised generator's attribute accuracy beside what the embedding carries (the
    nearest training render's) and the real renders', and its share of the nearest-render figure; its FID
    beside the real-vs-real floor."""
    lines = []
    for space, s in summary.items():
        info, sup = spaces[space], s.get("supervised")
        if sup is None or sup["attr_accuracy"] is None or "nearest_render_accuracy" not in info:
            continue
        near = info["nearest_render_accuracy"]
        lines.append(f"- **{space}**: the supervised generator draws {sup['attr_accuracy']:.3f} of the attribute "
                     f"kinds right, against {near:.3f} for the render of the nearest training scene in embedding "
                     f"space (what the embedding carries) and {s['real-vs-real']['attr_accuracy']:.3f} for the real "
                     f"renders: **{sup['attr_accuracy'] / near:.0%}** of the nearest-render figure. Its FID is "
                     f"{sup['fid']:.1f} against the real-vs-real floor of {s['real-vs-real']['fid']:.1f}.")
    return "\n".join(lines)


def order_table(claims: Sequence[Verdict]) -> str:
    """A Markdown table: one row per (space, ordering), one column per metric, each cell the verdict with its
    effect and 95 % interval ("—" where the space has no such metric)."""
    claim_of = {**{pkey: text for pkey, text in ORDER.values()}, BEST[0]: BEST[1]}
    by_key = {v.key: v for v in claims if v.key}
    spaces = list(dict.fromkeys(v.space for v in claims if v.key.startswith("v_fid_")))
    head = ["space", "ordering"] + [m[1] for m in MEASURES.values()]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for space in spaces:
        for pkey, text in claim_of.items():
            cells = []
            for mkey, *_ in MEASURES.values():
                v = by_key.get(f"v_{mkey}_{pkey}_{SHORT[space]}") or by_key.get(f"v_{mkey}_{SHORT[space]}")
                cells.append("—" if v is None else v.verdict if v.effect is None else f"{v.verdict}: {v.interval()}")
            rows.append(f"| {space} | {text} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def order_sentence(claims: Sequence[Verdict], image_size: int) -> str:
    """How Table 3's order fared, per space and metric (verdicts counted), and, where an ordering is not held,
    the differences from the paper's setting that can explain it."""
    parts = []
    for space in dict.fromkeys(v.space for v in claims):
        if all(v.verdict == NOT_RUN for v in claims if v.space == space):
            parts.append(f"**{space}**: {NOT_RUN}")
            continue
        per = []
        for _, name, *_ in MEASURES.values():
            n = counts(v for v in claims if v.space == space and v.statistic.startswith(name))
            said = ", ".join(f"{n[w]} {w}" for w in VERDICTS if n[w])
            if said:
                per.append(f"{name}: {said}")
        if per:
            parts.append(f"**{space}**: " + "; ".join(per))
    text = "Table 3's orderings here, counted by verdict: " + ". ".join(parts) + "."
    if any(v.verdict == NOT_HELD for v in claims):
        text += (" Where an ordering is not held, differences from the paper can explain it: a small latent "
                 "diffusion model trained on a few thousand images instead of LAFITE's StyleGAN2 on MS-COCO, "
                 f"{image_size} px images, FID at small N, and spaces trained on thousands of pairs instead of "
                 "CLIP's 400 million.")
    return text


def prose(cfg: TextToImageConfig, runs: list[dict], workers: int) -> dict[str, Any]:
    """The numbers and short texts the page glues: the paper's Table 3 and this run's setting."""
    out = {f"p_fid_{k}": paper_values.TABLE3[v][0] for v, k in PAPER_KEYS.items()}
    out.update({f"p_is_{k}": paper_values.TABLE3[v][1] for v, k in PAPER_KEYS.items()})
    g, a = cfg.generator_config(1, 0), cfg.autoencoder_config()
    out.update({"noise_var": cfg.noise_std ** 2, "lafite_level": cfg.lafite_level, "n_eval": cfg.n_eval,
                "n_inception": cfg.n_inc, "image_size": cfg.image_size, "num_steps": g.num_steps,
                "guidance": g.guidance, "sample_steps": g.sample_steps, "ae_steps": a.num_steps,
                "latent_dim": a.latent_dim, "workers": workers, "latents_per_s": latents_per_second(runs, cfg),
                "seeds_sentence": seeds_sentence(cfg)})
    return out
