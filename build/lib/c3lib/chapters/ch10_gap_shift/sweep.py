"""Chapter 10's sweep: a decoder trained on text embeddings ``x`` decodes ``x + c`` for growing ``||c||``.

The span: the top principal directions of the (normalised, centred) training text embeddings that keep
``var_kept`` of their variance; ``c`` is a seeded random unit vector in the orthogonal complement (when
the complement is empty, the least-variance principal direction). ``x + c`` is not renormalised (the
paper shifts ``x`` as is). Also a synthetic caption world for the smoke preset when no data is present.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch

from c3lib.cache import embeddings
from c3lib.contrastive import embed
from c3lib.data import standins
from c3lib.data.loaders import load_coco_captions, load_flickr8k, resolve_data_dir
from c3lib.encoders.frozen import minilm_features
from c3lib.metrics import caption_metrics, caption_scores
from c3lib.paper import GAP_LENGTH, TABLE6, TABLE6_METRICS
from c3lib.spaces import load_or_train_space
from c3lib.trainer import fit_captioner
from c3lib.transform import C3Transform


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
                norms: Sequence[float], meteor: bool = True) -> tuple[list[dict], list[list[str]], list[np.ndarray]]:
    """Caption ``normalize(emb) + r * direction`` for each ``r`` in ``norms`` -> (metrics per r, captions,
    per-item ROUGE-1 ``(n,)`` per r: the paired scores of the verdicts)."""
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    rows, caps, items = [], [], []
    for r in norms:
        preds = captioner.caption(x + r * direction, guard=False)
        m, per_item = caption_scores(preds, references, meteor=meteor)
        rows.append({"norm": float(r), **m})
        caps.append(preds)
        items.append(per_item["ROUGE-1"])
    return rows, caps, items


# ---- chapter 10 -----------------------------------------------------------------------------------------
def load_texts(cfg: Any) -> dict:
    """Train/val/test captions and their text embeddings (MiniLM, or synthetic bag-of-words)."""
    rng = np.random.default_rng(cfg.seed)
    n_val = max(cfg.n_test // 2, 16)
    if cfg.source == "bag-of-words":
        caps, emb = standins.bag_of_words_captions(cfg.n_train + n_val + cfg.n_test, 64, rng)
        encoder = "generated bag-of-words (64-d)"
    else:
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
        space = load_or_train_space(cfg.space, cfg.context, progress=False)
        emb = embed(space["model"].tower_b, torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32)))
        encoder, gap = f"{cfg.space} text tower over MiniLM ({emb.shape[1]}-d)", float(space["trained"]["gap"])
        za, zb = (z / np.linalg.norm(z, axis=1, keepdims=True) for z in space["test_pairs"])
        gap_vector = za.mean(0) - zb.mean(0)  # the space's own gap, image mean minus text mean (held-out pairs)
    a, b = cfg.n_train, cfg.n_train + n_val
    return {"train": (caps[:a], emb[:a]), "val": (caps[a:b], emb[a:b]), "test": (caps[b:], emb[b:]),
            "encoder": encoder, "gap_length": gap, "gap_vector": gap_vector if cfg.space else None}


def sweep(cfg: Any) -> dict[str, Any]:
    """Train the decoder on ``x`` (plain normalised text embeddings: the C1 transform) and sweep ``||c||``.

    Returns the metrics per ``||c||`` (``rows``), the captions, the per-item ROUGE-1 per ``||c||`` (``items``),
    the references, the direction's diagnostics, the training log, the encoder, the sizes, the space's gap
    length and the same sweep along the space's real gap (``along_gap``, None without a space), and, for the
    live panel, the decoder, ``c`` and the test embeddings."""
    texts = load_texts(cfg)
    (tr_caps, tr_emb), (va_caps, va_emb), (te_caps, te_emb) = texts["train"], texts["val"], texts["test"]
    tcfg = dataclasses.replace(cfg.decoder, seed=cfg.seed)
    log: list = []
    cap = fit_captioner(tr_emb, tr_caps, C3Transform.variant("C1"), tcfg, va_emb, va_caps, log=log)
    x_train = tr_emb / np.linalg.norm(tr_emb, axis=1, keepdims=True)
    c, diag = orthogonal_direction(x_train, np.random.default_rng(cfg.seed + 7), cfg.var_kept)
    rows, captions, items = shift_sweep(cap, te_emb, [[t] for t in te_caps], c, cfg.norms, cfg.meteor)
    along_gap = None
    if texts["gap_vector"] is not None:  # the same sweep along the space's real gap direction (C1's situation)
        g = texts["gap_vector"]
        g_rows, _, _ = shift_sweep(cap, te_emb, [[t] for t in te_caps], g / np.linalg.norm(g), cfg.norms, False)
        along_gap = {"rows": g_rows, "share_in_span": span_share(x_train, g, cfg.var_kept)}
    return {"rows": rows, "captions": captions, "items": items, "references": te_caps, "direction": diag,
            "train_log": log, "encoder": texts["encoder"], "n_train": len(tr_caps), "n_test": len(te_caps),
            "gap_length": texts["gap_length"], "along_gap": along_gap, "captioner": cap, "c": c, "test_emb": te_emb}


# ---- the sweep in the space's own units, and the live panel's fast path ------------------------------------
def normalised(rows: Sequence[dict], gap_length: float | None, metric: str = "ROUGE-1") -> list[dict]:
    """Each sweep point as (‖c‖ / the space's gap length, score / score at ‖c‖ = 0): the sensitivity in the
    space's own units, comparable across spaces; the paper's Table 6 in CLIP's gap (``gap_length`` None: NaN)."""
    at0 = next((r[metric] for r in rows if r["norm"] == 0.0), float("nan"))
    unit = gap_length if gap_length else float("nan")
    return [{"norm": r["norm"], "shift_in_gaps": r["norm"] / unit,
             "relative": r[metric] / at0 if at0 else float("nan")} for r in rows]


def paper_normalised() -> list[dict]:
    """The paper's Table 6 ROUGE-1 in the same units (CLIP's gap length, Table 1; share of the unshifted score)."""
    col = TABLE6_METRICS.index("ROUGE-1")
    return normalised([{"norm": k, "ROUGE-1": v[col]} for k, v in TABLE6.items()], GAP_LENGTH)


def shift_panel(captioner, emb: np.ndarray, references: Sequence[str], direction: np.ndarray, norm: float,
                k: int = 6) -> dict:
    """The live panel's fast path (well under a second): caption the first ``k`` held-out embeddings
    ``(k, d)`` shifted by ``norm * direction``, as :func:`shift_sweep` does, and their ROUGE-1."""
    x = emb[:k] / np.linalg.norm(emb[:k], axis=1, keepdims=True)
    preds = captioner.caption(x + norm * direction, guard=False)
    scores = caption_metrics(preds, [[r] for r in references[:k]], meteor=False)
    return {"captions": preds, "ROUGE-1": scores["ROUGE-1"]}
