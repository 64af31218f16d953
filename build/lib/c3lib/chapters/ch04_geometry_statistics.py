"""Chapter 04, geometry statistics (paper Table 1, Fig 8, Fig 9; Appendix C) on real contrastive spaces.

Each space is a pair ``(img_emb, txt_emb)`` of shape ``(n, d)``; :func:`c3lib.geometry.gap_statistics`
computes the statistics. Spaces: the precomputed features of "Mind the Gap" (pretrained and random-init
CLIP, ConVIRT, VideoCLIP, CLASP), and our random-init open_clip ViT-B-32 on Flickr8k photos. Without a data
folder (smoke only) a synthetic gap-plus-noise space stands in. At ``paper``: the paper's own space, CLIP
ViT-B/32 ``openai`` weights over the MS-COCO Karpathy train split (train + restval, first caption of each
image), from a local copy of the images (:func:`c3lib.data.loaders.load_coco_karpathy`), embeddings cached.
:func:`run` measures them all and returns a :class:`~c3lib.chapter.ChapterResult`.

Table 1's claims, tested in every space with an interval over its groups (``one_sample(..., unit="groups")``;
neighbouring groups share comparisons, so the interval is a little narrow; the length and direction claims
need at least 3 groups, the noise claim 3, since two groups make one comparison). Table 1 prints each statistic
as mean ± std to two decimals for groups of 100 pairs; a bound reads the paper's value at that precision
(half a last digit, 0.005, on the side that favours the claim) and, where the statistic depends on the group
size g, carries it to g by the paper's own argument that a group gap averages its pairs' noise away (the
noise in a group gap shrinks as 1/√g):

* **constant gap length** ("a near constant length of 0.83"; Table 1: 0.83 ± 0.01): the relative spread of
  the group gaps' lengths, std/mean over groups, is below (0.01 + 0.005) / (0.83 − 0.005) = 1.8 % at
  g = 100, times √(100/g).
* **constant gap direction** ("the 0.99 mean of cos(d_i, d_j) confirms that the gap has the same
  direction"): the mean cosine between group gaps is above 0.99 − 0.005 = 0.985 at g = 100; its shortfall
  from 1 grows as 100/g (1 − 0.015 · 100/g).
* **gap orthogonal to the spans** ("zero mean with a small standard deviation 0.06"): the mean of
  cos(d_i, x_j − x_k) is zero for any vector, since swapping j and k flips its sign, so it cannot tell; what
  can is its spread. A direction with no relation to the span has a root mean square cosine of exactly 1/√d
  with any difference (E cos² = 1/d over directions), so "orthogonal" needs the RMS below 1/√d.
* **noise without a preferred direction** ("zero mean", Table 1: 0.00 ± 0.10): the mean cosine between
  noises of different groups (within a group they sum to zero, which biases their cosines to −1/(g − 1)) is
  inside ±0.005, the paper's 0.00 at its precision.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from c3lib import geometry, paper
from c3lib.chapter import ChapterResult
from c3lib.checks import AT_LEAST_1, AT_LEAST_2
from c3lib.config import ChapterConfig
from c3lib.data import standins
from c3lib.data.loaders import KARPATHY_TRAIN, load_coco_karpathy, load_pair_features, resolve_data_dir
from c3lib.results import row
from c3lib.verdict import Region, Verdict, above, below, near_zero, not_enough, one_sample

PAPER = {
    "space": f"CLIP ViT-B/32 (openai), MS-COCO Karpathy train, groups of {paper.TABLE1_GROUP}",
    **{stat: {"mean": mean, "std": std} for stat, (mean, std) in paper.TABLE1.items()},
    "random_init_clip_effective_dim": {"image": paper.EFFECTIVE_DIM["image"], "text": paper.EFFECTIVE_DIM["text"]},
}

PRECOMPUTED = {  # file name -> label (model, modalities)
    "clip": "CLIP ViT-B/16 pretrained, COCO image/caption",
    "clip_random": "CLIP ViT-B/16 random init, COCO image/caption",
    "convirt": "ConVIRT pretrained, X-ray/report",
    "convirt_random": "ConVIRT random init, X-ray/report",
    "videoclip": "VideoCLIP pretrained, video/caption",
    "videoclip_random": "VideoCLIP random init, video/caption",
    "clasp": "CLASP pretrained, protein/text",
    "clasp_random": "CLASP random init, protein/text",
}


@dataclass(frozen=True)
class GeometryStatsConfig(ChapterConfig):
    group_size: int = 100  # pairs per group (paper: 100)
    small_group_size: int = 20  # used for spaces with fewer than 2 groups of group_size (n = 100 / 99)
    spaces: tuple[str, ...] = tuple(PRECOMPUTED)  # precomputed spaces to measure
    openclip_pairs: int = 500  # Flickr8k val pairs embedded by random-init open_clip ViT-B-32 (0 skips)
    clip_model: str = "ViT-B-32"  # open_clip architecture at random init
    batch_size: int = 32  # encoder batch
    synthetic_n: int = 500  # smoke without data: pairs of the gap-plus-noise stand-in space
    coco_karpathy: bool = False  # CLIP ViT-B/32 'openai' over <data_dir>/coco-karpathy/ (downloads the weights)
    coco_splits: tuple[str, ...] = KARPATHY_TRAIN  # Karpathy splits to embed (train + restval = 113,287 images)
    coco_pairs: int = 0  # first N images of those splits (0: all), one pair per image with its first caption

    RANGES = {"group_size": AT_LEAST_2, "small_group_size": AT_LEAST_2, "batch_size": AT_LEAST_1, "synthetic_n": AT_LEAST_2}

    PRESETS = {
        "smoke": {"spaces": ("clip", "videoclip"), "openclip_pairs": 16, "small_group_size": 8},
        "default": {},
        "paper": {"coco_karpathy": True, "batch_size": 256},
    }


def group_size_for(cfg: GeometryStatsConfig, n: int) -> int:
    """``cfg.group_size`` when the space holds at least two groups of it, else ``cfg.small_group_size``."""
    return cfg.group_size if n >= 2 * cfg.group_size else min(cfg.small_group_size, n)


def openclip_pairs(cfg: GeometryStatsConfig, root) -> tuple[np.ndarray, np.ndarray, str]:
    """Random-init open_clip on Flickr8k val photos and their first captions (generated inputs without data)."""
    from c3lib.encoders.openclip import encode_images, encode_texts, load_openclip

    images, texts, src = standins.photos_or_stand_ins(root, "val", cfg.openclip_pairs, cfg.seed)
    clip = load_openclip(cfg.clip_model, None, seed=cfg.seed)
    x = encode_images(clip, images, cfg.batch_size)
    y = encode_texts(clip, texts, cfg.batch_size)
    return x, y, src


def coco_karpathy_pairs(cfg: GeometryStatsConfig, root, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The paper's space: CLIP ViT-B/32 ``openai`` over the Karpathy split, each image with its first caption.

    The data folder is checked before any download; embeddings are cached by model, weights and the contents
    of every image file and caption, so a rerun (or another chapter) encodes nothing twice.
    """
    import open_clip

    from c3lib.cache import embeddings
    from c3lib.encoders.openclip import encode_images, encode_texts, lazy_openclip

    pairs = load_coco_karpathy(root, tuple(cfg.coco_splits), limit=cfg.coco_pairs or None)
    texts = [c[0] for c in pairs.captions]
    model = lazy_openclip("ViT-B-32", "openai")
    settings = {"open_clip": open_clip.__version__}
    x = embeddings("coco_karpathy_vitb32_openai_img", "ViT-B-32/openai", pairs.image_paths,
                   lambda: encode_images(model(), pairs.image_paths, cfg.batch_size, progress=progress), **settings)
    y = embeddings("coco_karpathy_vitb32_openai_txt", "ViT-B-32/openai", texts,
                   lambda: encode_texts(model(), texts, cfg.batch_size, progress=progress), **settings)
    return x, y


