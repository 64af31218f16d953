"""open_clip models: random init (Fig 3, Fig 12 left), local checkpoints, and the paper's pretrained weights.

``load_openclip("ViT-B-32", weights=None, seed=0)`` builds a random-init model deterministically;
``weights`` may also be a local ``.safetensors`` / ``.pt`` file (loaded safely) or an open_clip pretrained
tag such as ``"openai"``, which downloads and is only allowed at the ``paper`` preset.

OpenAI's checkpoints are fetched from their published address and checked against the SHA-256 that
OpenAI embeds in it; the TorchScript archive is read once and its weights re-saved as safetensors, which
every later load uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from c3lib.data.loaders import open_rgb


OPENAI = {  # name -> (address, SHA-256 of the file, open_clip architecture with QuickGELU)
    "ViT-B-32": ("https://openaipublic.azureedge.net/clip/models/"
                 "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
                 "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", "ViT-B-32-quickgelu"),
}


def weights_dir() -> Path:
    return Path(os.environ.get("C3_WEIGHTS") or Path.home() / ".cache" / "c3book" / "weights")


def download_checked(url: str, sha256: str, dest: Path) -> Path:
    """Download ``url`` to ``dest`` (atomically) and verify its SHA-256; a bad or partial file is refused."""
    import hashlib
    import urllib.request

    from tqdm.auto import tqdm

    from c3lib.atomic import atomic_path

    if dest.exists() and hashlib.sha256(dest.read_bytes()).hexdigest() == sha256:
        return dest
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, atomic_path(dest) as tmp:
            digest = hashlib.sha256()
            total = int(resp.headers.get("Content-Length") or 0)
            with open(tmp, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := resp.read(1 << 20):
                    fh.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            if digest.hexdigest() != sha256:
                raise ValueError(f"checksum mismatch for {url}: got {digest.hexdigest()}, expected {sha256}; "
                                 f"the download is corrupt or the file changed: nothing was saved")
    except OSError as err:
        raise RuntimeError(f"could not download {url} ({err}). The paper preset needs the network once; "
                           f"offline, put the checked file at {dest} yourself") from err
    return dest


def _openai_safetensors(name: str) -> tuple[Path, str]:
    """Local safetensors of OpenAI's ``name`` weights, downloading and converting on first use."""
    import torch
    from open_clip.model import build_model_from_openai_state_dict

    url, sha, arch = OPENAI[name]
    out = weights_dir() / f"openai-{name}.safetensors"
    if not out.exists():
        archive = download_checked(url, sha, weights_dir() / f"openai-{name}.pt")
        state = torch.jit.load(str(archive), map_location="cpu").state_dict()  # checksum verified above
        save_state_dict(build_model_from_openai_state_dict(state), out)
    return out, arch


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
        if not allow_download and not (weights_dir() / f"openai-{name}.safetensors").exists():
            raise RuntimeError(f"pretrained weights {name}/openai must be downloaded; this is allowed only "
                               f"at the paper preset or with --allow-download (smoke and default run offline)")
        path, arch = _openai_safetensors(name)
        with torch.random.fork_rng(devices=[]):
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
        model.load_state_dict(load_state_dict(path))
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


def lazy_openclip(name: str = "ViT-B-32", weights: str = "openai", allow_download: bool = True
                  ) -> Callable[[], OpenClip]:
    """A function that loads ``name``/``weights`` (a checked download, at the paper preset that calls this
    with ``allow_download``) on its first call, on the GPU when present, and returns the same model
    afterwards: nothing is downloaded when every embedding is cached."""
    loaded: list[OpenClip] = []

    def get() -> OpenClip:
        if not loaded:
            import torch

            clip = load_openclip(name, weights, allow_download=allow_download)
            clip.model.to("cuda" if torch.cuda.is_available() else "cpu")
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
