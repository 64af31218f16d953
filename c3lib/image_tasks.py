"""Image-generation tasks on chapter 05's spaces (chapter 08, paper section 5.2): training images with their
image embeddings, held-out test images with one caption each as the prompt, the text embeddings whose mean
the collapse removes, held-out validation images (never the test ones) to choose a generator on, and the
space's own image encoder (``tower_module``, ``tower_input``) for FID in its features. Each space is read at
the run's own preset (chapter 05's smoke, default or paper spaces).

* ``world-clip`` (frozen EfficientNet-Lite0 over renders and MiniLM over captions, trained heads: the world
  space with CLIP's geometry), ``world-clip-scratch`` and ``world-scratch`` (chapter 05's world towers from random
  init) on world renders, with each scene's ground-truth attributes: train-split scenes to train on, val-split
  scenes to validate, test-split scenes to test (the first N the FID reference and prompts, the next N the
  real-vs-real set).
* ``flickr8k-clip`` on Flickr8k photos: the train-split photos the space's heads trained on to train, the ones
  it held out for its validation retrieval to validate, val-split photos to test.
* at ``paper``, ``coco-clip``: the paper's setting, CLIP ViT-B/32 ``openai`` over MS-COCO at chapter 06's
  Karpathy split (train + restval to train on, val + test images as the reference and prompts; no validation
  images).

Images are uint8 ``(n, 3, S, S)`` tensors: every consumer (generator, Inception, encoders) sees the same levels.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np
import torch

from c3lib import image_metrics as im
from c3lib.autoencoder import resize
from c3lib.cache import cached
from c3lib.config import RunContext
from c3lib.contrastive import embed
from c3lib.spaces import flickr_clip_split, flickr_features, load_or_train_space, world_data, world_features

PAPER_ONLY = ("coco-clip",)  # downloads CLIP ViT-B/32 (checked): the paper preset only
CLIP_INPUT = "openclip"  # tower_input of coco-clip: CLIP's own image preprocessing at 224 px
MIN_REAL_VS_REAL = 8  # real images beyond the N references that a task must have (its real-vs-real set)
FROZEN_INPUT = 0  # tower_input of the frozen-tower spaces: EfficientNet-Lite0 features, then the space's head
PLACES = ("top left", "top", "top right", "left", "middle", "right", "bottom left", "bottom", "bottom right")


def u8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] as uint8 levels."""
    return im.to_uint8(images.clamp(0, 1))


def _prompt_picks(ctx: RunContext, n: int) -> np.ndarray:
    """Which of its five captions is each of ``n`` test scenes' prompt (seeded by the run's seed)."""
    return np.random.default_rng([ctx.seed, 8]).integers(0, 5, n)


def world_task(space: str, ctx: RunContext, n_train: int, n_eval: int, image_size: int,
               progress: bool = False) -> dict[str, Any]:
    """A chapter 05 world space whose towers read renders and token ids (``world-clip-scratch`` or
    ``world-scratch``): its training renders, N val-split scenes to validate on and 2N held-out test scenes
    (test split: never seen by the space or the generator)."""
    sp = load_or_train_space(space, ctx, progress=progress)
    ccfg, model, vocab = sp["config"], sp["model"], sp["vocab"]
    train = world_data(ccfg, ("image", "text"), "train", ccfg.n_train if n_train <= 0 else n_train, vocab=vocab)
    val = world_data(ccfg, ("image", "text"), "val", n_eval, vocab=vocab)
    test = world_data(ccfg, ("image", "text"), "test", 2 * n_eval, vocab=vocab)
    pick = _prompt_picks(ctx, 2 * n_eval)
    prompts = test["b"][torch.arange(2 * n_eval), torch.as_tensor(pick)]  # [2N, L]
    ids = train["b"]
    tower, size = model.tower_a, ccfg.image_size
    return {
        "img_train": embed(tower, train["a"]),  # [n, d]
        "txt_train": embed(model.tower_b, ids.reshape(-1, ids.shape[-1])),  # [5n, d], unpaired text: its mean only
        "images_train": u8(resize(train["a"], image_size)),  # [n, 3, S, S] uint8
        "attrs_train": _attributes(train["scenes"]),
        "img_val": embed(tower, val["a"]),  # [N, d]
        "images_val": u8(resize(val["a"], image_size)),
        "attrs_val": _attributes(val["scenes"]),
        "img_test": embed(tower, test["a"][:n_eval]),
        "txt_test": embed(model.tower_b, prompts[:n_eval]),
        "images_test": u8(resize(test["a"], image_size)),  # first N: references; last N: real-vs-real
        "attrs_test": _attributes(test["scenes"]),
        "prompts": [test["captions"][i][pick[i]] for i in range(n_eval)],
        "tower_module": tower, "tower_input": size,  # the space's own image encoder, on size px renders
        "space_gap": sp["trained"]["gap"],
    }


