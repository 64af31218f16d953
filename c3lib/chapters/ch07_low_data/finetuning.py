"""Chapter 07's pairs and models: the nested seeded subsets, fine-tuning a pre-trained decoder on image
embeddings, and ClipCap trained from scratch on the same pairs.

Pairs: the space's training images, five captions each. A seeded set of ``n_val_images`` images (all
five captions) is held out for early stopping; the pool is the rest, and fraction ``p`` with seed ``s``
takes the first ``ceil(p % * n)`` pairs of a seed-``s`` permutation of the pool (nested in ``p``).
Small subsets are cycled so every run takes at least ``min_steps`` optimisation steps.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def check_fraction(fraction: float) -> float:
    """A percentage of pairs in (0, 100]."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 100:
        raise ValueError(f"fraction must be a percentage in (0, 100], got {fraction!r}")
    return float(fraction)


def fraction_subset(n_pairs: int, fraction: float, seed: int) -> np.ndarray:
    """Indices of ``ceil(fraction % * n_pairs)`` pairs (at least one): a prefix of a seeded permutation,
    so a smaller fraction's subset is inside a larger one's for the same seed."""
    check_fraction(fraction)
    if n_pairs <= 0:
        raise ValueError(f"no pairs to take a fraction of (n_pairs={n_pairs})")
    k = max(1, math.ceil(round(fraction * n_pairs / 100, 9)))
    return np.random.default_rng([seed, 7]).permutation(n_pairs)[:k]


def flatten_pairs(img_emb: np.ndarray, captions: Sequence[Sequence[str]]) -> tuple[np.ndarray, list[str]]:
    """Images ``(n, d)`` with a list of captions each -> one row per (image, caption) pair ``(m, d)``."""
    img_emb = np.asarray(img_emb)
    if img_emb.ndim != 2 or len(img_emb) != len(captions):
        raise ValueError(f"need (n, d) image embeddings and n caption lists, got {img_emb.shape} and {len(captions)}")
    rows = [i for i, caps in enumerate(captions) for _ in caps]
    return img_emb[rows], [c for caps in captions for c in caps]


def split_images(n_images: int, n_val: int, seed: int, n_pool: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (pool, validation) image indices, disjoint; ``n_pool`` = 0 puts every other image in the pool."""
    if not 0 < n_val < n_images:
        raise ValueError(f"n_val_images must be in (0, {n_images}), got {n_val}")
    if n_pool < 0:
        raise ValueError(f"n_pool_images must be >= 0 (0 = all), got {n_pool}")
    order = np.random.default_rng([seed, 11]).permutation(n_images)
    rest = order[n_val:] if n_pool == 0 else order[n_val:n_val + n_pool]
    return np.sort(rest), np.sort(order[:n_val])


def cycled(emb: np.ndarray, captions: Sequence[str], min_pairs: int) -> tuple[np.ndarray, list[str]]:
    """Repeat the pairs (in order, whole passes first) until there are at least ``min_pairs``."""
    idx = np.resize(np.arange(len(captions)), max(len(captions), min_pairs))
    return emb[idx], [captions[i] for i in idx]


def _check_pairs(emb: np.ndarray, captions: Sequence[str], d_in: int | None = None) -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float64)
    if len(captions) == 0:
        raise ValueError("no image-caption pairs: the caption list is empty")
    if emb.ndim != 2 or len(emb) != len(captions):
        raise ValueError(f"need one (n, d) image embedding per caption, got {emb.shape} for {len(captions)} captions")
    if d_in is not None and emb.shape[1] != d_in:
        raise ValueError(f"image embeddings have dim {emb.shape[1]} but the pre-trained captioner expects dim {d_in}")
    if not np.isfinite(emb).all():
        raise ValueError(f"image embeddings contain NaN or infinite values ({int((~np.isfinite(emb)).sum())} entries)")
    return emb


def finetune(pretrained, emb: np.ndarray, captions: Sequence[str], tcfg, val: tuple | None = None,
             min_steps: int = 0, log: list | None = None):
    """Fine-tune a pre-trained captioner on image embeddings ``emb`` (n, d) and their ``captions``."""
    from c3lib.trainer import finetune_captioner

    emb = _check_pairs(emb, captions, pretrained.model.spec.d_in)
    x, caps = cycled(emb, captions, math.ceil(min_steps / tcfg.num_epochs) * tcfg.batch_size)
    v_emb, v_caps = val if val is not None else (None, None)
    log = [] if log is None else log
    tuned = finetune_captioner(pretrained, x, caps, tcfg, v_emb, v_caps, modality="target", log=log)
    if val is not None and min(r["val_loss"] for r in log) >= pair_loss(pretrained, *val):
        return pretrained  # early stopping at step 0: no fine-tuning epoch beat the pre-trained decoder
    return tuned


def pair_loss(cap, emb: np.ndarray, captions: Sequence[str], modality: str = "target") -> float:
    """Per-token loss of ``cap`` on image-caption pairs (images as inference inputs of ``modality``)."""
    import torch

    from c3lib.trainer import encode_captions, text_loss

    x = torch.as_tensor(cap.transform.transform(emb, modality=modality, train=False), dtype=torch.float32)
    return text_loss(cap.model, x, encode_captions(cap.tokenizer, captions), cap.tokenizer.pad_id, 256)


def supervised(emb: np.ndarray, captions: Sequence[str], tcfg, val: tuple | None = None, min_steps: int = 0,
               log: list | None = None, tokenizer=None):
    """ClipCap from scratch on the pairs only: normalised image embeddings (C1), with ``tokenizer`` (the
    text-only decoders' own, so that only the training data differs; ``None``: one learnt from ``captions`` for
    the small LM, the pretrained LM's own otherwise)."""
    from c3lib.transform import C3Transform
    from c3lib.tokenizer import CaptionTokenizer
    from c3lib.trainer import fit_captioner

    emb = _check_pairs(emb, captions)
    tok = tokenizer
    if tok is None and tcfg.lm == "small":  # a pretrained LM brings its own tokenizer
        tok = CaptionTokenizer.train_word_level(list(captions), tcfg.min_word_freq)
    x, caps = cycled(emb, captions, math.ceil(min_steps / tcfg.num_epochs) * tcfg.batch_size)
    v_emb, v_caps = val if val is not None else (None, None)
    return fit_captioner(x, caps, C3Transform.variant("C1"), tcfg, v_emb, v_caps, tokenizer=tok, log=log)
