"""ImageBind (huge) for the paper preset of chapter 09 (Girdhar et al., 2023), through the PyPI package
``imagebind-unofficial==0.1.1`` (Meta's code, packaged; its preprocessing needs torchaudio, pytorchvideo
and decord, whose wheels must match the installed torch: PyPI has no torchaudio for torch 2.14.1, so this
runs in a GPU environment whose torch has a matching torchaudio).

The weights are Meta's ``imagebind_huge.pth`` (about 4.5 GB), read from a local file
(``$C3_WEIGHTS/imagebind_huge.pth`` unless a path is given) with ``torch.load(weights_only=True)``;
nothing is downloaded here. Embeddings are unnormalised ``(n, 1024)`` float32, as every encoder of c3lib.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from c3lib import devices
from c3lib.paths import weights_dir

PACKAGE = "imagebind-unofficial==0.1.1"
WEIGHTS_NAME = "imagebind_huge.pth"
WEIGHTS_URL = "https://dl.fbaipublicfiles.com/imagebind/imagebind_huge.pth"  # Meta's release of the weights


def weights_path(path: str | os.PathLike = "") -> Path:
    """The ImageBind checkpoint to load: ``path``, else ``$C3_WEIGHTS/imagebind_huge.pth``; must exist."""
    chosen = Path(path) if str(path) else weights_dir() / WEIGHTS_NAME
    if not chosen.is_file():
        raise FileNotFoundError(
            f"ImageBind weights not found at {chosen}: fetch {WEIGHTS_NAME} (about 4.5 GB) from Meta's release "
            f"({WEIGHTS_URL}) and put it there, or pass its path as imagebind_weights")
    return chosen


def _package():
    try:
        import imagebind.data as ib_data
        from imagebind.models import imagebind_model
    except ImportError as err:
        raise ImportError(
            f"ImageBind is not installed ({err}): pip install {PACKAGE} with torchaudio, pytorchvideo and decord "
            f"built for the installed torch (see c3lib/encoders/imagebind.py)") from err
    return imagebind_model, ib_data


def load_imagebind(path: str | os.PathLike = "", device: str = "auto") -> Any:
    """ImageBind huge with the weights at :func:`weights_path` (checked before the package is imported)."""
    import torch

    checkpoint = weights_path(path)
    imagebind_model, _ = _package()
    model = imagebind_model.imagebind_huge(pretrained=False)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model.eval().to(devices.resolve(device))


def _embed(model: Any, kind: str, items: Sequence, batch_size: int) -> np.ndarray:
    import torch

    imagebind_model, ib_data = _package()
    mod = getattr(imagebind_model.ModalityType, kind)
    load = {"TEXT": ib_data.load_and_transform_text, "VISION": ib_data.load_and_transform_vision_data,
            "AUDIO": ib_data.load_and_transform_audio_data}.get(kind)
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(items), batch_size):
            batch = [str(x) for x in items[i:i + batch_size]]
            if kind == "VIDEO":  # ImageBind embeds video through its vision tower, clips of 2 frames
                x = ib_data.load_and_transform_video_data(batch, device)
                mod = imagebind_model.ModalityType.VISION
            else:
                x = load(batch, device)
            out.append(model({mod: x})[mod].float().cpu().numpy())  # [b, 1024]
    return np.concatenate(out)


def embed_texts(model: Any, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    return _embed(model, "TEXT", list(texts), batch_size)


def embed_images(model: Any, paths: Sequence[Path], batch_size: int = 64) -> np.ndarray:
    return _embed(model, "VISION", list(paths), batch_size)


def embed_audio(model: Any, paths: Sequence[Path], batch_size: int = 32) -> np.ndarray:
    return _embed(model, "AUDIO", list(paths), batch_size)


def embed_videos(model: Any, paths: Sequence[Path], batch_size: int = 8) -> np.ndarray:
    return _embed(model, "VIDEO", list(paths), batch_size)
