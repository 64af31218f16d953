"""Chapter 08's generators and their scores: LAFITE's perturbation, each variant's training and inference
maps, one autoencoder per space and one generator per (space, variant, seed) from the run store, the pool's jobs
(an autoencoder, a generator and its features, the real images' features, the world's attribute classifier)
and the scores of a row: FID and KID against the references in Inception and space-encoder features, and per
generated image its attribute share (world) and its text-image cosine.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch

from c3lib import image_metrics as im
from c3lib import devices, threads
from c3lib.autoencoder import ImageAutoencoder
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


def _tag(space: str, cfg: TextToImageConfig) -> str:
    return f"{space}-{cfg.preset}" if cfg.preset != "default" else space


def train_autoencoder(task: dict, cfg: TextToImageConfig, space: str) -> tuple[ImageAutoencoder, bool]:
    """The space's image autoencoder from the run store (trained when absent): one per space, shared by every
    variant and seed (it never sees an embedding)."""
    acfg = cfg.autoencoder_config()
    key = key_of({"autoencoder": acfg.to_dict(), **devices.key_entry(),
                  "data": content_digest([task["images_train"].numpy()])})
    return train_or_load(run_path(CHAPTER, _tag(space, cfg), "autoencoder", acfg.seed), key,
                         lambda: ImageAutoencoder(acfg).fit(task["images_train"]), lambda m, f: m.write(f),
                         ImageAutoencoder.read, save=cfg.save_runs)


def train_generator(task: dict, variant: str, seed: int, cfg: TextToImageConfig, space: str):
    """One generator from the run store (trained when absent) on the space's autoencoder (``task["autoencoder"]``,
    its training latents ``task["lat_train"]``), and its inference map."""
    fit_map, infer = train_transform(variant, task["img_train"], task["txt_train"], cfg, seed)
    ae = task["autoencoder"]
    gcfg = cfg.generator_config(task["img_train"].shape[1], seed)
    key = key_of({"generator": gcfg.to_dict(), "autoencoder": ae.cfg.to_dict(), "variant": variant,
                  "noise_std": cfg.noise_std, "lafite_level": cfg.lafite_level, **devices.key_entry(),
                  "data": content_digest([task["img_train"], task["txt_train"], task["lat_train"].numpy()])})
    gen, loaded = train_or_load(run_path(CHAPTER, _tag(space, cfg), variant, seed), key,
                                lambda: EmbeddingGenerator(gcfg, ae).fit(task["img_train"], task["lat_train"], fit_map),
                                lambda m, f: m.write(f), lambda f: EmbeddingGenerator.read(f, ae), save=cfg.save_runs)
    return gen, infer, loaded


# --- the pool's jobs: what they need is set once per worker by _init_jobs ---
_JOBS: dict[str, Any] = {}
_SHIPPED = ("img_train", "txt_train", "images_train", "img_test", "txt_test", "images_test", "tower_module",
            "tower_input", "attrs_train", "attrs_test", "autoencoder", "lat_train")


@lru_cache(maxsize=1)
def _inception() -> im.InceptionFeatures:
    return im.InceptionFeatures()


def _init_jobs(cfg: TextToImageConfig, tasks: dict[str, dict]) -> None:
    threads.configure()
    _JOBS.clear()
    _JOBS.update({"cfg": cfg, "tasks": tasks})


def features(task: dict, images: torch.Tensor, n_inception: int) -> dict[str, np.ndarray]:
    """Space-encoder features of every image and Inception features of the first ``n_inception``."""
    return {"tower": tower_features(task, images), "inception": _inception()(images[:n_inception])}


def _generator_job(space: str, variant: str, seed: int) -> dict[str, Any]:
    """Train (or load) one generator, draw one image per prompt (and, for C1, one per test image from its own
    embedding: the supervised ceiling), seeded by the generator's seed; the images as uint8 and their features."""
    cfg, task = _JOBS["cfg"], _JOBS["tasks"][space]
    gen, infer, loaded = train_generator(task, variant, seed, cfg, space)
    out = {"loaded": loaded, "train_seconds": gen.history.get("seconds"), "final_loss": gen.history["loss"][-1]}
    paper = cfg.preset == "paper"
    draws = {"images": infer(task["txt_test"], "target")}
    if variant == "C1":
        draws["supervised"] = infer(task["img_test"], "source")
    for name, cond in draws.items():
        images = u8(gen.sample(cond, seed=seed))
        out[name] = images
        out[f"{name}_features"] = features(task, images, cfg.n_inc)
        out[f"{name}_is"] = im.inception_score(images, paper)[0]
    return out


def autoencoder_and_latents(task: dict, cfg: TextToImageConfig,
                            space: str) -> tuple[ImageAutoencoder, torch.Tensor, bool]:
    """The space's autoencoder (:func:`train_autoencoder`), the latents of its training images, and whether it
    was loaded."""
    ae, loaded = train_autoencoder(task, cfg, space)
    return ae, ae.latents(task["images_train"]), loaded


def _autoencoder_job(space: str) -> tuple[ImageAutoencoder, torch.Tensor, bool]:
    return autoencoder_and_latents(_JOBS["tasks"][space], _JOBS["cfg"], space)


