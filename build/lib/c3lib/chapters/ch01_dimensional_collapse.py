"""Chapter 01, dimensional collapse (paper section 3.1, Fig 3, Fig 12, Fig 13, Appendix I.3).

:func:`run` measures every space of the chapter and returns a :class:`~c3lib.chapter.ChapterResult`: the
metrics, the claims, the paper beside ours and the sentences the page glues. Real inputs come from the data
folder (``modality-gap-features/``, ``flickr8k/``); without one, the smoke preset feeds generated images and
captions to the same encoders.

The claims and where their bounds come from:

* **collapse** (Section 3.1): the two modalities' effective dimensions together leave dimensions that neither
  uses, ``(d_e,image + d_e,text) / d < 1`` (the paper: 25 + 230 = 255 of 512, leaving 257 "ineffective"
  dimensions where the gap is born). A fixed encoder on fixed inputs has no sampling noise: an exact
  comparison. With fewer than d/2 + 1 pairs each effective dimension is capped at n − 1, so the sum is
  below d for any encoder: not enough data.
* **cone effect** (Appendix I.3, after Liang et al.): the cosine between two embeddings is "significantly
  higher than zero" in both modalities: each embedding's mean cosine with the others, an interval over the
  embeddings (one random initialisation), above 0.
* **depth** (Fig 13): "deeper networks ... a smaller effective dimension": the effective dimension never
  rises from one measured layer to the next (integers: the smallest fall is above −1) and the deepest is
  below the input's. One seeded network: exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from c3lib import geometry, paper
from c3lib.chapter import ChapterResult
from c3lib.checks import AT_LEAST_1, OPEN_FRACTION
from c3lib.config import ChapterConfig
from c3lib.data import standins
from c3lib.data.loaders import load_pair_features, resolve_data_dir
from c3lib.results import row
from c3lib.verdict import Verdict, above, all_of, below, exact, not_enough, not_run, one_sample

PAPER = {
    "random_init_clip_effective_dim": {"image": paper.EFFECTIVE_DIM["image"], "text": paper.EFFECTIVE_DIM["text"]},
    "shared_effective_dim_bound": paper.EFFECTIVE_DIM["shared_bound"],
    "d": paper.EFFECTIVE_DIM["d"],
    "threshold": paper.EFFECTIVE_DIM_GAMMA,
    "fig13": "effective dimension falls with depth (plotted, no table)",
    "cone_effect": "cosine similarity between random-init embeddings significantly higher than 0 (Liang et al., 2022)",
}


@dataclass(frozen=True)
class CollapseConfig(ChapterConfig):
    threshold: float = 0.99  # gamma of Definition 1: share of the singular values kept
    clip_model: str = "ViT-B-32"  # open_clip architecture fed real photos and captions at random init
    clip_weights: str = ""  # Fig 12 right: "" skips; a local checkpoint; "openai" downloads (paper only)
    n_pairs: int = 500  # Flickr8k photos (first caption each) fed to the random-init model
    split: str = "val"  # Flickr8k split they come from (val has 974 photos, train 6,105)
    batch_size: int = 32  # encoder batch
    towers: bool = True  # Fig 12 right offline: EfficientNet-Lite0 (photos) and MiniLM (captions)
    mlp_depth: int = 50  # Fig 13: number of ReLU(Linear) blocks
    mlp_width: int = 512  # Fig 13: width of every layer
    mlp_inputs: int = 10_000  # Fig 13: N(0, I) inputs
    mlp_every: int = 5  # Fig 13: measure after every k layers

    RANGES = {"threshold": OPEN_FRACTION, **dict.fromkeys(("n_pairs", "batch_size", "mlp_depth", "mlp_width", "mlp_inputs",
                                                            "mlp_every"), AT_LEAST_1)}

    PRESETS = {
        "smoke": {"n_pairs": 24, "towers": False, "mlp_depth": 10, "mlp_inputs": 1000, "mlp_width": 128},
        "default": {},
        "paper": {"n_pairs": 5000, "split": "train", "clip_weights": "openai"},
    }


def space_report(x: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, Any]:
    """Effective dimensions, spectra, centroid gap and cone effect of a paired space ``x``, ``y`` (n, d).

    Rows are L2-normalised first, as a contrastive space uses them.
    """
    x, y = geometry.normalize(x, "image embeddings"), geometry.normalize(y, "text embeddings")
    rep = {
        "n": int(x.shape[0]),
        "d_image": int(x.shape[1]),
        "d_text": int(y.shape[1]),
        "effective_dim_image": geometry.effective_dimension(x, threshold),
        "effective_dim_text": geometry.effective_dimension(y, threshold),
        "cone_image": geometry.mean_pairwise_cosine(x),
        "cone_text": geometry.mean_pairwise_cosine(y),
        "cone_items_image": geometry.row_mean_cosines(x),
        "cone_items_text": geometry.row_mean_cosines(y),
        "spectrum_image": geometry.singular_spectrum(x),
        "spectrum_text": geometry.singular_spectrum(y),
    }
    if x.shape[1] == y.shape[1]:
        rep["gap"] = float(np.linalg.norm(geometry.centroid_gap(x, y)))
    return rep


def precomputed_spaces(cfg: CollapseConfig, names=("clip_random", "clip")) -> dict[str, dict[str, Any]]:
    """Fig 3 / Fig 12 on the 500 COCO pairs of "Mind the Gap" (random-init and pretrained CLIP ViT-B/16)."""
    root = resolve_data_dir(cfg.data_dir, required=cfg.preset != "smoke")
    if root is None:
        return {}
    return {name: space_report(*load_pair_features(root, name), cfg.threshold) for name in names}


def _inputs(cfg: CollapseConfig) -> tuple[list, list[str], str]:
    root = resolve_data_dir(cfg.data_dir, required=cfg.preset != "smoke")
    return standins.photos_or_stand_ins(root, cfg.split, cfg.n_pairs, cfg.seed)


def openclip_space(cfg: CollapseConfig, weights: str | None = None) -> dict[str, Any]:
    """Our own open_clip model (random init unless ``weights``) fed photos and captions."""
    from c3lib.encoders.openclip import encode_images, encode_texts, load_openclip

    images, texts, source = _inputs(cfg)
    clip = load_openclip(cfg.clip_model, weights, seed=cfg.seed, allow_download=cfg.preset == "paper")
    x = encode_images(clip, images, cfg.batch_size)
    y = encode_texts(clip, texts, cfg.batch_size)
    return {**space_report(x, y, cfg.threshold), "inputs": source, "model": f"{cfg.clip_model} ({clip.weights})"}


def frozen_towers_space(cfg: CollapseConfig) -> dict[str, Any]:
    """Pretrained offline towers: EfficientNet-Lite0 on photos, MiniLM on their captions (different d)."""
    from c3lib.encoders.frozen import efficientnet_features, minilm_features

    images, texts, source = _inputs(cfg)
    x = efficientnet_features(images, cfg.batch_size)
    y = minilm_features(texts)
    return {**space_report(x, y, cfg.threshold), "inputs": source,
            "model": "EfficientNet-Lite0 (ImageNet) / all-MiniLM-L6-v2"}


def mlp_sweep(cfg: CollapseConfig) -> dict[str, list]:
    """Fig 13: effective dimension every ``mlp_every`` layers of a random ReLU MLP."""
    return geometry.mlp_collapse_sweep(cfg.mlp_depth, cfg.mlp_width, cfg.mlp_inputs, cfg.mlp_every,
                                       cfg.threshold, cfg.seed)


ARRAYS = ("spectrum_image", "spectrum_text", "cone_items_image", "cone_items_text")  # plotted, never saved


def summary(rep: dict[str, Any]) -> dict[str, Any]:
    """The scalar part of a :func:`space_report` (no spectra, no per-embedding cosines), for tables and the
    results file."""
    return {k: v for k, v in rep.items() if k not in ARRAYS}


COLLAPSE = "collapse: the two modalities leave dimensions neither uses"
CONE = "cone effect: embeddings' mutual cosine above 0 in both modalities"
DEPTH = "effective dim falls with depth (never rises, ends lower)"
SPACE_CLIP = "CLIP ViT-B/16, random init (COCO, precomputed)"
SPACE_OURS = "our random-init open_clip on photos and captions"
SPACE_MLP = "random ReLU MLP on N(0, I) inputs"
FIXED = "one fixed encoder on fixed inputs: no sampling noise"


def collapse_claim(rep: dict[str, Any], space: str, key: str) -> Verdict:
    """Section 3.1: ``(d_e,image + d_e,text) / d < 1``, exact; not enough data when n − 1 caps it below d."""
    d, n = rep["d_image"], rep["n"]
    stat = "(d_e image + d_e text) / d"
    if 2 * (n - 1) < d:
        return not_enough(COLLAPSE, stat, f"{n} pairs cap each effective dim at n − 1 = {n - 1}, so the two stay "
                          f"below d = {d} for any encoder", space, key)
    share = (rep["effective_dim_image"] + rep["effective_dim_text"]) / d
    return exact(share, COLLAPSE, stat, below(1.0), space, key, why=FIXED)


def cone_claim(rep: dict[str, Any], space: str, key: str) -> Verdict:
    """Appendix I.3: each modality's mean pairwise cosine above 0, an interval over the embeddings."""
    parts = [one_sample(np.asarray(rep[f"cone_items_{m}"])[None, :], CONE, f"mean cosine between {m} embeddings",
                        above(0.0), space) for m in ("image", "text")]
    return all_of(parts, CONE, "mean pairwise cosine", space, key)


