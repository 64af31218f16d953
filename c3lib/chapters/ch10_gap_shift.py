"""Gap-shift sensitivity (paper Appendix G, Table 6): a decoder trained on text embeddings ``x`` and
evaluated on ``x + c``, with ``c`` a constant vector orthogonal to the span of the text embeddings.

The span: the top principal directions of the (normalised, centred) training text embeddings that keep
``var_kept`` of their variance; ``c`` is a seeded random unit vector in the orthogonal complement (when
the complement is empty, the least-variance principal direction). ``x + c`` is not renormalised (the
paper shifts ``x`` as is). Also a synthetic caption world for the smoke preset when no data is present.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from c3lib.checks import AT_LEAST_1, OPEN_FRACTION
from c3lib.config import ChapterConfig
from c3lib.trainer import TrainConfig
from c3lib.data import standins
from c3lib.metrics import caption_metrics


def orthogonal_direction(emb: np.ndarray, rng: np.random.Generator, var_kept: float = 0.99
                         ) -> tuple[np.ndarray, dict]:
    """Unit vector (d,) orthogonal to the principal span of ``emb`` (n, d), with diagnostics."""
    centred = emb - emb.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=True)
    var = s ** 2 / (s ** 2).sum()
    k = int(np.searchsorted(np.cumsum(var), var_kept) + 1)
    d = emb.shape[1]
    if k >= d or k >= len(s):
        c = vt[len(s) - 1]
    else:
        comp = vt[k:]  # (d - k, d) orthonormal basis of the complement
        c = rng.normal(size=len(comp)) @ comp
    c = c / np.linalg.norm(c)
    frac = float(((centred @ c) ** 2).sum() / (centred ** 2).sum())
    return c, {"span_dims": k, "dim": d, "variance_fraction_along_c": frac}


def span_share(emb: np.ndarray, v: np.ndarray, var_kept: float = 0.99) -> float:
    """Share of ``v``'s squared norm inside the principal span of ``emb`` (the directions holding ``var_kept``
    of its variance): 0 for a shift orthogonal to the span, as Table 6's ``c``."""
    centred = emb - emb.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s ** 2 / (s ** 2).sum()
    k = int(np.searchsorted(np.cumsum(var), var_kept) + 1)
    return float(((vt[:k] @ v) ** 2).sum() / (v @ v))


def shift_sweep(captioner, emb: np.ndarray, references: Sequence[Sequence[str]], direction: np.ndarray,
                norms: Sequence[float], meteor: bool = True) -> tuple[list[dict], list[list[str]]]:
    """Caption ``normalize(emb) + r * direction`` for each ``r`` in ``norms`` -> (metrics per r, captions)."""
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    rows, caps = [], []
    for r in norms:
        preds = captioner.caption(x + r * direction, guard=False)
        m = caption_metrics(preds, references, meteor=meteor)
        rows.append({"norm": float(r), **m})
        caps.append(preds)
    return rows, caps


# ---- chapter 10 -----------------------------------------------------------------------------------------
PAPER_TABLE6 = {  # ||c||: (ROUGE-1, ROUGE-L, METEOR), paper Table 6 (CLIP text embeddings, COCO)
    0.0: (85.5, 81.2, 83.1), 0.2: (76.3, 71.5, 73.8), 0.4: (55.8, 50.6, 52.5), 0.6: (40.6, 35.9, 36.6),
    0.8: (30.5, 26.7, 26.5), 1.0: (24.1, 21.0, 20.3), 1.5: (16.6, 14.4, 13.8), 2.0: (13.8, 12.1, 11.6)}


@dataclasses.dataclass(frozen=True)
class GapShiftConfig(ChapterConfig):
    norms: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0)  # gap distances ||c|| (Table 6)
    source: str = "flickr8k"  # caption texts: flickr8k | coco | bag-of-words (generated, no data needed)
    space: str = "flickr8k-clip"  # text embeddings through this chapter 05 space's text tower; "" = MiniLM as is
    n_train: int = 8000  # training captions (MiniLM text embeddings)
    n_test: int = 500  # held-out captions to reconstruct
    var_kept: float = 0.99  # the "span": principal directions holding this share of the variance
    decoder: TrainConfig = dataclasses.field(default_factory=TrainConfig)  # the captioning decoder (per preset)
    meteor: bool = True  # METEOR runs Java (~2 s per call)

    RANGES = {"var_kept": OPEN_FRACTION, "n_train": AT_LEAST_1, "n_test": AT_LEAST_1}

    PRESETS = {
        # the captioning decoder, trained longer here (max epochs; early stopping on validation text loss)
        "smoke": {"source": "bag-of-words", "space": "", "n_train": 400, "n_test": 60, "meteor": False,
                  "decoder": {"num_epochs": 12, "warmup_steps": 100, "min_word_freq": 1}},
        "default": {"n_train": 2000, "n_test": 200,  # ~15 min at 8000/500/10 here
                    "decoder": {"num_epochs": 8, "warmup_steps": 100}},
        "paper": {"source": "coco", "n_train": 40000, "n_test": 1000},  # ClipCap's recipe (c3lib.trainer)
    }

    def __post_init__(self):
        if self.space not in TEXT_SPACES:
            raise ValueError(f"space must be one of {TEXT_SPACES} (a chapter 05 space with a text tower over "
                             f"MiniLM, or '' for MiniLM as is), got {self.space!r}")
        if self.space and self.source == "bag-of-words":
            raise ValueError("the generated bag-of-words captions have no MiniLM features for a space's text "
                             "tower: use space='' with source='bag-of-words'")


