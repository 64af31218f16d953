"""Low-data fine-tuning (paper section 5.1, Fig 6, Appendix E Table 5; chapter 07).

Each text-only pre-trained decoder of chapter 06 (C1, C2-collapse, C2-corrupt, C3) is fine-tuned on 1, 5,
25 and 100 % of a pool of image-caption pairs, **on image embeddings** passed through the decoder's own
transform as inference inputs (normalise, collapse with the image mean; no noise). The official code
fine-tunes on caption embeddings here, which never shows the decoder an image; we do not copy that.
Against them: a supervised ClipCap trained from scratch on the same pairs only (C1 transform: normalised
image embeddings; its tokenizer learnt from those pairs' captions). Everything is scored on held-out test
images with :func:`c3lib.decoders.score`; the pre-trained decoders' zero-shot scores are the 0 % point.

Pairs: the space's training images, five captions each. A seeded set of ``n_val_images`` images (all
five captions) is held out for early stopping; the pool is the rest, and fraction ``p`` with seed ``s``
takes the first ``ceil(p % * n)`` pairs of a seed-``s`` permutation of the pool (nested in ``p``).
Small subsets are cycled so every run takes at least ``min_steps`` optimisation steps.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from c3lib.checks import AT_LEAST_1, Range
from c3lib.config import ChapterConfig
from c3lib.decoders import CaptionSetup, score, train_or_load
from c3lib.metrics import TABLE_METRICS as METRICS

METHODS = ("ClipCap", "C1", "C2-collapse", "C2-corrupt", "C3")
# Paper Table 5 (MS-COCO, CLIP ViT-B/32 + GPT-2): % of pairs -> method -> METRICS order
# (BLEU-1, BLEU-4, METEOR, ROUGE-L, CIDEr, SPICE); 1-25 % averaged over three seeds.
PAPER_TABLE5 = {
    1.0: {"ClipCap": (64.5, 21.2, 21.2, 47.6, 71.1, 14.7), "C1": (66.5, 22.9, 22.6, 48.7, 78.5, 15.9),
          "C2-collapse": (66.8, 23.0, 22.6, 48.7, 78.5, 15.9), "C2-corrupt": (71.7, 28.8, 25.3, 52.7, 96.3, 18.3),
          "C3": (71.9, 28.9, 25.3, 52.7, 96.4, 18.3)},
    5.0: {"ClipCap": (70.1, 26.4, 24.0, 51.3, 89.4, 17.3), "C1": (70.6, 27.0, 24.5, 51.6, 91.6, 17.8),
          "C2-collapse": (70.7, 27.1, 24.6, 51.7, 92.1, 17.9), "C2-corrupt": (72.1, 29.3, 25.6, 53.1, 98.2, 18.7),
          "C3": (72.3, 29.4, 25.7, 53.1, 98.8, 18.8)},
    25.0: {"ClipCap": (73.0, 30.0, 26.0, 53.7, 101.7, 19.1), "C1": (73.2, 30.4, 26.1, 53.9, 102.8, 19.4),
           "C2-collapse": (73.1, 30.2, 26.1, 53.8, 102.4, 19.3), "C2-corrupt": (73.2, 30.9, 26.3, 54.2, 103.1, 19.3),
           "C3": (73.4, 31.1, 26.3, 54.3, 103.6, 19.4)},
    100.0: {"ClipCap": (74.0, 31.5, 26.8, 54.7, 106.6, 19.9), "C1": (74.6, 32.4, 27.2, 55.2, 109.7, 20.3),
            "C2-collapse": (74.6, 32.3, 27.1, 55.2, 109.2, 20.1), "C2-corrupt": (74.1, 32.2, 27.1, 55.2, 108.8, 20.2),
            "C3": (74.0, 32.2, 27.1, 55.2, 108.9, 20.2)},
}
PAPER_ZERO_SHOT = {  # 0 %: the paper's Table 2, image-free zero-shot (the same decoders before fine-tuning)
    "C1": (28.1, 2.4, 12.2, 25.4, 13.0, 6.8), "C2-collapse": (44.4, 6.1, 15.5, 33.6, 25.2, 9.2),
    "C2-corrupt": (69.0, 25.5, 24.3, 50.8, 87.6, 17.6), "C3": (71.0, 27.7, 25.0, 52.0, 93.3, 18.3)}


@dataclasses.dataclass(frozen=True)
class LowDataConfig(ChapterConfig):
    task: str = "flickr8k-clip"  # captioning task of chapter 06 whose decoders we fine-tune (tasks.TASKS)
    fractions: tuple[float, ...] = (1.0, 5.0, 25.0, 100.0)  # % of the pool's image-caption pairs
    seeds: tuple[int, ...] = (0, 1, 2)  # fine-tuning seeds (subset and training) below 100 %
    seeds_full: tuple[int, ...] = (0,)  # fine-tuning seeds at 100 % (the subset is the whole pool)
    variants: tuple[str, ...] = ("C1", "C2-collapse", "C2-corrupt", "C3")  # pre-trained decoders (seed 0)
    supervised: bool = True  # also train ClipCap from scratch on the same pairs
    n_val_images: int = 50  # train images (x5 captions) held out for early stopping
    n_pool_images: int = 1000  # images (x5 captions) in the pool the fractions are taken of; 0 = all the rest
    num_epochs: int = 3  # max fine-tuning epochs (early stopping on the validation pairs)
    min_steps: int = 60  # every run takes at least this many steps: small subsets are cycled
    lr: float = 3e-4  # fine-tuning rate (pre-trained decoders); 0 = the pre-training rate, as the paper
    meteor: bool = True  # METEOR (Java; c3lib.metrics keeps one process for all the chapter's scorings)
    setup: CaptionSetup = dataclasses.field(default_factory=CaptionSetup)  # chapter 06's tasks and decoders

    RANGES = {"fractions": Range(0, 100, low_open=True), "num_epochs": AT_LEAST_1, "n_val_images": AT_LEAST_1}

    PRESETS = {
        "smoke": {"task": "world", "seeds": (0,), "n_val_images": 16, "n_pool_images": 0, "num_epochs": 2,
                  "min_steps": 8, "meteor": False},
        "default": {},  # ~10 min here with 2 threads (measured); 1,000 pool images keep it inside 20 min
        "paper": {"n_val_images": 100, "n_pool_images": 0, "num_epochs": 10, "min_steps": 1000, "lr": 0.0},
    }


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
               log: list | None = None):
    """ClipCap from scratch on the pairs only: normalised image embeddings (C1), tokenizer from ``captions``."""
    from c3lib.transform import C3Transform
    from c3lib.tokenizer import CaptionTokenizer
    from c3lib.trainer import fit_captioner

    emb = _check_pairs(emb, captions)
    tok = None if tcfg.lm == "gpt2" else CaptionTokenizer.train_word_level(list(captions), tcfg.min_word_freq)
    x, caps = cycled(emb, captions, math.ceil(min_steps / tcfg.num_epochs) * tcfg.batch_size)
    v_emb, v_caps = val if val is not None else (None, None)
    return fit_captioner(x, caps, C3Transform.variant("C1"), tcfg, v_emb, v_caps, tokenizer=tok, log=log)


def run(cfg: LowDataConfig, progress: bool = True) -> dict[str, Any]:
    """Zero-shot scores of the pre-trained decoders, then every (fraction, seed, method): train and score."""
    from c3lib.progress import progress as tqdm  # off in the book (C3_PROGRESS=0)

    for f in cfg.fractions:
        check_fraction(f)
    task = cfg.setup.task(cfg.task, cfg.context)
    pre_cfg = cfg.setup.decoder_for(cfg.task)
    pretrained = {v: train_or_load(task, v, 0, pre_cfg, cfg.setup.noise_std)[0] for v in cfg.variants}
    img_emb, img_pairs = task.pairs()
    pool_img, val_img = split_images(len(img_pairs), cfg.n_val_images, cfg.seed, cfg.n_pool_images)
    pool_emb, pool_caps = flatten_pairs(img_emb[pool_img], [img_pairs[i] for i in pool_img])
    val = flatten_pairs(img_emb[val_img], [img_pairs[i] for i in val_img])
    ft_base = dataclasses.replace(pre_cfg, num_epochs=cfg.num_epochs, lr=cfg.lr or pre_cfg.lr)


    def scorer(cap) -> dict:  # METEOR's Java process is shared by every scoring (c3lib.metrics)
        return score(cap, task, cfg.meteor)[0]

    runs = []
    for v, cap in pretrained.items():
        runs.append({"fraction": 0.0, "seed": 0, "method": v, "n_pairs": 0, "epochs": 0,
                     "best_val_loss": pair_loss(cap, *val), **scorer(cap)})
    methods = (["ClipCap"] if cfg.supervised else []) + list(cfg.variants)
    jobs = [(f, s) for f in cfg.fractions for s in (cfg.seeds_full if f == 100 else cfg.seeds)]
    bar = tqdm(total=len(jobs) * len(methods), desc="fine-tuning", disable=not progress)
    for f, s in jobs:
        idx = fraction_subset(len(pool_caps), f, s)
        emb, caps = pool_emb[idx], [pool_caps[i] for i in idx]
        tcfg = dataclasses.replace(ft_base, seed=s)
        for method in methods:
            bar.set_postfix_str(f"{f:g} % seed {s} {method}")
            log: list = []
            if method == "ClipCap":
                sup_cfg = dataclasses.replace(tcfg, lr=pre_cfg.lr)  # from scratch: the pre-training rate
                model = supervised(emb, caps, sup_cfg, val, cfg.min_steps, log)
            else:
                model = finetune(pretrained[method], emb, caps, tcfg, val, cfg.min_steps, log)
            runs.append({"fraction": f, "seed": s, "method": method, "n_pairs": len(caps), "epochs": len(log),
                         "steps_per_epoch": math.ceil(max(len(caps), math.ceil(cfg.min_steps / tcfg.num_epochs)
                                                          * tcfg.batch_size) / tcfg.batch_size),
                         "kept_pretrained": method != "ClipCap" and model is pretrained[method],
                         "best_val_loss": pair_loss(model, *val, modality="source" if method == "ClipCap"
                                                    else "target"), **scorer(model)})
            bar.update()
    bar.close()
    return {"runs": runs, "summary": summarise(runs), "task": task.describe(),
            "pool": {"n_images": len(pool_img), "n_pairs": len(pool_caps), "n_val_images": len(val_img),
                     "n_val_pairs": len(val[1])},
            "pretraining": {**dataclasses.asdict(pre_cfg), "noise_std": cfg.setup.noise_std, "decoder_seed": 0},
            "finetuning": {**dataclasses.asdict(ft_base), "min_steps": cfg.min_steps,
                           "supervised_lr": pre_cfg.lr}}


def summarise(runs: list[dict], keys: Sequence[str] = METRICS) -> list[dict]:
    """Mean and std over seeds per (fraction, method); every metric kept (``None`` where unavailable)."""
    from c3lib.report import summarise as by_group

    return by_group(runs, ("fraction", "method"), keys, keep_missing=keys, keep_missing_std=keys, first=("n_pairs",))


def paper_value(fraction: float, method: str, metric: str) -> float | None:
    """The paper's Table 5 (or Table 2 at 0 %) value, ``None`` where it has none."""
    table = PAPER_ZERO_SHOT if fraction == 0 else PAPER_TABLE5.get(float(fraction), {})
    vals = table.get(method)
    return None if vals is None else vals[METRICS.index(metric)]