def _real_job(space: str) -> dict[str, Any]:
    """Features of the space's 2N real test images: the space encoder's of all, Inception's (cached) of the first
    n and of images N..N+n (the Inception reference and the real-vs-real set)."""
    cfg, task = _JOBS["cfg"], _JOBS["tasks"][space]
    real, n, k = task["images_test"], cfg.n_eval, cfg.n_inc
    if len(real) < n + k:
        raise ValueError(f"{space}: {len(real)} real test images, but N = {n} references and {k} more for the "
                         f"Inception real-vs-real set are needed; lower n_inception")
    pick = torch.cat([real[:k], real[n:n + k]])
    key = {"images": content_digest(pick.numpy()), "net": "fid-helper default_1, channels last"}
    inc = cached("08-inception-real", key, lambda: _inception()(pick))
    return {"inception": inc, "tower": tower_features(task, real),
            "is": im.inception_score(real[n:], cfg.preset == "paper")[0]}


def _classifier_job(space: str) -> tuple[im.AttributeClassifier, float, float]:
    task = _JOBS["tasks"][space]
    clf, held_out = attribute_classifier(task, _JOBS["cfg"])
    return clf, held_out, nearest_render_accuracy(task, clf)


def _job(kind: str, space: str, variant: str = "", seed: int = 0):
    """One job of the pool: ``("generator", space, variant, seed)``, ``("autoencoder", space)``, ``("real", space)``
    (the real images' features) or ``("classifier", space)`` (the world's attribute classifier)."""
    if kind == "generator":
        return _generator_job(space, variant, seed)
    return {"autoencoder": _autoencoder_job, "real": _real_job, "classifier": _classifier_job}[kind](space)


def attribute_classifier(task: dict, cfg: TextToImageConfig) -> tuple[im.AttributeClassifier, float]:
    """The world's attribute classifier, trained on real training renders; its accuracy on the N held-out
    real renders that are not the FID reference (the ceiling of ``attr_accuracy``)."""
    clf = im.AttributeClassifier({"shape": SHAPES, "colour": COLOURS, "size": OBJ_SIZES, "place": PLACES})
    clf.fit(as_float(task["images_train"]), task["attrs_train"], cfg.classifier_epochs, seed=cfg.seed)
    n = cfg.n_eval
    return clf, clf.accuracy(as_float(task["images_test"][n:]), task["attrs_test"][n:])


def nearest_render_accuracy(task: dict, clf: im.AttributeClassifier) -> float:
    """What the image embedding carries, read without a generator: for each of the N test scenes, the render of
    the training scene nearest to it in embedding space (cosine), scored against the test scene's attributes."""
    unit = lambda e: e / np.linalg.norm(e, axis=1, keepdims=True)  # noqa: E731
    nearest = (unit(task["img_test"]) @ unit(task["img_train"]).T).argmax(1)
    return clf.accuracy(as_float(task["images_train"][nearest]), task["attrs_test"][:len(nearest)])


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


def distances(feats: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """FID and KID (mean and std over subsets) of one feature set against the reference set."""
    kid, kid_std = im.kid(feats, ref)
    return {"fid": im.fid(feats, ref), "kid": kid, "kid_std": kid_std}


def _scores(inception: np.ndarray, tower: np.ndarray, ref: dict) -> dict[str, float]:
    """FID and KID in Inception features and in the space's own image encoder (``_space``)."""
    inc, space = distances(inception, ref["inc_ref"]), distances(tower, ref["tower_ref"])
    return {**inc, **{f"{k}_space": v for k, v in space.items()}}


def score(task: dict, images: torch.Tensor, feats: dict[str, np.ndarray], ref: dict,
          inception_score: float | None = None) -> dict[str, Any]:
    """FID and KID against the references (Inception: the first n_inception images; the space encoder: all N),
    attribute accuracy (world; ``None`` elsewhere), the cosine of each image's embedding with its prompt's, and
    the Inception Score (torch-fidelity, paper preset; ``None`` offline); ``items``: the per-prompt scores."""
    clf = ref.get("classifier")
    return {**_scores(feats["inception"], feats["tower"], ref),
            "attr_accuracy": clf.accuracy(as_float(images), task["attrs_test"][:len(images)]) if clf else None,
            "text_image_cosine": im.text_image_cosine(feats["tower"], task["txt_test"]),
            "inception_score": inception_score, "items": item_scores(task, images, feats["tower"], clf)}


def real_vs_real(task: dict, real_feats: dict, ref: dict, n: int, k: int) -> dict[str, Any]:
    """The real-vs-real row: FID and KID of the other real images (Inception: k of them; the encoder: N) against
    the references; attribute accuracy and cosine of the references themselves, each with its own prompt (what a
    perfect generator would get)."""
    inc, tow, real = real_feats["inception"], real_feats["tower"], task["images_test"]
    clf = ref.get("classifier")
    return {**_scores(inc[k:2 * k], tow[n:2 * n], ref),
            "attr_accuracy": clf.accuracy(as_float(real[:n]), task["attrs_test"][:n]) if clf else None,
            "text_image_cosine": im.text_image_cosine(tow[:n], task["txt_test"]),
            "inception_score": real_feats["is"], "items": item_scores(task, real[:n], tow[:n], clf)}