def world_clip_task(ctx: RunContext, n_train: int, n_eval: int, image_size: int,
                    progress: bool = False) -> dict[str, Any]:
    """``world-clip``: the same task as :func:`world_task` over the frozen-tower world space. Embeddings are
    the space's heads over chapter 05's cached frozen features (EfficientNet-Lite0 of the renders at the
    space's ``image_size``, MiniLM of the captions); the generator's images are those renders resized to
    ``image_size``. Each split is read as chapter 05 cached it (``n_train``, ``n_select``, ``n_test`` scenes, or
    more when asked) and its first rows taken: train (``n_train``, 0: all), val (N), test (2N)."""
    sp = load_or_train_space("world-clip", ctx, progress=progress)
    ccfg, model = sp["config"], sp["model"]
    n_fit = ccfg.n_train if n_train <= 0 else n_train
    train = _world_rows(ccfg, "train", ccfg.n_train, n_fit, progress)
    val = _world_rows(ccfg, "val", ccfg.n_select, n_eval, progress)
    test = _world_rows(ccfg, "test", ccfg.n_test, 2 * n_eval, progress)
    pick = _prompt_picks(ctx, 2 * n_eval)
    head_a, head_b = model.tower_a, model.tower_b
    return {
        "img_train": embed(head_a, _f32(train["image"])),  # [n, d]
        "txt_train": embed(head_b, _f32(train["text"].reshape(-1, train["text"].shape[-1]))),  # [5n, d]: its mean
        "images_train": _render_images(train["pixels"], image_size),  # [n, 3, S, S] uint8
        "attrs_train": train["attrs"],
        "img_val": embed(head_a, _f32(val["image"])),  # [N, d]
        "images_val": _render_images(val["pixels"], image_size),
        "attrs_val": val["attrs"],
        "img_test": embed(head_a, _f32(test["image"][:n_eval])),
        "txt_test": embed(head_b, _f32(test["text"][np.arange(n_eval), pick[:n_eval]])),
        "images_test": _render_images(test["pixels"], image_size),  # first N: references; last N: real-vs-real
        "attrs_test": test["attrs"],
        "prompts": [test["captions"][i][pick[i]] for i in range(n_eval)],
        "tower_module": head_a, "tower_input": FROZEN_INPUT, "text_module": head_b,  # text: MiniLM, then the head
        "space_gap": sp["trained"]["gap"],
    }


def _world_rows(ccfg, split: str, standard: int, n: int, progress: bool) -> dict[str, Any]:
    """The first ``n`` scenes of chapter 05's ``standard`` ones of ``split`` (a split's scenes depend on how many
    are drawn, so fewer are taken from the cached draw, never drawn anew): their frozen features, renders,
    captions and ground-truth attributes."""
    f = world_features(ccfg, split, max(standard, n), progress=progress)
    rows = {key: f[key][:n] for key in ("image", "text", "pixels", "captions")}
    return {**rows, "attrs": [f["scenes"].attributes(i) for i in range(n)]}


def _render_images(pixels: np.ndarray, image_size: int) -> torch.Tensor:
    """Renders ``(n, H, W, 3)`` uint8 as uint8 ``(n, 3, S, S)`` at ``image_size``."""
    return u8(resize(as_float(torch.from_numpy(pixels).permute(0, 3, 1, 2)), image_size))


def _attributes(scenes) -> list[dict]:
    """The ground-truth attributes of each scene."""
    return [scenes.attributes(i) for i in range(len(scenes))]