TEXT_SPACES = ("", "flickr8k-clip", "flickr8k-locked")


def load_texts(cfg: GapShiftConfig) -> dict:
    """Train/val/test captions and their text embeddings (MiniLM, or synthetic bag-of-words)."""
    rng = np.random.default_rng(cfg.seed)
    n_val = max(cfg.n_test // 2, 16)
    if cfg.source == "bag-of-words":
        caps, emb = standins.bag_of_words_captions(cfg.n_train + n_val + cfg.n_test, 64, rng)
        encoder = "generated bag-of-words (64-d)"
    else:
        from c3lib.data.loaders import load_coco_captions, load_flickr8k, resolve_data_dir
        from c3lib.cache import embeddings
        from c3lib.encoders.frozen import minilm_features
        root = resolve_data_dir(cfg.data_dir, required=True)
        if cfg.source == "coco":
            pool = load_coco_captions(root)
        else:
            pool = [c for cs in load_flickr8k(root, "train").captions for c in cs]
        caps = [pool[i] for i in rng.permutation(len(pool))[:cfg.n_train + n_val + cfg.n_test]]
        emb = embeddings("captions-minilm", "all-MiniLM-L6-v2", caps, lambda: minilm_features(caps, progress=False),
                         max_len=64)
        encoder = "all-MiniLM-L6-v2 (384-d)"
    gap = None
    if cfg.space:
        import torch

        from c3lib.contrastive import embed
        from c3lib.spaces import load_or_train_space

        space = load_or_train_space(cfg.space, cfg.context, progress=False)
        emb = embed(space["model"].tower_b, torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32)))
        encoder, gap = f"{cfg.space} text tower over MiniLM ({emb.shape[1]}-d)", float(space["trained"]["gap"])
        za, zb = (z / np.linalg.norm(z, axis=1, keepdims=True) for z in space["test_pairs"])
        gap_vector = za.mean(0) - zb.mean(0)  # the space's own gap, image mean minus text mean (held-out pairs)
    a, b = cfg.n_train, cfg.n_train + n_val
    return {"train": (caps[:a], emb[:a]), "val": (caps[a:b], emb[a:b]), "test": (caps[b:], emb[b:]),
            "encoder": encoder, "gap_length": gap, "gap_vector": gap_vector if cfg.space else None}


def run(cfg: GapShiftConfig) -> dict:
    """Train the decoder on ``x`` (plain normalised text embeddings: the C1 transform) and sweep ``||c||``."""
    from c3lib.trainer import fit_captioner
    from c3lib.transform import C3Transform

    texts = load_texts(cfg)
    (tr_caps, tr_emb), (va_caps, va_emb), (te_caps, te_emb) = texts["train"], texts["val"], texts["test"]
    tcfg = dataclasses.replace(cfg.decoder, seed=cfg.seed)
    log: list = []
    cap = fit_captioner(tr_emb, tr_caps, C3Transform.variant("C1"), tcfg, va_emb, va_caps, log=log)
    x_train = tr_emb / np.linalg.norm(tr_emb, axis=1, keepdims=True)
    c, diag = orthogonal_direction(x_train, np.random.default_rng(cfg.seed + 7), cfg.var_kept)
    rows, captions = shift_sweep(cap, te_emb, [[t] for t in te_caps], c, cfg.norms, cfg.meteor)
    along_gap = None
    if texts["gap_vector"] is not None:  # the same sweep along the space's real gap direction (C1's situation)
        g = texts["gap_vector"]
        g_rows, _ = shift_sweep(cap, te_emb, [[t] for t in te_caps], g / np.linalg.norm(g), cfg.norms, False)
        along_gap = {"rows": g_rows, "share_in_span": span_share(x_train, g, cfg.var_kept)}
    return {"rows": rows, "captions": captions, "references": te_caps, "direction": diag, "train_log": log,
            "encoder": texts["encoder"], "n_train": len(tr_caps), "n_test": len(te_caps),
            "gap_length": texts["gap_length"], "along_gap": along_gap,
            "captioner": cap, "c": c, "test_emb": te_emb}  # the last three for the live panel (not saved)


