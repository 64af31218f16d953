"""Chapter 09 on the world: chapter 06's decoders of ``world-clip``, the audio and video towers chapter 05
bound to its frozen image head, and each modality captioned by one text-only decoder per variant and seed.

Collapse removes each modality's own mean, fitted on unpaired training items of that modality; the stored
decoder is never changed (a copy of its transform gets the new target mean). Each run keeps its per-item
scores (``items``) for the paired verdicts.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Sequence

import numpy as np
import torch

from c3lib import binding, spaces
from c3lib.captioner import Captioner
from c3lib.chapters.ch09_other_modalities.setting import CHAPTER, CLAIM_METRIC, METRICS, OtherModalitiesConfig
from c3lib.contrastive import embed
from c3lib.data.world import score_caption
from c3lib.decoders import train_or_load
from c3lib.encoders.towers import MLPHead
from c3lib.metrics import caption_scores
from c3lib.paper import TABLE4_METRICS
from c3lib.runstore import run_path
from c3lib.tasks import CrossModalTask


# ---- chapter 06's decoders: the one place that reaches into chapter 06 ---------------------------------
def chapter06_decoders(cfg: OtherModalitiesConfig, progress: bool = False, task_fields: dict | None = None):
    """Chapter 06's text-only decoders ``(task, {(variant, seed): Captioner})`` from the run store, trained
    there on demand with chapter 06's own settings (never here with other ones): on chapter 06's world task,
    or on a task made of ``task_fields`` (the paper preset's ImageBind embeddings)."""
    setup = cfg.setup
    if task_fields is not None:
        task = CrossModalTask(**task_fields)
    else:
        task = setup.task("world-clip", cfg.context, progress=progress)
    caps = {(v, s): train_or_load(task, v, s, setup.decoder_for(task.name), setup.noise_std)[0]
            for v in cfg.variants for s in cfg.seeds}
    return task, caps


# ---- decoding another modality ---------------------------------------------------------------------------
def retarget(cap, target_emb: np.ndarray):
    """A captioner sharing ``cap``'s network whose transform's target mean is that of ``target_emb`` (n, d)
    (unpaired items of the modality to caption); ``cap`` itself is left as it is."""
    target_emb = np.asarray(target_emb, dtype=np.float64)
    d_in = cap.model.spec.d_in
    if target_emb.ndim != 2 or target_emb.shape[1] != d_in:
        raise ValueError(f"the decoder reads {d_in}-d embeddings but this space embeds in "
                         f"{target_emb.shape[-1] if target_emb.ndim else '?'} dims: it was trained on another space")
    t = copy.deepcopy(cap.transform)
    t.mean_target_ = (target_emb / np.linalg.norm(target_emb, axis=1, keepdims=True)).mean(axis=0)
    return Captioner(cap.model, cap.tokenizer, t, cap.extra)


def score_modality(cap, unpaired: np.ndarray, test_emb: np.ndarray, refs: Sequence[Sequence[str]],
                   attributes: Sequence[dict] | None, meteor: bool) -> tuple[dict, list[str]]:
    """Caption ``test_emb`` (n, d) with ``cap`` retargeted to ``unpaired``; caption metrics, the per-item
    scores of :data:`CLAIM_METRIC` (``items``, 0-100, whose mean is its corpus score) and, where
    ``attributes`` (world ground truth) are given, attribute precision and recall."""
    preds = retarget(cap, unpaired).caption_raw(test_emb, modality="target")
    m, items = caption_scores(preds, refs, meteor=meteor)
    out = {k: m.get(k) for k in TABLE4_METRICS + ("CIDEr",)}
    out["attr_precision"] = out["attr_recall"] = None  # real data has no ground-truth attributes
    if attributes is not None:
        s = [score_caption(p, a) for p, a in zip(preds, attributes)]
        out["attr_precision"] = 100.0 * float(np.mean([x["precision"] for x in s]))
        out["attr_recall"] = 100.0 * float(np.mean([x["recall"] for x in s]))
    out["items"] = {CLAIM_METRIC: [round(float(x), 4) for x in items[CLAIM_METRIC]]}
    return out, preds


# ---- the world run ---------------------------------------------------------------------------------------
def bound_space(cfg: OtherModalitiesConfig, n_test: int, progress: bool = False) -> dict[str, Any]:
    """Chapter 05's ``world-clip`` and the audio and video spaces bound to its frozen image head (trained
    there, loaded here), and every modality's embeddings: ``train`` (unpaired, for the means) and ``test``
    (the held-out scenes). With ``control``, a further audio tower bound by the same recipe to a *fresh*
    (random) image head of the same shape."""
    ctx = cfg.context
    space = spaces.load_or_train_space("world-clip", ctx, progress=progress)
    ccfg, model = space["config"], space["model"]
    bound_mods = tuple(m for m in cfg.modalities if m in binding.BOUND_MODALITIES)
    t0 = time.perf_counter()
    feats = {s: spaces.world_features(ccfg, s, n) for s, n in (("train", ccfg.n_train), ("test", n_test))}
    inputs = {s: {m: spaces.modality_input(ccfg, m, feats[s]["scenes"], s) for m in bound_mods} for s in feats}
    render_s = time.perf_counter() - t0
    image = {s: torch.from_numpy(f["image"]) for s, f in feats.items()}
    train = {"image": embed(model.tower_a, image["train"])}
    test = {"image": embed(model.tower_a, image["test"]),
            "text": embed(model.tower_b, torch.from_numpy(feats["test"]["text"][:, 0]))}
    binds, controls = {}, {}
    for mod in bound_mods:
        t1 = time.perf_counter()
        b = spaces.load_or_train_space(f"world-clip-{mod}", ctx, progress=progress)
        binds[mod] = {"best_epoch": b["history"]["best_epoch"], "val_score": b["val_score"],
                      "seconds": time.perf_counter() - t1, "epochs": len(b["history"]["loss"]),
                      "val_curve": b["history"]["val"]}
        tower = b["model"].tower_a
        train[mod], test[mod] = embed(tower, inputs["train"][mod]), embed(tower, inputs["test"][mod])
    if cfg.control and "audio" in bound_mods:
        binds["audio (fresh image head)"], controls["audio (fresh image head)"] = _control(cfg, ccfg, space, feats,
                                                                                            inputs, progress)
    return {"space": space, "ccfg": ccfg, "train": train, "test": test, "binds": binds, "controls": controls,
            "scenes": feats["test"]["scenes"], "captions": feats["test"]["captions"], "render_s": render_s,
            "test_images": spaces.modality_input(ccfg, "image", feats["test"]["scenes"], "test")}


def _control(cfg: OtherModalitiesConfig, ccfg, space: dict, feats: dict, inputs: dict, progress: bool):
    """Audio bound, by the bound spaces' own recipe, to a fresh image head (random init, seed 10,000 + seed):
    its test embeddings should retrieve text at chance."""
    depth, norm = int(space["head"].split("-")[0]), space["head"].endswith("-ln")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(10_000 + cfg.seed)
        fresh = MLPHead(feats["train"]["image"].shape[1], ccfg.clip_dim, depth, ccfg.clip_width, norm).eval()
    val = spaces.world_features(ccfg, "val", ccfg.n_select, ("image",))
    tr = {"image": torch.from_numpy(feats["train"]["image"]), "audio": inputs["train"]["audio"]}
    va = {"image": torch.from_numpy(val["image"]),
          "audio": spaces.modality_input(ccfg, "audio", val["scenes"], "val")}
    name = "world-clip" if cfg.preset == "default" else f"world-clip-{cfg.preset}"
    t1 = time.perf_counter()
    c, loaded = binding.load_or_bind("audio", fresh, tr, va, ccfg.clip_dim, spaces.train_spec(ccfg, "bound"),
                                     run_path(CHAPTER, name, "bind-audio-fresh-image", cfg.seed),
                                     {"as": spaces.run_dir(ccfg, "world-clip-audio").name,
                                      "control": "fresh image head", "seed": 10_000 + cfg.seed}, progress=progress)
    info = {"best_epoch": c.best_epoch, "val_score": c.val_score, "loaded": loaded,
            "seconds": time.perf_counter() - t1, "epochs": len(c.history["loss"])}
    return info, embed(c.tower, inputs["test"]["audio"])


def run_world(cfg: OtherModalitiesConfig, progress: bool = False) -> dict[str, Any]:
    """Binding, emergent retrieval and Fig 9 statistics, and Table 4 on the world.

    Returns JSON-able ``runs`` (one row per modality, variant, seed, with per-item ``items``), ``summary``
    (mean over seeds), ``binding`` (per modality: emergent R@1/R@5 to text, chance, gap length, Table 1
    statistics), ``examples``, ``timing``, ``n_test``, ``space``, and, not for saving, ``thumbs``.
    """
    t0 = time.perf_counter()
    task, decoders = chapter06_decoders(cfg, progress)
    decoders_s = time.perf_counter() - t0
    n_test = len(task.test_emb)
    bs = bound_space(cfg, n_test, progress)
    attrs = [bs["scenes"].attributes(i) for i in range(n_test)]
    if attrs != task.attributes or not np.allclose(bs["test"]["image"], task.test_emb, atol=1e-4):
        raise RuntimeError("chapter 06's test scenes differ from the ones rendered here; the world changed")
    emb = {m: bs["test"][m] for m in cfg.modalities}
    report = binding.against_text({**emb, **bs["controls"]}, bs["test"]["text"])
    for m in report:
        report[m].update(bs["binds"].get(m, {}))
    unpaired = {"image": task.unpaired_emb, **{m: bs["train"][m] for m in cfg.modalities if m != "image"}}
    runs, examples = [], {"references": task.test_refs[:cfg.n_examples], "attributes": attrs[:cfg.n_examples]}
    for mod in cfg.modalities:
        for (variant, seed), cap in decoders.items():
            m, preds = score_modality(cap, unpaired[mod], emb[mod], task.test_refs, attrs, cfg.meteor)
            runs.append({"modality": mod, "variant": variant, "seed": seed, **m})
            if seed == cfg.seeds[0]:
                examples.setdefault(mod, {})[variant] = preds[:cfg.n_examples]
    return {"runs": runs, "summary": summarise(runs), "binding": report, "examples": examples,
            "timing": {"decoders_s": decoders_s, "render_s": bs["render_s"],
                       "binding_s": {m: b["seconds"] for m, b in bs["binds"].items()}},
            "n_test": n_test, "space": {"gap": bs["space"]["trained"]["gap"], "dim": bs["ccfg"].clip_dim},
            "thumbs": list((bs["test_images"][:cfg.n_examples].permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8))}


def summarise(runs: list[dict]) -> dict[str, dict[str, dict]]:
    """``summary[modality][variant]`` = mean over seeds of :data:`METRICS` (``None`` stays ``None``), their
    std (``<metric> std``) and ``n_seeds``."""
    out: dict[str, dict[str, dict]] = {}
    for r in runs:
        out.setdefault(r["modality"], {}).setdefault(r["variant"], [])
    for mod, per in out.items():
        for variant in per:
            rows = [r for r in runs if r["modality"] == mod and r["variant"] == variant]
            s: dict[str, Any] = {"n_seeds": len(rows)}
            for k in METRICS:
                vals = [r[k] for r in rows if r.get(k) is not None]
                s[k] = float(np.mean(vals)) if vals else None
                s[f"{k} std"] = float(np.std(vals)) if vals else None
            per[variant] = s
    return out