def _f32(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def photos(dataset: str, split: str, paths, image_size: int) -> torch.Tensor:
    """Photos as uint8 ``(n, 3, S, S)`` (centre square, box filter), cached by file names and size."""
    from c3lib.data.loaders import photo_pixels

    arr = cached(f"08-{dataset}-{split}-pixels", {"photos": [p.name for p in paths], "size": image_size,
                                                  "crop": "centre square, box filter"},
                 lambda: photo_pixels(list(paths), image_size))
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def flickr_task(ctx: RunContext, n_train: int, n_eval: int, image_size: int,
                progress: bool = False) -> dict[str, Any]:
    """``flickr8k-clip``: the train-split photos its heads trained on (the first ``n_train``; 0: all) to train
    on, N of the train-split photos it held out for its validation retrieval to validate on (neither the space
    nor the generator trains on them), and the first 2N val-split photos as the FID reference (N) and
    real-vs-real (up to N more: the val split holds 974 photos, so at N = 500 the real-vs-real set has 474), one
    caption of each of the first N as its prompt. Embeddings: frozen EfficientNet-Lite0,
    then the space's image head."""
    sp = load_or_train_space("flickr8k-clip", ctx, progress=progress)
    ccfg, model = sp["config"], sp["model"]
    n = n_eval
    tr = flickr_features(ccfg, "train", ccfg.clip_flickr_train, progress=progress)
    fit, held = flickr_clip_split(ccfg, len(tr["a"]))
    fit = fit if n_train <= 0 else fit[:n_train]
    if len(held) < n:
        raise ValueError(f"n_eval={n} needs {n} held-out Flickr8k train photos to validate on, but flickr8k-clip "
                         f"holds out {len(held)} (clip_select); lower n_eval")
    val = held[:n]
    te = flickr_features(ccfg, "val", max(ccfg.flickr_test, 2 * n), progress=progress)
    if len(te["a"]) < n + MIN_REAL_VS_REAL:  # the val split holds 974 photos: N = 500 leaves 474 for real-vs-real
        raise ValueError(f"n_eval={n} needs at least {n + MIN_REAL_VS_REAL} Flickr8k val photos (N references and "
                         f"a real-vs-real set) but there are {len(te['a'])}; lower n_eval")
    pick = _prompt_picks(ctx, n)
    txt = tr["b"][fit]
    return {
        "img_train": embed(model.tower_a, _f32(tr["a"][fit])),
        "txt_train": embed(model.tower_b, _f32(txt.reshape(-1, txt.shape[-1]))),  # unpaired: its mean
        "images_train": photos("flickr", "train", [tr["paths"][i] for i in fit], image_size),
        "img_val": embed(model.tower_a, _f32(tr["a"][val])),
        "images_val": photos("flickr", "train", [tr["paths"][i] for i in val], image_size),
        "img_test": embed(model.tower_a, _f32(te["a"][:n])),
        "txt_test": embed(model.tower_b, _f32(te["b"][np.arange(n), pick])),
        "images_test": photos("flickr", "val", te["paths"][:2 * n], image_size),
        "prompts": [te["captions"][i][pick[i]] for i in range(n)],
        "tower_module": model.tower_a, "tower_input": FROZEN_INPUT, "text_module": model.tower_b,
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
        raise ValueError(f"coco-clip downloads CLIP ViT-B/32 and needs MS-COCO: the paper preset only, "
                         f"not {ctx.preset!r}")
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


BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "world-clip": world_clip_task,
    "world-clip-scratch": partial(world_task, "world-clip-scratch"),
    "flickr8k-clip": flickr_task,
    "world-scratch": partial(world_task, "world-scratch"),
    "coco-clip": coco_task,
}
SPACES = tuple(BUILDERS)
WORLD_SPACES = ("world-clip", "world-clip-scratch", "world-scratch")  # on world renders, with attributes


def build_task(space: str, ctx: RunContext, n_train: int = 0, n_eval: int = 48, image_size: int = 32,
               progress: bool = False) -> dict[str, Any]:
    """The task of ``space`` (one of :data:`SPACES`, read at ``ctx``'s preset; ``coco-clip`` at ``paper`` only):
    ``n_train`` training images (0: all), N = ``n_eval`` validation images (none for ``coco-clip``), 2N test
    images (the first N are the FID reference, whose prompts are drawn), at ``image_size`` px."""
    if space not in BUILDERS:
        raise ValueError(f"unknown generation space {space!r}; valid: {', '.join(SPACES)}")
    return BUILDERS[space](ctx, n_train, n_eval, image_size, progress)


def tower_features(task: dict, images: torch.Tensor) -> np.ndarray:
    """Embeddings of uint8 images in the space's own image encoder: a world tower from random init on the
    images resized to its input size; a frozen-tower space's image head (``world-clip``, ``flickr8k-clip``) on
    the images' EfficientNet-Lite0 features; CLIP's image encoder (coco-clip) on the images upsampled to 224 px
    and normalised as CLIP's preprocessing does."""
    if task["tower_input"] == CLIP_INPUT:
        return clip_image_features(task["tower_module"], images)
    if task["tower_input"] != FROZEN_INPUT:
        return embed(task["tower_module"], resize(as_float(images), task["tower_input"]))
    from PIL import Image

    from c3lib.encoders.frozen import efficientnet_features

    pil = [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in images]
    return embed(task["tower_module"], torch.from_numpy(efficientnet_features(pil, progress=False, channels_last=True)))


def text_features(task: dict, prompts: list[str]) -> np.ndarray:
    """Embeddings of free-text prompts in the space's own text encoder: MiniLM, then the head of a frozen-tower
    space (``world-clip``, ``flickr8k-clip``). The towers from random init read only their own vocabulary, and
    ``coco-clip``'s CLIP is downloaded at ``paper``: neither takes typed prompts here."""
    if "text_module" not in task:
        raise ValueError("typed prompts need a frozen-tower space (world-clip or flickr8k-clip); this space's text "
                         "tower reads only its own vocabulary or is CLIP at the paper preset")
    from c3lib.encoders.frozen import minilm_features

    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValueError("prompts must be a non-empty list of non-empty strings")
    return embed(task["text_module"], torch.from_numpy(minilm_features(list(prompts), progress=False)))


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