def depth_claim(mlp: dict[str, list], key: str = "v_depth") -> Verdict:
    """Fig 13: the smallest fall of d_e between measured layers above −1 (never rises) and the total fall above 0."""
    dims, layers = mlp["effective_dim"], mlp["layer"]
    if len(dims) < 2:
        return not_enough(DEPTH, "effective dim along depth", "one measured layer: no depth to compare", SPACE_MLP, key)
    why = "one seeded network on seeded inputs: deterministic"
    parts = [exact(dims[0] - dims[-1], DEPTH, f"d_e at the input − d_e at layer {layers[-1]}", above(0.0), SPACE_MLP,
                   why=why),
             exact(min(a - b for a, b in zip(dims, dims[1:])), DEPTH, "smallest fall of d_e from one measured layer "
                   "to the next", above(-1.0), SPACE_MLP, why=why)]
    return all_of(parts, DEPTH, "effective dim along depth", SPACE_MLP, key)


def claims(pre: dict[str, dict], ours: dict[str, Any], mlp: dict[str, list]) -> list[Verdict]:
    """Every claim of the chapter, in page order; the precomputed CLIP space's are not run without its data."""
    if "clip_random" in pre:
        clip = [collapse_claim(pre["clip_random"], SPACE_CLIP, "v_clip_collapse"),
                cone_claim(pre["clip_random"], SPACE_CLIP, "v_clip_cone")]
    else:
        why = "no data folder: the precomputed CLIP features are absent"
        clip = [not_run(COLLAPSE, "(d_e image + d_e text) / d", SPACE_CLIP, "v_clip_collapse", why),
                not_run(CONE, "mean pairwise cosine", SPACE_CLIP, "v_clip_cone", why)]
    return clip + [collapse_claim(ours, SPACE_OURS, "v_ours_collapse"), cone_claim(ours, SPACE_OURS, "v_cone"),
                   depth_claim(mlp)]