def claims(summary: list[dict], runs: list[dict], fractions: Sequence[float]) -> dict[str, Any]:
    """The paper's low-data claims on our CIDEr means: C3 beats supervised ClipCap at the smallest fraction
    (and by more than the two seed spreads), and its advantage shrinks as pairs grow; which method leads
    there; how many fine-tuning runs kept the pre-trained decoder (no epoch beat it on validation)."""
    cider = {(r["fraction"], r["method"]): r["CIDEr"] for r in summary}
    spread = {(r["fraction"], r["method"]): r["CIDEr std"] or 0.0 for r in summary}
    small, full = min(fractions), max(fractions)
    adv = {f: cider[f, "C3"] - cider[f, "ClipCap"] for f in fractions}
    methods = sorted({m for f, m in cider if f == small})
    kept: dict[float, int] = {}
    for r in sorted((r for r in runs if r["fraction"] > 0 and r["method"] != "ClipCap"), key=lambda r: r["fraction"]):
        kept[r["fraction"]] = kept.get(r["fraction"], 0) + int(r["kept_pretrained"])
    return {"c3_minus_clipcap_cider": adv, "c3_beats_supervised_at_smallest": bool(adv[small] > 0),
            "c3_clearly_beats_supervised_at_smallest":
                bool(adv[small] > spread[small, "C3"] + spread[small, "ClipCap"]),
            "advantage_shrinks": bool(adv[full] < adv[small]),
            "best_at_smallest": max(methods, key=lambda m: cider[small, m]),
            "kept_pretrained_per_fraction": kept,
            "paper_c3_minus_clipcap_cider": {f: paper_value(f, "C3", "CIDEr") - paper_value(f, "ClipCap", "CIDEr")
                                             for f in fractions if f in PAPER_TABLE5}}


BEATS = "C3 beats the supervised ClipCap at the smallest fraction (CIDEr)"
CLEARLY = "C3 beats ClipCap at the smallest fraction by more than the two seed spreads together"
SHRINKS = "C3's advantage over ClipCap shrinks from the smallest to the largest fraction"
CORRUPT_LEADS = "a corrupted variant (C3 or C2-corrupt) leads at the smallest fraction"


def verdicts(found: dict[str, Any], space: str, seeds_at_smallest: int) -> dict[str, dict[str, bool | None]]:
    """``{space: {claim: held}}`` from :func:`claims`' findings; with one seed at the smallest fraction there is
    no spread to beat, so that claim is ``None`` (not tested)."""
    return {space: {BEATS: found["c3_beats_supervised_at_smallest"],
                    CLEARLY: found["c3_clearly_beats_supervised_at_smallest"] if seeds_at_smallest > 1 else None,
                    SHRINKS: found["advantage_shrinks"],
                    CORRUPT_LEADS: found["best_at_smallest"] in ("C3", "C2-corrupt")}}
