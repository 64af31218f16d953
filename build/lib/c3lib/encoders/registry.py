"""The image encoders a saved model can name: an explicit registry, filled here and nowhere else.

A chapter saves, with each captioner (or generator), the spec of the encoder its space embeds images with
(``{"name": ..., ...}`` in ``config.json``'s ``extra.encoder``, weights beside it in the run dir). The
evaluation command rebuilds the encoder from that spec. Each entry is a function
``encoder(image_paths, run_dir, spec) -> (n, d)`` float array:

- ``efficientnet-projection``: frozen EfficientNet-Lite0 pooled features (1280) through the linear head stored
  in the run dir (``spec["head"]``, a safetensors file with ``weight`` (d, 1280) and optional ``bias`` (d,)),
  as in the locked-tower Flickr8k space;
- ``efficientnet-head``: the same features through a saved :class:`c3lib.encoders.towers.MLPHead`
  (``spec``: ``depth``, ``norm``, ``width``, ``dim``; weights in ``spec["head"]``), as in ``flickr8k-clip``;
- ``world-image-tower``: world images (PNG files) through the saved world image tower (``spec["weights"]``);
- ``openclip``: an open_clip model (``spec["model"]``, ``spec["weights"]``), the paper's CLIP ViT-B/32;
- ``import``: any function named ``spec["target"] = "package.module:function"``, the hook for spaces
  defined outside this library.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

Encoder = Callable[[Sequence[Path], Path, dict], np.ndarray]


def efficientnet_projection(paths: Sequence[Path], run_dir: Path, spec: dict) -> np.ndarray:
    from safetensors.numpy import load_file

    from c3lib.encoders.frozen import efficientnet_features

    head = load_file(str(run_dir / spec.get("head", "encoder_head.safetensors")))
    feats = efficientnet_features(list(paths), progress=False)  # (n, 1280)
    out = feats @ head["weight"].T  # (n, d)
    return out + head["bias"] if "bias" in head else out


def efficientnet_head(paths: Sequence[Path], run_dir: Path, spec: dict) -> np.ndarray:
    import torch
    from safetensors.torch import load_file

    from c3lib.contrastive import embed
    from c3lib.encoders.frozen import efficientnet_features
    from c3lib.encoders.towers import MLPHead

    feats = efficientnet_features(list(paths), progress=False)  # (n, 1280)
    head = MLPHead(feats.shape[1], spec["dim"], spec["depth"], spec["width"], spec["norm"])
    head.load_state_dict(load_file(str(run_dir / spec.get("head", "encoder_head.safetensors"))))
    return embed(head, torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))).astype(np.float64)


def world_image_tower(paths: Sequence[Path], run_dir: Path, spec: dict) -> np.ndarray:
    import torch
    from PIL import Image
    from safetensors.torch import load_file

    from c3lib.contrastive import embed
    from c3lib.encoders.towers import ImageTower

    tower = ImageTower(spec["dim"], clip_head=spec.get("clip_head", False))
    tower.load_state_dict(load_file(str(Path(run_dir) / spec["weights"])))
    size = spec["image_size"]
    arr = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size)), dtype=np.float32) for p in paths])
    return embed(tower, torch.from_numpy(arr).permute(0, 3, 1, 2) / 255).astype(np.float64)


def openclip_images(paths: Sequence[Path], run_dir: Path, spec: dict) -> np.ndarray:
    from c3lib.encoders.openclip import encode_images, lazy_openclip

    return encode_images(lazy_openclip(spec["model"], spec["weights"])(), list(paths), 256,
                         progress=False).astype(np.float64)


def import_target(paths: Sequence[Path], run_dir: Path, spec: dict) -> np.ndarray:
    module, _, fn = spec["target"].partition(":")
    return getattr(importlib.import_module(module), fn)(paths, run_dir, spec)


ENCODERS: dict[str, Encoder] = {"efficientnet-projection": efficientnet_projection,
                                "efficientnet-head": efficientnet_head,
                                "world-image-tower": world_image_tower, "openclip": openclip_images,
                                "import": import_target}


def embed_images(paths: Sequence[Path], run_dir: Path, spec: dict | None) -> np.ndarray:
    """Embed ``paths`` with the run's encoder spec; clear errors when it is missing or unknown."""
    if not spec or "name" not in spec:
        raise ValueError(f"{run_dir}/config.json names no image encoder (extra.encoder); a chapter must save "
                         f"one with its captioner, e.g. {{'name': 'efficientnet-projection'}}")
    if spec["name"] not in ENCODERS:
        raise ValueError(f"unknown image encoder {spec['name']!r}; registered: {', '.join(sorted(ENCODERS))} "
                         f"(or name a function with {{'name': 'import', 'target': 'package.module:function'}})")
    return np.asarray(ENCODERS[spec["name"]](list(paths), Path(run_dir), spec), dtype=np.float64)