def _dims(rep: dict[str, Any] | None) -> str:
    return f"{rep['effective_dim_image']} / {rep['effective_dim_text']}" if rep else "(not measured)"


def comparison(cfg: CollapseConfig, pre: dict, ours: dict, mlp: dict) -> list[dict]:
    """The paper's numbers beside ours."""
    dims = mlp["effective_dim"]
    rows = []
    if pre:
        rows += [
            row("random-init CLIP, image effective dim", PAPER["random_init_clip_effective_dim"]["image"],
                pre["clip_random"]["effective_dim_image"], "500 COCO pairs, precomputed"),
            row("random-init CLIP, text effective dim", PAPER["random_init_clip_effective_dim"]["text"],
                pre["clip_random"]["effective_dim_text"], "500 COCO pairs, precomputed"),
            row("pretrained CLIP, image / text effective dim", None, _dims(pre["clip"]), "Fig 12 right shows spectra only"),
        ]
    p = PAPER["random_init_clip_effective_dim"]
    rows += [
        row(f"our random-init {cfg.clip_model}, image / text effective dim", f"{p['image']} / {p['text']} (ViT-B/16)",
            _dims(ours), f"{ours['n']} {ours['inputs']} pairs"),
        row(f"MLP depth sweep, effective dim at layer 0 → {mlp['layer'][-1]}", "falls with depth",
            f"{dims[0]} → {dims[-1]}",
            "monotone" if all(a >= b for a, b in zip(dims, dims[1:])) else "not monotone"),
    ]
    return rows


