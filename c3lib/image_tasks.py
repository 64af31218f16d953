"""Image-generation tasks on chapter 05's spaces (chapter 08, paper section 5.2): training images with their
image embeddings, held-out test images with one caption each as the prompt, the text embeddings whose mean
the collapse removes, and the space's own image encoder (``tower_module``, ``tower_input``) for FID in its
features. ``world-clip-scratch`` and ``world-scratch`` (chapter 05's world towers from random init) on world renders, with each scene's
ground-truth attributes; ``flickr8k-clip`` on Flickr8k photos (train-split photos to train on, val photos to
test: the first N the FID reference and prompts, the next N the real-vs-real set); at ``paper``, ``coco-clip``:
the paper's setting, CLIP ViT-B/32 ``openai`` over MS-COCO at chapter 06's Karpathy split (train + restval to
train on, val + test images as the reference and prompts).

Images are uint8 ``(n, 3, S, S)`` tensors: every consumer (generator, Inception, encoders) sees the same levels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from c3lib import image_metrics as im
from c3lib.cache import cached
from c3lib.config import RunContext
from c3lib.contrastive import embed
from c3lib.generator import resize
from c3lib.spaces import load_or_train_space, world_data

WORLD_SPACES = ("world-clip-scratch", "world-scratch")  # chapter 05's world spaces whose towers read renders
SPACES = ("world-clip-scratch", "flickr8k-clip", "world-scratch", "coco-clip")
PAPER_ONLY = ("coco-clip",)  # downloads CLIP ViT-B/32 (checked): the paper preset only
CLIP_INPUT = "openclip"  # tower_input of coco-clip: CLIP's own image preprocessing at 224 px
PLACES = ("top left", "top", "top right", "left", "middle", "right", "bottom left", "bottom", "bottom right")


def u8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] as uint8 levels."""
    return im.to_uint8(images.clamp(0, 1))


def _space_context(ctx: RunContext) -> RunContext:
    """The chapter 05 spaces a generation task reads: the smoke spaces at ``smoke``, else the default ones."""
    return ctx.with_preset("smoke" if ctx.preset == "smoke" else "default")


def world_task(space: str, ctx: RunContext, n_train: int, n_eval: int, image_size: int,
               progress: bool = False) -> dict[str, Any]:
    """A chapter 05 world space (``world-clip-scratch`` or ``world-scratch``), its training renders and 2N held-out test
    scenes (test split: never seen by the space or the generator)."""
    sp = load_or_train_space(space, _space_context(ctx), progress=progress)
    ccfg, model, vocab = sp["config"], sp["model"], sp["vocab"]
    train = world_data(ccfg, ("image", "text"), "train", ccfg.n_train if n_train <= 0 else n_train, vocab=vocab)
    test = world_data(ccfg, ("image", "text"), "test", 2 * n_eval, vocab=vocab)
    rng = np.random.default_rng([ctx.seed, 8])
    pick = rng.integers(0, 5, 2 * n_eval)  # one caption per test scene is its prompt
    prompts = test["b"][torch.arange(2 * n_eval), torch.as_tensor(pick)]  # [2N, L]
    ids = train["b"]
    tower, size = model.tower_a, ccfg.image_size
    return {
        "img_train": embed(tower, train["a"]),  # [n, d]
        "txt_train": embed(model.tower_b, ids.reshape(-1, ids.shape[-1])),  # [5n, d], unpaired text: its mean only
        "images_train": u8(resize(train["a"], image_size)),  # [n, 3, S, S] uint8
        "attrs_train": [train["scenes"].attributes(i) for i in range(len(train["a"]))],
        "img_test": embed(tower, test["a"][:n_eval]),
        "txt_test": embed(model.tower_b, prompts[:n_eval]),
        "images_test": u8(resize(test["a"], image_size)),  # first N: references; last N: real-vs-real
        "attrs_test": [test["scenes"].attributes(i) for i in range(2 * n_eval)],
        "prompts": [test["captions"][i][pick[i]] for i in range(n_eval)],
        "tower_module": tower, "tower_input": size,  # the space's own image encoder, on size px renders
        "space_gap": sp["trained"]["gap"],
    }


