"""open_clip models: random init (Fig 3, Fig 12 left), local checkpoints, and the paper's pretrained weights.

``load_openclip("ViT-B-32", weights=None, seed=0)`` builds a random-init model deterministically;
``weights`` may also be a local ``.safetensors`` / ``.pt`` file (loaded safely) or an open_clip pretrained
tag such as ``"openai"``, which downloads and is only allowed at the ``paper`` preset.

OpenAI's ViT-B/32 is the file open_clip's ``pretrained="openai"`` reads from the Hugging Face Hub, fetched
at a pinned revision and checked against its SHA-256 (:mod:`c3lib.download`), then loaded by open_clip with
the preprocessing of its ``openai`` tag. Models load on :func:`c3lib.devices.resolve`'s device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from c3lib import devices, download
from c3lib.data.loaders import open_rgb

OPENAI = {"ViT-B-32": "clip-vit-b-32-openai"}  # open_clip name -> its pinned entry in c3lib.download.MODELS


def _openai_checkpoint(name: str, allow_download: bool = True) -> Path:
    """The verified local file of OpenAI's ``name`` weights (:mod:`c3lib.download`: pinned revision, SHA-256);
    fetched only with ``allow_download``."""
    model = download.MODELS[OPENAI[name]]
    return download.ensure(model, allow_download=allow_download) / model.files[0].name


def _openai_present(name: str) -> bool:
    """Whether OpenAI's ``name`` weights are already on this machine, verified (loading them needs no network)."""
    model = download.MODELS[OPENAI[name]]
    return all(download.is_valid(download.folder(model) / f.name, f) for f in model.files)


@dataclass
class OpenClip:
    """A loaded open_clip model with its image preprocessing and tokenizer."""

    name: str
    weights: str
    model: Any
    preprocess: Callable
    tokenizer: Callable


def load_openclip(name: str = "ViT-B-32", weights: str | os.PathLike | None = None, seed: int = 0,
                  allow_download: bool = False) -> OpenClip:
    """Build open_clip ``name``: random init from ``seed`` (``weights=None``), a local checkpoint, or a tag."""
    import open_clip
    import torch

    if name not in open_clip.list_models():
        raise ValueError(f"unknown open_clip model {name!r}; e.g. ViT-B-32, ViT-B-16, RN50 "
                         f"(open_clip.list_models() lists all {len(open_clip.list_models())})")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
    label = "random-init"
    if weights is not None and Path(str(weights)).suffix in (".safetensors", ".pt", ".pth", ".bin"):
        path = Path(weights)
        if not path.exists():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        model.load_state_dict(load_state_dict(path))
        label = str(path)
    elif weights == "openai" and name in OPENAI:
        if not allow_download and not _openai_present(name):
            raise RuntimeError(f"pretrained weights {name}/openai must be downloaded; this is allowed only "
                               f"at the paper preset or with --allow-download (smoke and default run offline)")
        path = _openai_checkpoint(name, allow_download=allow_download)
        pcfg = open_clip.get_pretrained_cfg(name, "openai")
        with torch.random.fork_rng(devices=[]):  # building the model draws a random init: keep the caller's RNG
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=str(path), force_quick_gelu=pcfg.get("quick_gelu", False),
                image_mean=pcfg.get("mean"), image_std=pcfg.get("std"),
                image_interpolation=pcfg.get("interpolation"), image_resize_mode=pcfg.get("resize_mode"))
        label = "openai"
    elif weights is not None:
        tags = open_clip.list_pretrained_tags_by_model(name)
        if weights not in tags:
            raise ValueError(f"unknown weights {weights!r} for {name}; valid: {tags} or a local file")
        if not allow_download:
            raise RuntimeError(f"pretrained weights {name}/{weights} must be downloaded; this is allowed only "
                               f"at the paper preset or with --allow-download (smoke and default run offline)")
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=weights)
        label = weights
    model.eval()
    return OpenClip(name, label, model, preprocess, open_clip.get_tokenizer(name))


def lazy_openclip(name: str = "ViT-B-32", weights: str = "openai", allow_download: bool = True,
                  device: str = "auto") -> Callable[[], OpenClip]:
    """A function that loads ``name``/``weights`` (a checked download, at the paper preset that calls this
    with ``allow_download``) on its first call, on ``device`` (``auto``: the GPU when present), and returns
    the same model afterwards: nothing is downloaded when every embedding is cached."""
    loaded: list[OpenClip] = []

    def get() -> OpenClip:
        if not loaded:
            clip = load_openclip(name, weights, allow_download=allow_download)
            clip.model.to(devices.resolve(device))
            loaded.append(clip)
        return loaded[0]
    return get


def load_state_dict(path: str | os.PathLike) -> dict:
    """Load weights safely: safetensors, or ``torch.load(weights_only=True)``."""
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def save_state_dict(model: Any, path: str | os.PathLike) -> Path:
    """Save ``model``'s weights as safetensors, atomically."""
    from safetensors.torch import save_file

    from c3lib.atomic import atomic_path

    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    return Path(path)


def _batches(items: Sequence, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _device(clip: OpenClip):
    return next(clip.model.parameters()).device


def encode_images(clip: OpenClip, images: Sequence, batch_size: int = 32, normalize: bool = False,
                  progress: bool = True) -> np.ndarray:
    """Embed images (paths or PIL images) with the model's own preprocessing -> ``(n, d)`` float32."""
    import torch
    from tqdm.auto import tqdm

    out = []
    with torch.inference_mode():
        for batch in tqdm(list(_batches(images, batch_size)), desc="images", disable=not progress):
            pil = [open_rgb(im) if isinstance(im, (str, Path)) else im for im in batch]
            x = torch.stack([clip.preprocess(im) for im in pil]).to(_device(clip))  # [b, 3, H, W]
            out.append(clip.model.encode_image(x, normalize=normalize).float().cpu().numpy())
    return np.concatenate(out)


def encode_texts(clip: OpenClip, texts: Sequence[str], batch_size: int = 64, normalize: bool = False,
                 progress: bool = True) -> np.ndarray:
    """Embed captions with the model's tokenizer -> ``(n, d)`` float32."""
    import torch
    from tqdm.auto import tqdm

    out = []
    with torch.inference_mode():
        for batch in tqdm(list(_batches(list(texts), batch_size)), desc="texts", disable=not progress):
            tokens = clip.tokenizer(batch).to(_device(clip))
            out.append(clip.model.encode_text(tokens, normalize=normalize).float().cpu().numpy())
    return np.concatenate(out)
