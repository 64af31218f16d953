"""Chapter 08's image autoencoder: the first stage of its latent diffusion generator (:mod:`c3lib.generator`).

:class:`ImageAutoencoder` maps images ``(n, 3, S, S)`` in [0, 1] to latents of ``latent_channels`` maps of
``S / 2**downsamples`` px and back, trained by squared error on the training images (it sees the image, so there
is nothing to average). One per space, shared by every variant and seed: it never sees an embedding. Here too the
image checks (:func:`check_images`), the resize every image task uses (:func:`resize`), the seeded batch order
and the safetensors write / read both stages share.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from c3lib import devices
from c3lib.checks import AT_LEAST_1, NONNEG, POSITIVE, number
from c3lib.progress import progress as bar


@dataclass(frozen=True)
class AutoencoderConfig:
    image_size: int = 32  # side of the images it reads and draws (a power of two >= 8)
    channels: int = 24  # channels of the first stage; deeper stages have 2x and 4x as many
    latent_channels: int = 16  # maps of the latent
    downsamples: int = 3  # stride-2 stages: the latent side is image_size / 2**downsamples
    num_steps: int = 3000  # optimiser steps
    batch_size: int = 64
    lr: float = 1e-3  # Adam, cosine decay to 5 %
    seed: int = 0

    def __post_init__(self):
        for name in ("image_size", "channels", "latent_channels", "downsamples", "num_steps", "batch_size"):
            number(f"autoencoder {name}", getattr(self, name), AT_LEAST_1, integer=True)
        number("autoencoder lr", self.lr, POSITIVE)
        number("autoencoder seed", self.seed, NONNEG, integer=True)
        side = self.image_size / 2 ** self.downsamples
        if self.image_size < 8 or self.image_size & (self.image_size - 1) or side < 2 or self.downsamples > 3:
            raise ValueError(f"autoencoder image_size must be a power of two >= 8 and downsamples 1-3 leaving a latent "
                             f"of at least 2 px; got image_size {self.image_size}, downsamples {self.downsamples}")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        side = self.image_size // 2 ** self.downsamples
        return self.latent_channels, side, side

    @property
    def latent_dim(self) -> int:
        return int(np.prod(self.latent_shape))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


AE_SIZES = {  # preset -> AutoencoderConfig fields (image_size comes from the chapter)
    "smoke": dict(channels=8, latent_channels=4, downsamples=2, num_steps=60, batch_size=32),
    "default": dict(channels=24, latent_channels=16, downsamples=3, num_steps=3000, batch_size=64),
    "paper": dict(channels=64, latent_channels=16, downsamples=3, num_steps=20_000, batch_size=128),
}


def check_images(images: np.ndarray | torch.Tensor, size: int | None = None, name: str = "images") -> torch.Tensor:
    """``images`` as float32 ``(n, 3, S, S)`` in [0, 1]; anything else raises a ValueError saying what was given."""
    t = torch.as_tensor(images)
    if t.ndim != 4 or t.shape[1] != 3 or t.shape[2] != t.shape[3]:
        raise ValueError(f"{name}: expected (n, 3, S, S) square RGB images, got shape {tuple(t.shape)}")
    if size is not None and t.shape[2] != size:
        raise ValueError(f"{name}: side {t.shape[2]} px but the generator makes {size} px images; resize first")
    t = t.float() / 255 if t.dtype == torch.uint8 else t.float()
    if not torch.isfinite(t).all() or t.min() < 0 or t.max() > 1:
        raise ValueError(f"{name}: values must be finite and in [0, 1] (or uint8)")
    return t


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """``(n, 3, H, W)`` -> ``(n, 3, size, size)``: area averaging down, bilinear up."""
    if images.shape[-1] == size:
        return images
    mode = "area" if images.shape[-1] > size else "bilinear"
    return F.interpolate(images, size=(size, size), mode=mode, **({} if mode == "area" else {"align_corners": False}))


def batches(n: int, batch_size: int, steps: int, gen: torch.Generator):
    """Row indices of ``steps`` batches: epochs of seeded permutations."""
    perm, pos = torch.randperm(n, generator=gen), 0
    for _ in range(steps):
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        yield perm[pos:pos + batch_size]
        pos += batch_size


def write_module(folder: Path, module: nn.Module, meta: dict, name: str) -> None:
    from safetensors.torch import save_file

    from c3lib.atomic import write_json

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(Path(folder) / f"{name}.safetensors"))
    write_json(Path(folder) / f"{name}.json", meta)


def read_module(folder: Path, name: str) -> tuple[dict, dict]:
    from safetensors.torch import load_file

    return json.loads((Path(folder) / f"{name}.json").read_text()), load_file(str(Path(folder) / f"{name}.safetensors"))


class ImageAutoencoder(nn.Module):
    """Images ``(n, 3, S, S)`` in [0, 1] <-> latents ``(n, latent_dim)``: stride-2 convolutions down, transposed
    convolutions up (batch norm, SiLU), a sigmoid at the end."""

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.cfg = cfg
        w, act = cfg.channels, nn.SiLU
        chans = [w] + [w * 2 ** min(i, 2) for i in range(cfg.downsamples)]  # [w, w, 2w, 4w][:downsamples + 1]
        enc: list[nn.Module] = [nn.Conv2d(3, w, 3, padding=1), act()]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            enc += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), act()]
        self.encoder = nn.Sequential(*enc, nn.Conv2d(chans[-1], cfg.latent_channels, 1))
        up = chans[::-1]
        dec: list[nn.Module] = [nn.Conv2d(cfg.latent_channels, up[0], 1), nn.BatchNorm2d(up[0]), act()]
        for c_in, c_out in zip(up[:-1], up[1:] + [w]):
            dec += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), act()]
        self.decoder = nn.Sequential(*dec, nn.Conv2d(w, 3, 3, padding=1))
        self.history: dict = {}

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images * 2 - 1)  # [b, latent_channels, s, s]

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(latents))  # [b, 3, S, S]

    def fit(self, images: torch.Tensor, device: str = "auto", progress: bool = False) -> "ImageAutoencoder":
        """Squared-error reconstruction of ``images`` (uint8 or [0, 1]) on ``device``."""
        cfg = self.cfg
        images = check_images(images, cfg.image_size, "autoencoder training images")
        torch.manual_seed(cfg.seed)
        self.__init__(cfg)  # seeded init
        dev = devices.resolve(device)
        self.to(dev).train()
        opt = torch.optim.Adam(self.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.num_steps, eta_min=cfg.lr * 0.05)
        gen, losses, t0 = torch.Generator().manual_seed(cfg.seed), [], time.perf_counter()
        for idx in bar(batches(len(images), cfg.batch_size, cfg.num_steps, gen), total=cfg.num_steps,
                       desc="autoencoder", disable=not progress):
            x = images[idx].to(dev)
            loss = ((self.decode(self.encode(x)) - x) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        secs = time.perf_counter() - t0
        self.history = {"loss": losses, "seconds": secs, "images_per_s": cfg.num_steps * cfg.batch_size / secs}
        return self.eval()

    @torch.inference_mode()
    def latents(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Flat latents ``(n, latent_dim)`` (on the CPU) of uint8 or [0, 1] images."""
        images = check_images(images, self.cfg.image_size, "images to encode")
        self.eval()
        dev = next(self.parameters()).device
        return torch.cat([self.encode(images[i:i + batch_size].to(dev)).flatten(1).cpu()
                          for i in range(0, len(images), batch_size)])

    @torch.inference_mode()
    def images(self, latents: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Images ``(n, 3, S, S)`` in [0, 1] (on the CPU) of flat latents."""
        shape = self.cfg.latent_shape
        self.eval()
        dev = next(self.parameters()).device
        return torch.cat([self.decode(latents[i:i + batch_size].to(dev).view(-1, *shape)).cpu()
                          for i in range(0, len(latents), batch_size)])

    def write(self, folder: Path) -> None:
        write_module(folder, self, {"config": self.cfg.to_dict(), "history": self.history}, "autoencoder")

    @classmethod
    def read(cls, folder: Path) -> "ImageAutoencoder":
        meta, state = read_module(folder, "autoencoder")
        model = cls(AutoencoderConfig(**meta["config"]))
        model.load_state_dict(state)
        model.history = meta["history"]
        return model.eval()