def photos(dataset: str, split: str, paths, image_size: int) -> torch.Tensor:
    """Photos as uint8 ``(n, 3, S, S)`` (centre square, box filter), cached by file names and size."""
    from c3lib.data.loaders import photo_pixels

    arr = cached(f"08-{dataset}-{split}-pixels", {"photos": [p.name for p in paths], "size": image_size,
                                                  "crop": "centre square, box filter"},
                 lambda: photo_pixels(list(paths), image_size))
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def flickr_task(ctx: RunContext, n_train: int, n_eval: int, image_size: int,
                progress: bool = False) -> dict[str, Any]:
    """``flickr8k-clip``: train-split photos (their embeddings: frozen EfficientNet-Lite0, then the space's
    image head) to train on; the first 2N val photos as the FID reference (N) and real-vs-real (N), one
    caption of each of the first N as its prompt. The space never chose anything on the val photos."""
    from c3lib.spaces import flickr_features

    sp = load_or_train_space("flickr8k-clip", _space_context(ctx), progress=progress)
    ccfg, model = sp["config"], sp["model"]
    n = n_eval
    tr = flickr_features(ccfg, "train", ccfg.clip_flickr_train if n_train <= 0 else n_train)
    te = flickr_features(ccfg, "val", max(ccfg.flickr_test, 2 * n))
    if len(te["a"]) < 2 * n:
        raise ValueError(f"n_eval={n} needs {2 * n} Flickr8k val photos but there are {len(te['a'])}; lower n_eval")

    pick = np.random.default_rng([ctx.seed, 8]).integers(0, 5, n)
    f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    return {
        "img_train": embed(model.tower_a, f32(tr["a"])),
        "txt_train": embed(model.tower_b, f32(tr["b"].reshape(-1, tr["b"].shape[-1]))),  # unpaired: its mean
        "images_train": photos("flickr", "train", tr["paths"], image_size),
        "img_test": embed(model.tower_a, f32(te["a"][:n])),
        "txt_test": embed(model.tower_b, f32(te["b"][np.arange(n), pick])),
        "images_test": photos("flickr", "val", te["paths"][:2 * n], image_size),
        "prompts": [te["captions"][i][pick[i]] for i in range(n)],
        "tower_module": model.tower_a, "tower_input": 0,  # 0: frozen EfficientNet-Lite0 features first
        "space_gap": sp["trained"]["gap"],
    }


def coco_task(ctx: RunContext, n_train: int, n_eval: int, image_size: int,
              progress: bool = False) -> dict[str, Any]:
    """``coco-clip`` (paper preset): CLIP ViT-B/32 ``openai`` embeddings (cached, a checked download on first
    use) of the Karpathy train + restval images (``n_train``: the first n; 0: all 113,287) to train on, and of
    their captions (only their mean is used); the first 2N Karpathy val + test images (MS-COCO val2014, never
    trained on) as the FID reference (N) and real-vs-real (N), one seeded caption of each of the first N as
    its prompt, as the paper samples its prompts from the validation set."""
    from c3lib.cache import embeddings
    from c3lib.data.loaders import KARPATHY_TRAIN, load_coco_karpathy, resolve_data_dir
    from c3lib.encoders.openclip import encode_images, encode_texts, lazy_openclip

    if ctx.preset != "paper":
        raise ValueError(f"coco-clip downloads CLIP ViT-B/32 and needs MS-COCO: the paper preset only, not {ctx.preset!r}")
    root = resolve_data_dir(ctx.data_dir, required=True)
    train = load_coco_karpathy(root, KARPATHY_TRAIN, limit=n_train if n_train > 0 else None)
    test = load_coco_karpathy(root, ("val", "test"), limit=2 * n_eval)
    if len(test.image_paths) < 2 * n_eval:
        raise ValueError(f"n_eval={n_eval} needs {2 * n_eval} Karpathy val + test images, there are "
                         f"{len(test.image_paths)}; lower n_eval")
    model = lazy_openclip("ViT-B-32", "openai")
    caps = [c for five in train.captions for c in five]  # chapter 06's list at n_train 0: one cache entry
    pick = np.random.default_rng([ctx.seed, 8]).integers(0, [len(c) for c in test.captions[:n_eval]])
    prompts = [test.captions[i][pick[i]] for i in range(n_eval)]

    def image_emb(paths):
        return embeddings("coco-clip-images", "ViT-B-32/openai", paths,
                          lambda: encode_images(model(), paths, 256, progress=progress))

    img_train = image_emb(train.image_paths)
    txt_train = embeddings("coco-clip-text", "ViT-B-32/openai", caps,
                           lambda: encode_texts(model(), caps, 256, progress=progress))
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    return {
        "img_train": img_train, "txt_train": txt_train,
        "images_train": photos("coco", "train", train.image_paths, image_size),
        "img_test": image_emb(test.image_paths[:n_eval]),
        "txt_test": embeddings("coco-clip-text", "ViT-B-32/openai", prompts,
                               lambda: encode_texts(model(), prompts, 256, progress=progress)),
        "images_test": photos("coco", "val", test.image_paths[:2 * n_eval], image_size),
        "prompts": prompts,
        "tower_module": model().model, "tower_input": CLIP_INPUT,  # CLIP's image encoder, on the S px images
        "space_gap": float(np.linalg.norm(unit(img_train).mean(0) - unit(txt_train).mean(0))),
    }