def measure(x: np.ndarray, y: np.ndarray, cfg: GeometryStatsConfig, label: str) -> dict[str, Any]:
    """Gap statistics and effective dimensions of one space; ``stats`` keeps the raw samples for Fig 8."""
    group = group_size_for(cfg, len(x))
    stats = geometry.gap_statistics(x, y, group, cfg.seed)
    return {"label": label, "stats": stats, **stats.summary(),
            "effective_dim_image": geometry.effective_dimension(geometry.normalize(x)),
            "effective_dim_text": geometry.effective_dimension(geometry.normalize(y))}


def all_spaces(cfg: GeometryStatsConfig, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Measure every configured space; keys are short names."""
    root = resolve_data_dir(cfg.data_dir, required=cfg.preset != "smoke" or cfg.coco_karpathy)
    out: dict[str, dict[str, Any]] = {}
    if cfg.coco_karpathy:  # first: a missing COCO folder fails before any slower work
        x, y = coco_karpathy_pairs(cfg, root, progress)
        out["clip_coco_karpathy"] = measure(x, y, cfg, f"CLIP ViT-B/32 openai, MS-COCO Karpathy "
                                                      f"{' + '.join(cfg.coco_splits)}, first caption")
    if root is None:
        x, y = standins.gap_plus_noise_space(cfg.synthetic_n, seed=cfg.seed)
        out["stand-in"] = measure(x, y, cfg, "gap-plus-noise stand-in (smoke, no data folder)")
    else:
        for name in cfg.spaces:
            if name not in PRECOMPUTED:
                raise ValueError(f"unknown space {name!r}; valid: {', '.join(PRECOMPUTED)}")
            out[name] = measure(*load_pair_features(root, name), cfg, PRECOMPUTED[name])
    if cfg.openclip_pairs > 0:
        x, y, src = openclip_pairs(cfg, root)
        out["openclip_random"] = measure(x, y, cfg, f"open_clip {cfg.clip_model} random init, {src}")
    return out


def table(spaces: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per space: n, group size, mean +- std of each statistic (plain floats, for a DataFrame)."""
    rows = []
    for name, rep in spaces.items():
        r = {"space": name, "label": rep["label"], "n": rep["n"], "group": rep["group_size"],
             "eff. dim img/txt": f"{rep['effective_dim_image']}/{rep['effective_dim_text']}"}
        for stat in geometry.GAP_STATISTICS:
            r[stat] = f"{rep[stat + '_mean']:.2f} ± {rep[stat + '_std']:.2f}"
        rows.append(r)
    return rows


PRINTED = 0.005  # half the last digit Table 1 prints: its values are rounded to two decimals
LENGTH = "constant gap length"
DIRECTION = "constant gap direction"
ORTHOGONAL = "gap orthogonal to the spans"
NOISE = "noise without a preferred direction"


def bounds(group: int, d: int) -> dict[str, Region]:
    """The region of each claim for groups of ``group`` pairs in ``d`` dimensions (module docstring)."""
    (length, length_std), scale = paper.TABLE1["gap_length"], paper.TABLE1_GROUP / group
    spread = (length_std + PRINTED) / (length - PRINTED) * math.sqrt(scale)
    return {LENGTH: below(spread), DIRECTION: above(1 - (1 - paper.TABLE1["gap_direction"][0] + PRINTED) * scale),
            ORTHOGONAL: below(1 / math.sqrt(d)), NOISE: near_zero(paper.TABLE1["noise_direction"][0] + PRINTED)}


def _root(v: Verdict, region: Region, statistic: str) -> Verdict:
    """A verdict on a mean square restated as its root: a monotone map, so the verdict word is unchanged."""
    def root(x):
        return None if x is None else math.sqrt(max(x, 0.0))

    return dataclasses.replace(v, effect=root(v.effect), low=root(v.low), high=root(v.high), region=str(region),
                               statistic=statistic)


def space_claims(rep: dict[str, Any], space: str, keys: dict[str, str] | None = None) -> list[Verdict]:
    """Table 1's four claims in one measured space, each with an interval over its groups."""
    st, keys = rep["stats"], keys or {}
    per, groups, region = st.per_group, st.num_groups, bounds(st.group_size, st.d)

    def over_groups(values, claim, statistic, reg):
        return one_sample(np.asarray(values, dtype=float), claim, statistic, reg, space, keys.get(claim, ""),
                          unit="groups")

    length_stat, direction_stat = "std / mean of the group gaps' lengths", "mean cos between group gaps"
    if groups < 3:  # two groups give one length difference and one cosine, each counted twice: no spread
        why = f"{groups} groups: a spread between groups needs at least 3"
        length = not_enough(LENGTH, length_stat, why, space, keys.get(LENGTH, ""))
        direction = not_enough(DIRECTION, direction_stat, why, space, keys.get(DIRECTION, ""))
    else:
        lengths = np.asarray(per["gap_length"], dtype=float)
        rel_sq = (lengths / lengths.mean() - 1) ** 2 * groups / (groups - 1)  # its mean: variance (ddof 1) / mean²
        length = _root(over_groups(rel_sq, LENGTH, "", below(region[LENGTH].high ** 2)), region[LENGTH], length_stat)
        direction = over_groups(per["gap_direction"], DIRECTION, direction_stat, region[DIRECTION])
    ortho_sq = np.asarray(per["orthogonality_sq"], dtype=float)
    ortho = _root(over_groups(ortho_sq[np.isfinite(ortho_sq)], ORTHOGONAL, "", below(region[ORTHOGONAL].high ** 2)),
                  region[ORTHOGONAL], "RMS cos(group gap, image difference)")
    return [length, direction, ortho,
            over_groups(per["noise_direction"], NOISE, "mean cos between noises of different groups", region[NOISE])]


REF_KEYS = {LENGTH: "v_ref_length", DIRECTION: "v_ref_direction", ORTHOGONAL: "v_ref_orthogonal", NOISE: "v_ref_noise"}


def reference(spaces: dict[str, dict[str, Any]]) -> str:
    """The space closest to the paper's: its own (COCO Karpathy) when measured, else pretrained CLIP."""
    return next((k for k in ("clip_coco_karpathy", "clip") if k in spaces), next(iter(spaces)))


def claims(spaces: dict[str, dict[str, Any]]) -> list[Verdict]:
    """Table 1's claims in every space measured, the reference space first (its verdicts keyed for the page)."""
    ref = reference(spaces)
    order = [ref] + [k for k in spaces if k != ref]
    return [v for k in order for v in space_claims(spaces[k], spaces[k]["label"], REF_KEYS if k == ref else None)]


def _pm(mean: float, std: float) -> str:
    return f"{mean:.2f} ± {std:.2f}"


def prose(cfg: GeometryStatsConfig, spaces: dict[str, dict[str, Any]], found: list[Verdict]) -> tuple[dict, dict]:
    """The numbers (``{glue:text}``) and the sentences (``{glue:md}``) the page states, from this run."""
    ref = reference(spaces)
    r = spaces[ref]
    pretrained = [k for k in spaces if not k.endswith("random") and k != "stand-in"]
    random_init = [k for k in spaces if k.endswith("random")]
    both = bool(pretrained and random_init)
    small = [k for k, v in spaces.items() if v["group_size"] != cfg.group_size]
    cr = spaces.get("clip_random")
    p_dims = PAPER["random_init_clip_effective_dim"]
    by_space: dict[str, list[Verdict]] = {}
    for v in found:
        by_space.setdefault(v.space, []).append(v)
    if ref == "clip_coco_karpathy":
        note = (f"The reference is the paper's own space: CLIP ViT-B/32 (openai) on the MS-COCO Karpathy train split "
                f"({' + '.join(cfg.coco_splits)}, n = {r['n']:,} images, first caption of each).")
    elif ref == "clip":
        note = (f"Where ours differ: the reference model is CLIP ViT-B/16 on {r['n']} COCO val2017 pairs (paper: "
                f"ViT-B/32 on the Karpathy train split), so each statistic has fewer samples ({r['num_groups']} groups "
                f"of {r['group_size']}).")
    else:
        note = "No data folder: a generated gap-plus-noise space stands in; these numbers test the code, not CLIP."

    def fmt(keys, stat, how):
        return f"{how([spaces[k][stat] for k in keys]):.2f}" if both else "(not measured)"

    values = {
        **{f"p_{stat}": _pm(PAPER[stat]["mean"], PAPER[stat]["std"]) for stat in geometry.GAP_STATISTICS},
        "p_group": paper.TABLE1_GROUP, "p_dims": f"{p_dims['image']} / {p_dims['text']}",
        "p_noise_mean_bound": f"{paper.TABLE1_NOISE_MEAN_BOUND:.0e}",
        "ref_label": r["label"], "ref_group": r["group_size"],
        **{f"ref_{stat}": _pm(r[stat + "_mean"], r[stat + "_std"]) for stat in geometry.GAP_STATISTICS},
        "noise_mean_max": float(np.abs(r["stats"].samples["noise_mean"]).max()),
        "dir_min_pre": fmt(pretrained, "gap_direction_mean", min), "dir_min_rand": fmt(random_init, "gap_direction_mean", min),
        "ortho_pre": fmt(pretrained, "orthogonality_std", np.mean), "ortho_rand": fmt(random_init, "orthogonality_std", np.mean),
        "n_spaces": len(spaces), "cr_dims": f"{cr['effective_dim_image']} / {cr['effective_dim_text']}" if cr else
        "(not measured)", "group_size": cfg.group_size, "small_spaces": ", ".join(small) if small else "none",
        "small_group_size": cfg.small_group_size, "small_n_max": 2 * cfg.group_size - 1, "ref_note": note,
        "all_held_spaces": sum(all(v.held for v in vs) for vs in by_space.values()), "n_claim_spaces": len(by_space),
    }
    reg = bounds(r["group_size"], r["d"])
    md = {"md_rules": "\n".join([
        f"- **{LENGTH}**: std / mean of the group gaps' lengths {reg[LENGTH]} (Table 1's "
        f"{values['p_gap_length']} read at its precision, {(PAPER['gap_length']['std'] + PRINTED) / (PAPER['gap_length']['mean'] - PRINTED):.3f} "
        f"for groups of {paper.TABLE1_GROUP}, times √({paper.TABLE1_GROUP}/g));",
        f"- **{DIRECTION}**: mean cosine between group gaps {reg[DIRECTION]} (Table 1's "
        f"{PAPER['gap_direction']['mean']:.2f} − {PRINTED} for groups of {paper.TABLE1_GROUP}; the shortfall from 1 "
        f"grows as {paper.TABLE1_GROUP}/g);",
        f"- **{ORTHOGONAL}**: RMS cosine of the group gap with image differences {reg[ORTHOGONAL]} = 1/√{r['d']}, "
        "what a direction unrelated to the span gives;",
        f"- **{NOISE}**: mean cosine between noises of different groups {reg[NOISE]} (Table 1's "
        f"{PAPER['noise_direction']['mean']:.2f} at its precision)."])}
    return values, md


def comparison(spaces: dict[str, dict[str, Any]]) -> list[dict]:
    """Table 1 beside the reference space, and the random-init spaces' numbers."""
    ref = reference(spaces)
    r = spaces[ref]
    rows = [row(f"{stat} (mean ± std), {ref}", _pm(PAPER[stat]["mean"], PAPER[stat]["std"]),
                _pm(r[stat + "_mean"], r[stat + "_std"]), f"n = {r['n']}, groups of {r['group_size']}")
            for stat in geometry.GAP_STATISTICS]
    rms = math.sqrt(float(np.mean(r["stats"].samples["orthogonality"] ** 2)))
    rows.append(row(f"orthogonality RMS cos, {ref}", PAPER["orthogonality"]["std"], round(rms, 4),
                    f"a direction unrelated to the span: 1/√d = {1 / math.sqrt(r['d']):.4f}"))
    if "clip_random" in spaces:
        c, p = spaces["clip_random"], PAPER["random_init_clip_effective_dim"]
        rows.append(row("random-init CLIP effective dim image / text", f"{p['image']} / {p['text']}",
                        f"{c['effective_dim_image']} / {c['effective_dim_text']}", "ViT-B/16, 500 COCO pairs"))
    if "openclip_random" in spaces:
        o = spaces["openclip_random"]
        rows.append(row("our random-init open_clip gap length / orthogonality std", None,
                        f"{o['gap_length_mean']:.2f} / {o['orthogonality_std']:.2f}", o["label"]))
    return rows


def run(cfg: GeometryStatsConfig, progress: bool = True) -> ChapterResult:
    """Every configured space, Table 1's claims in each, the paper beside ours and the page's prose."""
    spaces = all_spaces(cfg, progress)
    found = claims(spaces)
    metrics = {k: {key: val for key, val in v.items() if key != "stats"} for k, v in spaces.items()}
    values, md = prose(cfg, spaces, found)
    return ChapterResult("04_geometry_statistics", metrics, found, comparison(spaces), PAPER, values, md,
                         {"spaces": spaces, "reference": reference(spaces)})
