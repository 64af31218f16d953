"""Chapter 08, text-to-image from image-only training (paper section 5.2, Table 3, Fig 11, Appendix F).

The mirror of captioning: a generator (:class:`c3lib.generator.EmbeddingGenerator`) learns to rebuild
training images from their own *image* embeddings, passed through a training transform (source modality:
image); it never sees text. At test time it draws from the *text* embeddings of held-out captions,
normalised, minus the text mean, renormalised (no noise): the C3 transform with the roles swapped.

Rows: C1, C2-collapse, C2-corrupt, C3, LAFITE's own perturbation (official code: ``normalise((1 - xi) h +
xi u)``, ``u`` a random unit direction, ``xi = 0.75`` for image features), each over ``seeds``; the
supervised ceiling (the C1 generator, whose training input is the clean image embedding, conditioned on
the test images' own embeddings: in distribution, and no noise has thrown information away) and real vs
real images (the FID floor at the same N). Every row is scored on the same N prompts (``n_eval``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from c3lib import image_metrics as im
from c3lib.cache import cached, content_digest, key_of
from c3lib.config import ChapterConfig, ConfigError
from c3lib.contrastive import embed
from c3lib.data.world import COLOURS, SHAPES, SIZES as OBJ_SIZES
from c3lib.generator import SIZES, EmbeddingGenerator, GeneratorConfig, resize
from c3lib.runstore import run_path, train_or_load
from c3lib.spaces import load_or_train_space, world_data
from c3lib.transform import DEFAULT_NOISE_STD, C3Transform

CHAPTER = "08_text_to_image"
VARIANTS = ("C1", "C2-collapse", "C2-corrupt", "C3", "LAFITE")
REFERENCES = ("supervised", "real-vs-real")
SPACES = ("world",)
PLACES = ("top left", "top", "top right", "left", "middle", "right", "bottom left", "bottom", "bottom right")
LAFITE_LEVEL = 0.75  # LAFITE's official code, perturbation level of image features
# Paper Table 3 (MS-COCO, CLIP ViT-B/32 + LAFITE): (FID, IS).
PAPER_TABLE3 = {"C1": (29.8, 22.4), "C2-collapse": (21.7, 24.4), "C2-corrupt": (19.8, 25.5), "C3": (19.6, 26.0),
                "LAFITE": (20.9, 24.9), "DALL-E": (27.5, 17.9), "CogView": (27.1, 18.2)}


@dataclass(frozen=True)
class TextToImageConfig(ChapterConfig):
    spaces: tuple[str, ...] = SPACES  # spaces to run (the world image-text space of chapter 05)
    variants: tuple[str, ...] = VARIANTS  # trained rows
    seeds: tuple[int, ...] = (0, 1, 2)  # generator seeds per variant
    n_train: int = 0  # training images (0: all of chapter 05's training scenes)
    n_eval: int = 128  # N: prompts, generated and real images per row (FID is biased at small N)
    image_size: int = 32  # generated and reference image side
    num_steps: int = 600  # generator optimiser steps
    batch_size: int = 64  # generator batch
    base_channels: int = 32  # generator width
    noise_std: float = DEFAULT_NOISE_STD  # C3 / C2-corrupt noise std (CapDec's variance 0.016)
    lafite_level: float = LAFITE_LEVEL  # LAFITE perturbation level xi
    classifier_epochs: int = 6  # attribute classifier epochs on real training renders
    n_examples: int = 6  # Fig 11 prompts
    save_runs: bool = True  # keep generators in runs/08_text_to_image

    PRESETS = {
        "smoke": {"n_eval": 8, "num_steps": 40, "batch_size": 32, "image_size": 16, "base_channels": 16,
                  "seeds": (0,), "classifier_epochs": 2, "n_examples": 4},
        # default: sized to the CPU budget (15 generators + Inception at ~2 images/s on one core): N = 48
        # prompts per row (FID is biased upwards at small N; real-vs-real at the same N is the floor)
        "default": {"n_eval": 48, "num_steps": 300, "base_channels": 16},
        "paper": {"n_eval": 2000, "num_steps": 20000, "image_size": 64, "base_channels": 64},
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
        if self.n_eval < 8 or not self.seeds:
            raise ConfigError("n_eval must be >= 8 and seeds non-empty")

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


def world_task(cfg: TextToImageConfig, progress: bool = False) -> dict[str, Any]:
    """The chapter 05 world image-text space, its training images and 2N held-out test scenes."""
    space_preset = "smoke" if cfg.preset == "smoke" else "default"
    space = load_or_train_space("image-text", space_preset, cfg.seed, cfg.data_dir, progress=progress)
    ccfg, model, vocab = space["config"], space["model"], space["vocab"]
    train = world_data(ccfg, "image-text", "train", ccfg.n_train if cfg.n_train <= 0 else cfg.n_train, vocab=vocab)
    test = world_data(ccfg, "image-text", "test", 2 * cfg.n_eval, vocab=vocab)
    rng = np.random.default_rng([cfg.seed, 8])
    pick = rng.integers(0, 5, 2 * cfg.n_eval)  # one caption per test scene is its prompt
    prompts = test["b"][torch.arange(2 * cfg.n_eval), torch.as_tensor(pick)]  # [2N, L]
    ids = train["b"]
    return {
        "model": model, "tower_size": ccfg.image_size,
        "img_train": embed(model.tower_a, train["a"]),  # [n, d]
        "txt_train": embed(model.tower_b, ids.reshape(-1, ids.shape[-1])),  # [5n, d], unpaired text: its mean only
        "images_train": resize(train["a"], cfg.image_size),  # [n, 3, S, S]
        "attrs_train": [train["scenes"].attributes(i) for i in range(len(train["a"]))],
        "img_test": embed(model.tower_a, test["a"][:cfg.n_eval]),
        "txt_test": embed(model.tower_b, prompts[:cfg.n_eval]),
        "images_test": resize(test["a"], cfg.image_size),  # first N: references; last N: real-vs-real
        "attrs_test": [test["scenes"].attributes(i) for i in range(2 * cfg.n_eval)],
        "prompts": [test["captions"][i][pick[i]] for i in range(cfg.n_eval)],
        "space_gap": space["trained"]["gap"],
    }


def train_transform(variant: str, img_train: np.ndarray, txt_train: np.ndarray, cfg: TextToImageConfig, seed: int):
    """(training map of a batch of image embeddings, inference map ``(x, modality) -> condition``)."""
    if variant == "LAFITE":
        lafite = LafitePerturbation(cfg.lafite_level, seed)
        return lafite, lambda x, modality: LafitePerturbation.normalise(x).astype(np.float32)
    t = C3Transform.variant(variant, noise_std=cfg.noise_std, seed=seed).fit(img_train, txt_train)
    return (lambda x: t.transform(x, "source", train=True).astype(np.float32),
            lambda x, modality: t.transform(x, modality, train=False).astype(np.float32))


def train_generator(task: dict, variant: str, seed: int, cfg: TextToImageConfig, space: str = "world"):
    """One generator from the run store (trained when absent) and its inference map."""
    fit_map, infer = train_transform(variant, task["img_train"], task["txt_train"], cfg, seed)
    gcfg = cfg.generator_config(task["img_train"].shape[1], seed)
    key = key_of({"generator": gcfg.to_dict(), "variant": variant, "noise_std": cfg.noise_std,
                  "lafite_level": cfg.lafite_level,
                  "data": content_digest([task["img_train"], task["txt_train"], task["images_train"]])})
    folder = run_path(CHAPTER, f"{space}-{cfg.preset}" if cfg.preset != "default" else space, variant, seed)
    gen, loaded = train_or_load(folder, key, lambda: EmbeddingGenerator(gcfg).fit(task["img_train"],
                                task["images_train"], fit_map), lambda m, f: m.write(f), EmbeddingGenerator.read,
                                save=cfg.save_runs)
    return gen, infer, loaded


def _tower_features(task: dict, images: torch.Tensor) -> np.ndarray:
    return embed(task["model"].tower_a, resize(images, task["tower_size"]))


def score(task: dict, images: torch.Tensor, ref: dict, classifier: im.AttributeClassifier) -> dict[str, float]:
    """FID (Inception and the space's image tower) against the N references, attribute accuracy, cosine."""
    feats = ref["inception"](images)
    tower = _tower_features(task, images)
    return {"fid": im.fid(feats, ref["inc_ref"]), "fid_space": im.fid(tower, ref["tower_ref"]),
            "attr_accuracy": classifier.accuracy(images, task["attrs_test"][:len(images)]),
            "text_image_cosine": im.text_image_cosine(tower, task["txt_test"])}


def references(task: dict, cfg: TextToImageConfig) -> dict[str, Any]:
    """Inception features of the 2N real test images (computed once, cached) and the classifier."""
    inception = im.InceptionFeatures()
    real = task["images_test"]
    inc = cached("08-inception-real", {"images": content_digest(im.to_uint8(real)), "net": "fid-helper default_1"},
                 lambda: inception(real))
    n = cfg.n_eval
    classifier = im.AttributeClassifier({"shape": SHAPES, "colour": COLOURS, "size": OBJ_SIZES, "place": PLACES})
    classifier.fit(task["images_train"], task["attrs_train"], cfg.classifier_epochs, seed=cfg.seed)
    held_out = classifier.accuracy(real[n:], task["attrs_test"][n:])
    return {"inception": inception, "inc_ref": inc[:n], "inc_other": inc[n:],
            "tower_ref": _tower_features(task, real[:n]), "tower_other": _tower_features(task, real[n:]),
            "classifier": classifier, "classifier_held_out": held_out}


def run(cfg: TextToImageConfig, progress: bool = True) -> dict[str, Any]:
    """Train every (variant, seed) generator, score it and the reference rows; see the module docstring."""
    from c3lib.progress import progress as tqdm  # off in the book (C3_PROGRESS=0)

    out: dict[str, Any] = {"runs": [], "examples": {}, "spaces": {}}
    for space in cfg.spaces:
        task = world_task(cfg, progress=False)
        ref = references(task, cfg)
        n, k = cfg.n_eval, cfg.n_examples
        ex = {"prompts": task["prompts"][:k], "real": task["images_test"][:k]}
        bar = tqdm(total=len(cfg.variants) * len(cfg.seeds), desc="generators", disable=not progress)
        for variant in cfg.variants:
            for seed in cfg.seeds:
                gen, infer, loaded = train_generator(task, variant, seed, cfg, space)
                images = gen.sample(infer(task["txt_test"], "target"))
                rec = {"space": space, "variant": variant, "seed": seed, "loaded": loaded,
                       "train_seconds": gen.history.get("seconds"), "final_loss": gen.history["loss"][-1],
                       **score(task, images, ref, ref["classifier"])}
                out["runs"].append(rec)
                if seed == cfg.seeds[0]:
                    ex[variant] = images[:k]
                if variant == "C1":  # the ceiling: the same generator from the test images' own embeddings
                    sup = gen.sample(infer(task["img_test"], "source"))
                    out["runs"].append({"space": space, "variant": "supervised", "seed": seed,
                                        **score(task, sup, ref, ref["classifier"])})
                    if seed == cfg.seeds[0]:
                        ex["supervised"] = sup[:k]
                bar.update()
        bar.close()
        real_other = task["images_test"][n:]
        tower_other = ref["tower_other"]
        out["runs"].append({"space": space, "variant": "real-vs-real", "seed": 0,
                            "fid": im.fid(ref["inc_other"], ref["inc_ref"]),
                            "fid_space": im.fid(tower_other, ref["tower_ref"]),
                            "attr_accuracy": ref["classifier"].accuracy(task["images_test"][:n], task["attrs_test"][:n]),
                            "text_image_cosine": im.text_image_cosine(_tower_features(task, task["images_test"][:n]),
                                                                      task["txt_test"])})
        del real_other
        out["examples"][space] = ex
        out["spaces"][space] = {"n_train_images": len(task["images_train"]), "n_eval": n,
                                "dim": int(task["img_train"].shape[1]), "image_size": cfg.image_size,
                                "modality_gap": task["space_gap"],
                                "classifier_held_out_accuracy": ref["classifier_held_out"],
                                "inception_score": None, "inception_score_note": im.IS_UNAVAILABLE}
    out["summary"] = summarise(out["runs"], cfg.n_eval)
    return out


def summarise(runs: list[dict], n_images: int) -> dict[str, dict[str, dict[str, Any]]]:
    """``summary[space][variant]`` = mean (and FID std) over seeds of each metric."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for space in dict.fromkeys(r["space"] for r in runs):
        out[space] = {}
        for variant in dict.fromkeys(r["variant"] for r in runs if r["space"] == space):
            rs = [r for r in runs if r["space"] == space and r["variant"] == variant]
            mean = {m: float(np.mean([r[m] for r in rs])) for m in ("fid", "fid_space", "attr_accuracy",
                                                                    "text_image_cosine")}
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