def build_task(space: str, ctx: RunContext, n_train: int = 0, n_eval: int = 48, image_size: int = 32,
               progress: bool = False) -> dict[str, Any]:
    """The task of ``space`` (``world-clip-scratch``, ``world-scratch`` or ``flickr8k-clip`` on chapter 05's ``preset`` spaces:
    smoke spaces for ``smoke``, else default; ``coco-clip`` at ``paper``): ``n_train`` training images (0: all),
    2 ``n_eval`` test images (the first N are the FID reference, whose prompts are drawn), at ``image_size`` px."""
    args = (ctx, n_train, n_eval, image_size, progress)
    if space == "flickr8k-clip":
        return flickr_task(*args)
    if space == "coco-clip":
        return coco_task(*args)
    if space not in WORLD_SPACES:
        raise ValueError(f"unknown generation space {space!r}; valid: {', '.join(SPACES)}")
    return world_task(space, *args)


def tower_features(task: dict, images: torch.Tensor) -> np.ndarray:
    """Embeddings of uint8 images in the space's own image encoder: the world's image tower on renders
    resized to its input size; Flickr8k's image head on frozen EfficientNet-Lite0 features; CLIP's image
    encoder (coco-clip) on the images upsampled to 224 px and normalised as CLIP's preprocessing does."""
    if task["tower_input"] == CLIP_INPUT:
        return clip_image_features(task["tower_module"], images)
    if task["tower_input"]:
        return embed(task["tower_module"], resize(as_float(images), task["tower_input"]))
    from PIL import Image

    from c3lib.encoders.frozen import efficientnet_features

    pil = [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in images]
    return embed(task["tower_module"], torch.from_numpy(efficientnet_features(pil, progress=False)))


def clip_image_features(clip_model: torch.nn.Module, images: torch.Tensor, batch_size: int = 128) -> np.ndarray:
    """CLIP image embeddings of uint8 ``(n, 3, S, S)`` images: bicubic to CLIP's 224 px input, CLIP's
    normalisation (open_clip's OPENAI_DATASET_MEAN / STD), ``encode_image``; on the model's device."""
    import torch.nn.functional as F
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    device = next(clip_model.parameters()).device
    mean = torch.tensor(OPENAI_DATASET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD, device=device).view(1, 3, 1, 1)
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = as_float(images[i:i + batch_size]).to(device)
            x = F.interpolate(x, size=(224, 224), mode="bicubic", align_corners=False).clamp(0, 1)
            out.append(clip_model.encode_image((x - mean) / std).float().cpu().numpy())
    return np.concatenate(out)


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images as float32 in [0, 1]."""
    return images.float() / 255
