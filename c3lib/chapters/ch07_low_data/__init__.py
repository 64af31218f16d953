"""Low-data fine-tuning (paper section 5.1, Fig 6, Appendix E Table 5; chapter 07).

Each text-only pre-trained decoder of chapter 06 (C1, C2-collapse, C2-corrupt, C3) is fine-tuned on 1, 5,
25 and 100 % of a pool of image-caption pairs, **on image embeddings** passed through the decoder's own
transform as inference inputs (normalise, collapse with the image mean; no noise). The official code
fine-tunes on caption embeddings here, which never shows the decoder an image; we do not copy that.
Against them: a supervised ClipCap trained from scratch on the same pairs only (C1 transform: normalised
image embeddings), with the text-only decoders' tokenizer, recipe and stopping rule, so only the data
differs. Everything is scored on held-out test images with :func:`c3lib.decoders.score` (with per-item
scores); the pre-trained decoders' zero-shot scores are the 0 % point. The pairs and models are :mod:`.finetuning`, the config :mod:`.setting`, the claims
:mod:`.claims`, the page's sentences and the paper beside ours :mod:`.page`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

from c3lib.chapter import ChapterResult
from c3lib.chapters.ch07_low_data.claims import (BEATS, CORRUPT, SHRINKS, claims, item_scores, kept_pretrained,
                                                 mean_advantage)
from c3lib.chapters.ch07_low_data.finetuning import (check_fraction, cycled, finetune, flatten_pairs,
                                                     fraction_subset, pair_loss, split_images, supervised)
from c3lib.chapters.ch07_low_data.page import comparison, page, paper_value, paper_values, table5_frame
from c3lib.chapters.ch07_low_data.setting import CHAPTER, CLAIM_METRIC, METHODS, METRICS, LowDataConfig
from c3lib.decoders import score, train_or_load
from c3lib.trainer import convergence

__all__ = ["BEATS", "CHAPTER", "CLAIM_METRIC", "CORRUPT", "METHODS", "METRICS", "SHRINKS", "LowDataConfig",
           "check_fraction", "claims", "cycled", "finetune", "flatten_pairs", "fraction_subset", "item_scores",
           "kept_pretrained", "mean_advantage",
           "pair_loss", "paper_value", "run", "split_images", "summarise", "supervised", "table5_frame", "train"]


def train(cfg: LowDataConfig, progress: bool = True) -> dict[str, Any]:
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
            if method == "ClipCap":  # from scratch: the text-only decoders' recipe and tokenizer
                sup_cfg = dataclasses.replace(pre_cfg, seed=s)
                model = supervised(emb, caps, sup_cfg, val, cfg.min_steps, log, pretrained[cfg.variants[0]].tokenizer)
            else:
                model = finetune(pretrained[method], emb, caps, tcfg, val, cfg.min_steps, log)
            ended = convergence(log, (sup_cfg if method == "ClipCap" else tcfg).num_epochs)
            runs.append({"fraction": f, "seed": s, "method": method, "n_pairs": len(caps), "epochs": len(log),
                         **{k: ended[k] for k in ("best_epoch", "max_epochs", "stopped")},
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
                           "supervised_lr": pre_cfg.lr, "supervised_max_epochs": pre_cfg.num_epochs}}



def summarise(runs: list[dict], keys: Sequence[str] = METRICS) -> list[dict]:
    """Mean and std over seeds per (fraction, method); every metric kept (``None`` where unavailable)."""
    from c3lib.report import summarise as by_group

    return by_group(runs, ("fraction", "method"), keys, keep_missing=keys, keep_missing_std=keys, first=("n_pairs",))


def run(cfg: LowDataConfig, progress: bool = True) -> ChapterResult:
    """The chapter: every model trained and scored (:func:`train`), the claims on per-item CIDEr and the page.

    ``metrics``: ``runs`` (one row per (fraction, seed, method), with per-item scores), ``summary`` (mean and
    std over seeds), ``task``, ``pool``, ``pretraining``, ``finetuning``, ``c3_minus_clipcap_cider`` (of the
    means, per fraction) and ``kept_pretrained_per_fraction``."""
    out = train(cfg, progress)
    found = claims(out["runs"], cfg.fractions, out["task"]["space"])
    prose, markdown = page(out, found, cfg.fractions, cfg.variants)
    metrics = {"runs": out["runs"], "summary": out["summary"], "task": out["task"], "pool": out["pool"],
               "pretraining": out["pretraining"],
               "c3_minus_clipcap_cider": mean_advantage(out["summary"], cfg.fractions),
               "finetuning": out["finetuning"], "kept_pretrained_per_fraction": kept_pretrained(out["runs"])}
    return ChapterResult(CHAPTER, metrics, found, comparison(out["summary"]), paper_values(), prose, markdown)
