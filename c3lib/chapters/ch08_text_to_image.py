"""Chapter 08, text-to-image from image-only training (paper section 5.2, Table 3, Fig 11, Appendix F).

The mirror of captioning: a generator (:class:`c3lib.generator.EmbeddingGenerator`) learns to rebuild
training images from their own *image* embeddings, passed through a training transform (source modality:
image); it never sees text. At test time it draws from the *text* embeddings of held-out captions,
normalised, minus the text mean, renormalised (no noise): the C3 transform with the roles swapped.

Spaces: the CLIP-recipe spaces of chapter 05, ``world-clip`` (world renders; every prompt has ground-truth
attributes) and ``flickr8k-clip`` (Flickr8k photos: train-split photos to train, val photos as the FID
reference and their captions as prompts), the ablation ``world`` (chapter 05's ``image-text`` space, small
gap) and, at ``paper``, ``coco-clip``: the paper's own setting, CLIP ViT-B/32 ``openai`` over MS-COCO at
chapter 06's Karpathy split, with the Inception Score from torch-fidelity. Rows: C1, C2-collapse, C2-corrupt,
C3, LAFITE's own perturbation (official code: ``normalise((1 - xi) h + xi u)``, ``u`` a random unit direction,
``xi = 0.75`` for image features), each over the space's seeds; the supervised ceiling (the C1 generator,
whose training input is the clean image embedding, conditioned on the test images' own embeddings: in
distribution, and no noise has thrown information away) and real vs real images (the FID floor at the same N).
Every row is scored on the same N prompts (``n_eval``). The generators (and their Inception features) are jobs
of a process pool (:func:`c3lib.parallel.pool_map`); each job runs at the book's thread count with its own
seed, so the numbers do not depend on ``workers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from c3lib import image_metrics as im
from c3lib import devices, parallel, threads
from c3lib.cache import cached, content_digest, key_of
from c3lib.config import ChapterConfig, ConfigError
from c3lib.data.world import COLOURS, SHAPES, SIZES as OBJ_SIZES
from c3lib.generator import SIZES, EmbeddingGenerator, GeneratorConfig
from c3lib.image_tasks import PAPER_ONLY, PLACES, SPACES, as_float, build_task, tower_features, u8
from c3lib.runstore import run_path, train_or_load
from c3lib.transform import DEFAULT_NOISE_STD, C3Transform

CHAPTER = "08_text_to_image"
VARIANTS = ("C1", "C2-collapse", "C2-corrupt", "C3", "LAFITE")
REFERENCES = ("supervised", "real-vs-real")
LAFITE_LEVEL = 0.75  # LAFITE's official code, perturbation level of image features
# Paper Table 3 (MS-COCO, CLIP ViT-B/32 + LAFITE): (FID, IS).
PAPER_TABLE3 = {"C1": (29.8, 22.4), "C2-collapse": (21.7, 24.4), "C2-corrupt": (19.8, 25.5), "C3": (19.6, 26.0),
                "LAFITE": (20.9, 24.9), "DALL-E": (27.5, 17.9), "CogView": (27.1, 18.2)}


@dataclass(frozen=True)
class TextToImageConfig(ChapterConfig):
    spaces: tuple[str, ...] = ("world-clip", "flickr8k-clip")  # of SPACES
    variants: tuple[str, ...] = VARIANTS  # trained rows
    seeds: tuple[int, ...] = (0, 1, 2)  # generator seeds per variant on the world spaces
    flickr_seeds: tuple[int, ...] = (0,)  # on Flickr8k (one seed: the chapter's 12-minute CPU budget)
    n_train: int = 0  # training images (0: all of chapter 05's training scenes / all Flickr8k train photos)
    n_eval: int = 128  # N: prompts, generated and real images per row (FID is biased at small N)
    image_size: int = 32  # generated and reference image side
    num_steps: int = 500  # generator optimiser steps
    batch_size: int = 64  # generator batch
    base_channels: int = 16  # generator width
    noise_std: float = DEFAULT_NOISE_STD  # C3 / C2-corrupt noise std (CapDec's variance 0.016)
    lafite_level: float = LAFITE_LEVEL  # LAFITE perturbation level xi
    classifier_epochs: int = 12  # attribute classifier epochs on real training renders (6 was unstable)
    n_examples: int = 6  # Fig 11 prompts
    workers: int = 0  # processes for the generators (0: one per core); the numbers do not depend on it
    save_runs: bool = True  # keep generators in runs/08_text_to_image

    PRESETS = {
        "smoke": {"spaces": ("world-clip",), "n_eval": 8, "num_steps": 40, "batch_size": 32, "image_size": 16,
                  "seeds": (0,), "classifier_epochs": 2, "n_examples": 4, "workers": 1},
        # default: sized to 12 minutes on 2 cores (Inception-v3 runs at ~4 images/s on one core): N = 48
        # prompts per row (FID is biased upwards at small N; real-vs-real at the same N is the floor)
        "default": {"n_eval": 48},
        "paper": {"spaces": ("world-clip", "flickr8k-clip", "coco-clip"), "n_eval": 480, "num_steps": 20000,
                  "image_size": 64, "base_channels": 64, "flickr_seeds": (0, 1, 2)},
    }

    def __post_init__(self):
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad:
            raise ConfigError(f"unknown variant(s) {bad}; valid: {', '.join(VARIANTS)}")
        if "C1" not in self.variants:
            raise ConfigError("variants must include C1: the supervised ceiling reuses its generators")
        bad = [s for s in self.spaces if s not in SPACES]
        if bad:
            raise ConfigError(f"unknown space(s) {bad}; valid: {', '.join(SPACES)}")
        paper_only = [s for s in self.spaces if s in PAPER_ONLY]
        if paper_only and self.preset != "paper":
            raise ConfigError(f"space(s) {paper_only} download CLIP ViT-B/32 and need MS-COCO: preset 'paper' only "
                              f"(smoke and default run offline)")
        if self.n_eval < 8 or not self.seeds or not self.flickr_seeds:
            raise ConfigError("n_eval must be >= 8 and seeds and flickr_seeds non-empty")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0 (0: one per core), got {self.workers}")

    def seeds_of(self, space: str) -> tuple[int, ...]:
        return self.flickr_seeds if space == "flickr8k-clip" else self.seeds

    def generator_config(self, cond_dim: int, seed: int) -> GeneratorConfig:
        base = SIZES.get(self.preset, SIZES["default"])
        return GeneratorConfig(**{**base, "cond_dim": cond_dim, "image_size": self.image_size,
                                  "base_channels": self.base_channels, "num_steps": self.num_steps,
                                  "batch_size": self.batch_size, "seed": seed})


class LafitePerturbation:
    """LAFITE's training perturbation of normalised features: ``normalise((1 - xi) h + xi u)``, ``u`` unit."""

    def __init__(self, level: float = LAFITE_LEVEL, seed: int = 0):
        if not 0 <= level < 1:
            raise ValueError(f"LAFITE level must be in [0, 1), got {level}")
        self.level, self.seed, self._rng = level, seed, np.random.default_rng(seed)

    @staticmethod
    def normalise(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        u = self.normalise(self._rng.standard_normal(x.shape))
        return self.normalise((1 - self.level) * self.normalise(x) + self.level * u).astype(np.float32)


def train_transform(variant: str, img_train: np.ndarray, txt_train: np.ndarray, cfg: TextToImageConfig, seed: int):
    """(training map of a batch of image embeddings, inference map ``(x, modality) -> condition``)."""
    if variant == "LAFITE":
        lafite = LafitePerturbation(cfg.lafite_level, seed)
        return lafite, lambda x, modality: LafitePerturbation.normalise(x).astype(np.float32)
    t = C3Transform.variant(variant, noise_std=cfg.noise_std, seed=seed).fit(img_train, txt_train)
    return (lambda x: t.transform(x, "source", train=True).astype(np.float32),
            lambda x, modality: t.transform(x, modality, train=False).astype(np.float32))


def train_generator(task: dict, variant: str, seed: int, cfg: TextToImageConfig, space: str = "world-clip"):
    """One generator from the run store (trained when absent) and its inference map."""
    fit_map, infer = train_transform(variant, task["img_train"], task["txt_train"], cfg, seed)
    gcfg = cfg.generator_config(task["img_train"].shape[1], seed)
    key = key_of({"generator": gcfg.to_dict(), "variant": variant, "noise_std": cfg.noise_std,
                  "lafite_level": cfg.lafite_level, **devices.key_entry(),
                  "data": content_digest([task["img_train"], task["txt_train"], task["images_train"].numpy()])})
    folder = run_path(CHAPTER, f"{space}-{cfg.preset}" if cfg.preset != "default" else space, variant, seed)
    gen, loaded = train_or_load(folder, key, lambda: EmbeddingGenerator(gcfg).fit(task["img_train"],
                                task["images_train"], fit_map), lambda m, f: m.write(f), EmbeddingGenerator.read,
                                save=cfg.save_runs)
    return gen, infer, loaded


# --- the pool's jobs: what they need is set once per worker by _init_jobs ---
_JOBS: dict[str, Any] = {}
_SHIPPED = ("img_train", "txt_train", "images_train", "img_test", "txt_test", "images_test", "tower_module",
            "tower_input", "attrs_train", "attrs_test")


@lru_cache(maxsize=1)
def _inception() -> im.InceptionFeatures:
    return im.InceptionFeatures()


def _init_jobs(cfg: TextToImageConfig, tasks: dict[str, dict]) -> None:
    threads.configure()
    _JOBS.clear()
    _JOBS.update({"cfg": cfg, "tasks": tasks})


def _generator_job(space: str, variant: str, seed: int) -> dict[str, Any]:
    """Train (or load) one generator, draw from the prompts (and, for C1, from the test images' own embeddings:
    the supervised ceiling); the images as uint8 and their Inception features."""
    cfg, task = _JOBS["cfg"], _JOBS["tasks"][space]
    gen, infer, loaded = train_generator(task, variant, seed, cfg, space)
    out = {"loaded": loaded, "train_seconds": gen.history.get("seconds"), "final_loss": gen.history["loss"][-1]}
    paper = cfg.preset == "paper"
    draws = {"images": infer(task["txt_test"], "target")}
    if variant == "C1":
        draws["supervised"] = infer(task["img_test"], "source")
    for name, cond in draws.items():
        images = u8(gen.sample(cond))
        out[name] = images
        out[f"{name}_inception"] = _inception()(images)
        out[f"{name}_tower"] = tower_features(task, images)
        out[f"{name}_is"] = im.inception_score(images, paper)[0]
    return out


def _real_job(space: str) -> dict[str, np.ndarray]:
    """Inception features (cached) and space-encoder features of the space's 2N real test images."""
    task = _JOBS["tasks"][space]
    real = task["images_test"]
    inc = cached("08-inception-real", {"images": content_digest(real.numpy()), "net": "fid-helper default_1"},
                 lambda: _inception()(real))
    return {"inception": inc, "tower": tower_features(task, real),
            "is": im.inception_score(real[_JOBS["cfg"].n_eval:], _JOBS["cfg"].preset == "paper")[0]}


def _classifier_job(space: str) -> tuple[im.AttributeClassifier, float]:
    return attribute_classifier(_JOBS["tasks"][space], _JOBS["cfg"])


def _job(kind: str, space: str, variant: str = "", seed: int = 0):
    """One job of the pool: ``("generator", space, variant, seed)``, ``("real", space)`` (the real images'
    features) or ``("classifier", space)`` (the world's attribute classifier)."""
    if kind == "generator":
        return _generator_job(space, variant, seed)
    return _real_job(space) if kind == "real" else _classifier_job(space)


def attribute_classifier(task: dict, cfg: TextToImageConfig) -> tuple[im.AttributeClassifier, float]:
    """The world's attribute classifier, trained on real training renders; its accuracy on the N held-out
    real renders that are not the FID reference (the ceiling of ``attr_accuracy``)."""
    clf = im.AttributeClassifier({"shape": SHAPES, "colour": COLOURS, "size": OBJ_SIZES, "place": PLACES})
    clf.fit(as_float(task["images_train"]), task["attrs_train"], cfg.classifier_epochs, seed=cfg.seed)
    n = cfg.n_eval
    return clf, clf.accuracy(as_float(task["images_test"][n:]), task["attrs_test"][n:])


def score(task: dict, images: torch.Tensor, inception: np.ndarray, tower: np.ndarray, ref: dict,
          inception_score: float | None = None) -> dict[str, Any]:
    """FID (Inception, and the space's own image encoder) against the N references, attribute accuracy (world;
    ``None`` elsewhere), the cosine of each image's embedding with its prompt's, and the Inception Score
    (torch-fidelity, paper preset; ``None`` offline)."""
    clf = ref.get("classifier")
    return {"fid": im.fid(inception, ref["inc_ref"]), "fid_space": im.fid(tower, ref["tower_ref"]),
            "attr_accuracy": clf.accuracy(as_float(images), task["attrs_test"][:len(images)]) if clf else None,
            "text_image_cosine": im.text_image_cosine(tower, task["txt_test"]), "inception_score": inception_score}


def run(cfg: TextToImageConfig, progress: bool = True) -> dict[str, Any]:
    """Every (space, variant, seed) generator and the reference rows; see the module docstring."""
    n, k = cfg.n_eval, cfg.n_examples
    if cfg.preset == "paper" and not im.inception_score_available():  # before hours of training, not after
        raise ModuleNotFoundError("the paper preset reports the Inception Score with torch-fidelity: "
                                  "pip install 'c3lib[paper]' (torch-fidelity)")
    tasks = {space: build_task(space, cfg.context, cfg.n_train, cfg.n_eval, cfg.image_size)
             for space in cfg.spaces}
    shipped = {space: {key: t[key] for key in _SHIPPED if key in t} for space, t in tasks.items()}
    gen_jobs = [("generator", space, v, s) for space in cfg.spaces for v in cfg.variants for s in cfg.seeds_of(space)]
    other = [("classifier", sp) for sp in cfg.spaces if "attrs_test" in tasks[sp]] + [("real", sp) for sp in cfg.spaces]
    workers = cfg.workers or parallel.default_workers()
    done = dict(zip(other + gen_jobs, parallel.pool_map(_job, other + gen_jobs, workers, _init_jobs, (cfg, shipped),
                                                        desc="generators", progress=progress)))
    out: dict[str, Any] = {"runs": [], "examples": {}, "spaces": {}}
    for space in cfg.spaces:
        task, real_feats = tasks[space], done[("real", space)]
        inc, tow, real = real_feats["inception"], real_feats["tower"], task["images_test"]
        ref = {"inc_ref": inc[:n], "tower_ref": tow[:n]}
        info = {}
        if ("classifier", space) in done:
            ref["classifier"], info["classifier_held_out_accuracy"] = done[("classifier", space)]
        ex = {"prompts": task["prompts"][:k], "real": as_float(real[:k])}
        for variant in cfg.variants:
            for seed in cfg.seeds_of(space):
                g = done[("generator", space, variant, seed)]
                out["runs"].append({"space": space, "variant": variant, "seed": seed, "loaded": g["loaded"],
                                    "train_seconds": g["train_seconds"], "final_loss": g["final_loss"],
                                    **score(task, g["images"], g["images_inception"], g["images_tower"], ref,
                                            g["images_is"])})
                if variant == "C1":
                    out["runs"].append({"space": space, "variant": "supervised", "seed": seed,
                                        **score(task, g["supervised"], g["supervised_inception"],
                                                g["supervised_tower"], ref, g["supervised_is"])})
                if seed == cfg.seeds_of(space)[0]:
                    ex[variant] = as_float(g["images"][:k])
                    if variant == "C1":
                        ex["supervised"] = as_float(g["supervised"][:k])
        # real vs real: FID of the other N real images against the N references; attribute accuracy and
        # cosine of the references themselves, each with its own prompt (what a perfect generator would get)
        clf = ref.get("classifier")
        out["runs"].append({"space": space, "variant": "real-vs-real", "seed": 0,
                            "fid": im.fid(inc[n:], ref["inc_ref"]), "fid_space": im.fid(tow[n:], ref["tower_ref"]),
                            "attr_accuracy": clf.accuracy(as_float(real[:n]), task["attrs_test"][:n]) if clf else None,
                            "text_image_cosine": im.text_image_cosine(tow[:n], task["txt_test"]),
                            "inception_score": real_feats["is"]})
        out["examples"][space] = ex
        out["spaces"][space] = {"n_train_images": len(task["images_train"]), "n_eval": n,
                                "dim": int(task["img_train"].shape[1]), "image_size": cfg.image_size,
                                "n_seeds": len(cfg.seeds_of(space)), "modality_gap": task["space_gap"], **info,
                                "inception_score_note": im.inception_score(None, cfg.preset == "paper")[1]}
    out["workers"] = workers
    out["summary"] = summarise(out["runs"], n)
    return out


METRICS = ("fid", "fid_space", "attr_accuracy", "text_image_cosine", "inception_score")


def summarise(runs: list[dict], n_images: int) -> dict[str, dict[str, dict[str, Any]]]:
    """``summary[space][variant]`` = mean (and FID std) over seeds of each metric (``None`` where a space has
    no such metric: attribute accuracy off the world, the Inception Score offline)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for space in dict.fromkeys(r["space"] for r in runs):
        out[space] = {}
        for variant in dict.fromkeys(r["variant"] for r in runs if r["space"] == space):
            rs = [r for r in runs if r["space"] == space and r["variant"] == variant]
            mean = {m: None if any(r[m] is None for r in rs) else float(np.mean([r[m] for r in rs]))
                    for m in METRICS}
            out[space][variant] = {**mean, "fid_std": float(np.std([r["fid"] for r in rs])),
                                   "n_seeds": len(rs), "n_images": n_images}
    return out


LOWEST = "C3 has the lowest FID"
COLLAPSE_CORRUPT_HELP = "C1 is worse than either C2"
BOTH_HELP = "both C2 are worse than C3"


def claims(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, bool]]:
    """``{space: {claim: held}}``: the paper's orderings of Table 3 on mean FID (lower is better)."""
    out = {}
    for space, s in summary.items():
        f = {v: s[v]["fid"] for v in s}
        trained = [v for v in VARIANTS if v in f]
        c2 = [v for v in ("C2-collapse", "C2-corrupt") if v in f]
        out[space] = {LOWEST: "C3" in f and min(trained, key=f.get) == "C3",
                      COLLAPSE_CORRUPT_HELP: bool(c2) and all(f["C1"] > f[v] for v in c2),
                      BOTH_HELP: bool(c2) and "C3" in f and all(f[v] > f["C3"] for v in c2)}
    return out


def fid_gaps(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, float | None]]:
    """Per space, how far C1 and C3 stand from the supervised ceiling in mean FID, and the share of C1's gap
    that C3 closes (``None`` when C1 is not worse than the ceiling)."""
    out = {}
    for space, s in summary.items():
        f = {v: s[v]["fid"] for v in s}
        if "supervised" not in f:
            continue
        gap = f["C1"] - f["supervised"]
        out[space] = {"FID gap C1 - supervised": gap}
        if "C3" in f:
            out[space]["FID gap C3 - supervised"] = f["C3"] - f["supervised"]
            out[space]["share of the C1 gap closed by C3"] = (f["C1"] - f["C3"]) / gap if gap > 0 else None
    return out
