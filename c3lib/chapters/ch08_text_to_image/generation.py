"""Chapter 08's generators and their scores: LAFITE's perturbation, each variant's training and inference
maps, one generator per (space, variant, seed) from the run store, the pool's jobs (a generator and its
Inception features, the real images' features, the world's attribute classifier) and the scores of a row:
FID against the N references, and per generated image its attribute share (world) and its text-image cosine.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch

from c3lib import image_metrics as im
from c3lib import devices, threads
from c3lib.cache import cached, content_digest, key_of
from c3lib.chapters.ch08_text_to_image.setting import CHAPTER, LAFITE_LEVEL, TextToImageConfig
from c3lib.data.world import COLOURS, SHAPES, SIZES as OBJ_SIZES
from c3lib.generator import EmbeddingGenerator
from c3lib.image_tasks import PLACES, as_float, tower_features, u8
from c3lib.runstore import run_path, train_or_load
from c3lib.transform import C3Transform


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


def train_generator(task: dict, variant: str, seed: int, cfg: TextToImageConfig, space: str = "world-clip-scratch"):
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


def attribute_hits(clf: im.AttributeClassifier, images: torch.Tensor, attributes: list[dict]) -> np.ndarray:
    """Per image, the share of the attribute kinds whose predicted set of values equals the scene's (the same
    predictions as ``clf.accuracy``, whose value is the mean of these shares)."""
    clf.eval()
    with torch.inference_mode():
        pred = torch.cat([clf(images[i:i + 256]) for i in range(0, len(images), 256)]) > 0
    true = torch.from_numpy(im.attribute_labels(attributes, clf.vocab)) > 0.5
    hits, start = [], 0
    for k in clf.sizes:
        hits.append((pred[:, start:start + k] == true[:, start:start + k]).all(1).double())
        start += k
    return torch.stack(hits, 1).mean(1).numpy()


def text_image_cosines(img_emb: np.ndarray, txt_emb: np.ndarray) -> np.ndarray:
    """The cosine of each row pair ``img_emb[i] <-> txt_emb[i]`` (their mean is ``im.text_image_cosine``)."""
    a = img_emb / np.linalg.norm(img_emb, axis=1, keepdims=True)
    b = txt_emb / np.linalg.norm(txt_emb, axis=1, keepdims=True)
    return (a * b).sum(1)


def item_scores(task: dict, images: torch.Tensor, tower: np.ndarray, clf: im.AttributeClassifier | None) -> dict:
    """Per prompt (the same N prompts for every row of a space): the attribute share of its image (world only)
    and the cosine of its image's embedding with its own text embedding."""
    out = {"text_image_cosine": [float(x) for x in text_image_cosines(tower, task["txt_test"])]}
    if clf:
        hits = attribute_hits(clf, as_float(images), task["attrs_test"][:len(images)])
        out["attr_accuracy"] = [float(x) for x in hits]
    return out


def score(task: dict, images: torch.Tensor, inception: np.ndarray, tower: np.ndarray, ref: dict,
          inception_score: float | None = None) -> dict[str, Any]:
    """FID (Inception, and the space's own image encoder) against the N references, attribute accuracy (world;
    ``None`` elsewhere), the cosine of each image's embedding with its prompt's, and the Inception Score
    (torch-fidelity, paper preset; ``None`` offline); ``items``: the per-prompt scores (:func:`item_scores`)."""
    clf = ref.get("classifier")
    return {"fid": im.fid(inception, ref["inc_ref"]), "fid_space": im.fid(tower, ref["tower_ref"]),
            "attr_accuracy": clf.accuracy(as_float(images), task["attrs_test"][:len(images)]) if clf else None,
            "text_image_cosine": im.text_image_cosine(tower, task["txt_test"]), "inception_score": inception_score,
            "items": item_scores(task, images, tower, clf)}


def real_vs_real(task: dict, real_feats: dict, ref: dict, n: int) -> dict[str, Any]:
    """The real-vs-real row: FID of the other N real images against the N references; attribute accuracy and
    cosine of the references themselves, each with its own prompt (what a perfect generator would get)."""
    inc, tow, real = real_feats["inception"], real_feats["tower"], task["images_test"]
    clf = ref.get("classifier")
    return {"fid": im.fid(inc[n:], ref["inc_ref"]), "fid_space": im.fid(tow[n:], ref["tower_ref"]),
            "attr_accuracy": clf.accuracy(as_float(real[:n]), task["attrs_test"][:n]) if clf else None,
            "text_image_cosine": im.text_image_cosine(tow[:n], task["txt_test"]),
            "inception_score": real_feats["is"], "items": item_scores(task, real[:n], tow[:n], clf)}