def prose(cfg: CollapseConfig, pre: dict, ours: dict, towers: dict | None, mlp: dict) -> tuple[dict, dict]:
    """The numbers (``{glue:text}``) and the sentences (``{glue:md}``) the page states, from this run."""
    p = PAPER["random_init_clip_effective_dim"]
    spaces = {**{f"CLIP ViT-B/16 {k}": v for k, v in pre.items()}, f"ours: {ours['model']}": ours,
              **({"offline towers": towers} if towers else {})}
    cones = [v[f"cone_{m}"] for v in spaces.values() for m in ("image", "text")]
    values = {"p_gamma": PAPER["threshold"], "p_dim_img": p["image"], "p_dim_txt": p["text"], "p_d": PAPER["d"],
              "ours_model": cfg.clip_model, "ours_img": ours["effective_dim_image"],
              "ours_txt": ours["effective_dim_text"], "ours_n": ours["n"], "ours_rank": ours["n"] - 1,
              "ours_gap": ours["gap"], "ours_inputs": ours["inputs"], "mlp_last_layer": mlp["layer"][-1],
              "mlp_width": cfg.mlp_width, "mlp_inputs": cfg.mlp_inputs,
              "mlp_dims": " → ".join(str(d) for d in mlp["effective_dim"]), "cone_min": float(min(cones)),
              "cone_max": float(max(cones))}
    md = {"md_clip": "*The precomputed CLIP features are absent at this run (no data folder), so Fig 3 is not "
                     "measured here.*"}
    if pre:
        r, c = pre["clip_random"], pre["clip"]
        used = r["effective_dim_image"] + r["effective_dim_text"]
        more = c["effective_dim_image"] + c["effective_dim_text"] > used
        md["md_clip"] = (
            f"At random init the image embeddings have an effective dimension of **{r['effective_dim_image']}** and "
            f"the text embeddings **{r['effective_dim_text']}** (paper: {p['image']} and {p['text']}): together at "
            f"most {used} of {r['d_image']} dimensions carry variance, and the modality means are already "
            f"{r['gap']:.2f} apart before any training. The pretrained space uses {'more' if more else 'no more'} "
            f"dimensions ({_dims(c)}) and keeps a gap of {c['gap']:.2f}.")
    return values, md


def run(cfg: CollapseConfig, progress: bool = True) -> ChapterResult:
    """Every space of the chapter, its claims, the paper beside ours and the page's prose."""
    pre = precomputed_spaces(cfg)
    ours = openclip_space(cfg)
    towers = frozen_towers_space(cfg) if cfg.towers else None
    pretrained = openclip_space(cfg, cfg.clip_weights) if cfg.clip_weights else None
    mlp = mlp_sweep(cfg)
    metrics = {
        "precomputed": {k: summary(v) for k, v in pre.items()},
        "openclip_random_init": summary(ours),
        "offline_towers": summary(towers) if towers else None,
        "openclip_pretrained": summary(pretrained) if pretrained else None,
        "mlp_sweep": {"layer": mlp["layer"], "effective_dim": mlp["effective_dim"]},
    }
    values, md = prose(cfg, pre, ours, towers, mlp)
    return ChapterResult("01_dimensional_collapse", metrics, claims(pre, ours, mlp), comparison(cfg, pre, ours, mlp),
                         PAPER, values, md, {"pre": pre, "ours": ours, "towers": towers, "pretrained": pretrained,
                                             "mlp": mlp})