# ---- what the chapter concludes, and the live panel's fast path ---------------------------------------------
MONOTONE = "ROUGE-1 never rises by more than 1 point as ‖c‖ grows"
FALLS = "ROUGE-1 is lower at ‖c‖ = 2 than at ‖c‖ = 0"
PAPER_SIZE = "the relative drop by ‖c‖ = 2 is at least half the paper's"


SOURCE_NAMES = {"flickr8k": "Flickr8k", "coco": "MS-COCO", "bag-of-words": "generated"}


def space_label(source: str, encoder: str) -> str:
    """The space the chapter ran in, as the verdict names it."""
    return f"{encoder} embeddings of {SOURCE_NAMES.get(source, source)} captions"


def rouge_drop(rows: Sequence[dict]) -> dict:
    """ROUGE-1 at ‖c‖ = 0, 1, 2 (NaN where not swept), the relative drop from 0 to 2, ours and the paper's,
    and whether ROUGE-1 is non-increasing within one point from each ‖c‖ of the sweep to the next."""
    at = {r["norm"]: r["ROUGE-1"] for r in rows}
    r0, r1, r2 = (at.get(n, float("nan")) for n in (0.0, 1.0, 2.0))
    p0, p2 = PAPER_TABLE6[0.0][0], PAPER_TABLE6[2.0][0]
    scores = [r["ROUGE-1"] for r in rows]
    return {"r0": r0, "r1": r1, "r2": r2, "drop_ours": (r0 - r2) / r0 if r0 else float("nan"),
            "drop_paper": (p0 - p2) / p0, "monotone": all(b - a <= 1.0 for a, b in zip(scores, scores[1:]))}


PAPER_GAP_LENGTH = 0.82  # CLIP ViT-B/32's gap on MS-COCO (the paper's Table 1): the unit of its Table 6's ||c||


def normalised(rows: Sequence[dict], gap_length: float | None, metric: str = "ROUGE-1") -> list[dict]:
    """Each sweep point as (‖c‖ / the space's gap length, score / score at ‖c‖ = 0): the sensitivity in the
    space's own units, comparable across spaces; the paper's Table 6 in CLIP's gap (``gap_length`` None: NaN)."""
    at0 = next((r[metric] for r in rows if r["norm"] == 0.0), float("nan"))
    unit = gap_length if gap_length else float("nan")
    return [{"norm": r["norm"], "shift_in_gaps": r["norm"] / unit,
             "relative": r[metric] / at0 if at0 else float("nan")} for r in rows]


def paper_normalised() -> list[dict]:
    """The paper's Table 6 ROUGE-1 in the same units (CLIP's gap length, share of the unshifted score)."""
    return normalised([{"norm": k, "ROUGE-1": v[0]} for k, v in PAPER_TABLE6.items()], PAPER_GAP_LENGTH)


def claims(rows: Sequence[dict], space: str) -> dict[str, dict[str, bool | None]]:
    """``{space: {claim: held}}`` from the sweep; a claim whose ‖c‖ was not swept is ``None``."""
    d = rouge_drop(rows)
    swept = not (np.isnan(d["r0"]) or np.isnan(d["r2"]))
    return {space: {MONOTONE: bool(d["monotone"]), FALLS: bool(d["drop_ours"] > 0) if swept else None,
                    PAPER_SIZE: bool(d["drop_ours"] >= 0.5 * d["drop_paper"]) if swept else None}}


def shift_panel(captioner, emb: np.ndarray, references: Sequence[str], direction: np.ndarray, norm: float,
                k: int = 6) -> dict:
    """The live panel's fast path (well under a second): caption the first ``k`` held-out embeddings
    ``(k, d)`` shifted by ``norm * direction``, as :func:`shift_sweep` does, and their ROUGE-1."""
    x = emb[:k] / np.linalg.norm(emb[:k], axis=1, keepdims=True)
    preds = captioner.caption(x + norm * direction, guard=False)
    scores = caption_metrics(preds, [[r] for r in references[:k]], meteor=False)
    return {"captions": preds, "ROUGE-1": scores["ROUGE-1"]}
