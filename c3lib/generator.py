"""A conditional image generator trained on embeddings -> images (paper section 5.2, Appendix F).

The paper's generator is LAFITE (a StyleGAN2 generator conditioned on a CLIP embedding). Here one class,
:class:`EmbeddingGenerator`, maps a (transformed) embedding ``(n, d)`` to an image ``(n, 3, S, S)`` in
[0, 1]: a linear layer to a 4x4 feature map (``stem_size``), then ``log2(S / 4)`` upsampling stages
(transposed convolution, batch norm, ReLU; the DCGAN generator's stage) and a 3x3 convolution to RGB. It is
trained by a squared-error reconstruction loss of the training images from their own image embeddings passed
through the caller's training transform (C3's, or LAFITE's perturbation), with Adam and an exponential moving
average of the weights (``torch.optim.swa_utils``, buffers included) that is what :meth:`sample` uses.

Why squared error: a world render is ~94 % background (6.5 % of its 32 px pixels differ from the per-pixel
median), and an L1 loss is minimised by the median image, the background. The earlier L1 generator gave every
prompt the same image; even from the scenes' own embeddings its attribute accuracy was chance. Squared error
pays for a missing object. The loss, the stem (4x4 or 8x8) and the step count were chosen on reconstructions
of *validation* scenes from their own embeddings (``benchmarks/choose_generator.py``).

Why not a diffusion UNet (diffusers) or a GAN: measured here on one CPU thread, the smallest
``diffusers.UNet2DModel`` at 32 px trains at ~50 images/s and needs tens of sampling steps, a VAE
``Decoder`` of diffusers at ~80 images/s; this generator (width 16, 32 px, 512-d condition) trains at
~900-1000 images/s on one core (500 steps of 64 in 31-37 s in the chapter 08 default run, two generators at a
time on 2 cores), which is what fits 20 generators into the chapter's 12 minutes. The same class scales by
its config (:data:`SIZES`): ``smoke`` 16 px, seconds; ``default`` 32 px, ~35 s per generator on one core;
``paper`` 128 px, wider, for a GPU (the paper's batch 16 and Adam; its lr 2.5e-3 is a GAN's and is not used by
a regression loss).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from c3lib import devices, distributed
from c3lib.checks import AT_LEAST_1, NONNEG, POSITIVE, Range, number


LOSSES = ("mse", "l1")


@dataclass(frozen=True)
class GeneratorConfig:
    cond_dim: int = 64  # width of the conditioning embedding
    image_size: int = 32  # output side in pixels (a power of two, >= stem_size)
    base_channels: int = 32  # channels of the last stage; earlier stages have up to 4x as many
    num_steps: int = 500  # optimiser steps
    batch_size: int = 64  # images per step
    lr: float = 2e-3  # Adam learning rate (cosine decay to 10 % over num_steps)
    ema_decay: float = 0.99  # EMA of weights and buffers; the EMA model is the one sampled
    seed: int = 0  # weight init and batch order
    stem_size: int = 4  # side of the feature map the linear stem writes (4 or 8)
    loss: str = "mse"  # "mse" (squared error) or "l1"

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"unknown generator loss {self.loss!r}; valid: {', '.join(LOSSES)}")
        if self.stem_size not in (4, 8):
            raise ValueError(f"stem_size must be 4 or 8, got {self.stem_size}")
        for name in ("cond_dim", "image_size", "base_channels", "num_steps", "batch_size"):  # 0 steps: untrained
            number(f"generator {name}", getattr(self, name), AT_LEAST_1, integer=True)
        number("generator lr", self.lr, POSITIVE)
        number("generator ema_decay", self.ema_decay, Range(0, 1, high_open=True))
        number("generator seed", self.seed, NONNEG, integer=True)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SIZES = {  # preset -> GeneratorConfig fields (cond_dim comes from the space)
    "smoke": dict(image_size=16, base_channels=16, num_steps=60, batch_size=32),
    "default": dict(image_size=32, base_channels=16, num_steps=500, batch_size=64),
    "paper": dict(image_size=128, base_channels=64, num_steps=200_000, batch_size=16, lr=1e-3, ema_decay=0.999),
}


def check_embeddings(emb: np.ndarray | torch.Tensor, dim: int, name: str = "embeddings") -> torch.Tensor:
    """``emb`` as float32 ``(n, dim)``; a wrong width, shape or a NaN raises a ValueError naming it."""
    t = torch.as_tensor(np.asarray(emb, dtype=np.float32) if not torch.is_tensor(emb) else emb).float()
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError(f"{name}: expected a 2-d array (n, {dim}), got shape {tuple(t.shape)}")
    if t.shape[1] != dim:
        raise ValueError(f"{name}: width {t.shape[1]} but the generator is conditioned on {dim}-d embeddings")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: contains NaN or infinite values ({int((~torch.isfinite(t)).sum())} entries)")
    return t


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


class EmbeddingGenerator(nn.Module):
    """Embedding ``(b, cond_dim)`` -> image ``(b, 3, S, S)`` in [0, 1]."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        s0 = cfg.stem_size
        n_up = int(round(math.log2(max(cfg.image_size, 1) / s0)))
        if cfg.image_size < 8 or s0 * 2 ** n_up != cfg.image_size:
            raise ValueError(f"image_size must be a power of two >= 8 and >= stem_size {s0}, got {cfg.image_size}")
        self.cfg = cfg
        chans = [cfg.base_channels * 2 ** min(n_up - i, 2) for i in range(n_up + 1)]  # [s0 x s0 ... S x S]
        self.stem = nn.Linear(cfg.cond_dim, chans[0] * s0 * s0)
        stages = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            stages += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.body = nn.Sequential(nn.BatchNorm2d(chans[0]), nn.ReLU(), *stages)
        self.to_rgb = nn.Conv2d(chans[-1], 3, 3, padding=1)
        self.ema: torch.optim.swa_utils.AveragedModel | None = None
        self.history: dict = {}

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        s0 = self.cfg.stem_size
        x = self.stem(cond).view(len(cond), -1, s0, s0)  # [b, C, s0, s0]
        return torch.sigmoid(self.to_rgb(self.body(x)))  # [b, 3, S, S]

    def fit(self, emb: np.ndarray, images: torch.Tensor, train_transform: Callable[[np.ndarray], np.ndarray],
            progress: bool = False, device: str = "auto") -> "EmbeddingGenerator":
        """Train on ``images`` ``(n, 3, S, S)`` from ``train_transform(emb[batch])`` (a fresh draw per batch), on
        ``device`` (``auto``: the GPU when present; bf16 autocast there).

        Under ``torchrun`` every rank draws the same global batch and its noise and trains on its rows in DDP
        (:mod:`c3lib.distributed`, on the rank's device; on GPUs with SyncBatchNorm, so the batch statistics are
        the global batch's); one process runs exactly the single-process loop."""
        cfg = self.cfg
        emb = check_embeddings(emb, cfg.cond_dim, "training embeddings").numpy()
        images = check_images(images, cfg.image_size, "training images")
        if len(emb) != len(images):
            raise ValueError(f"{len(emb)} embeddings but {len(images)} images: they must be paired")
        torch.manual_seed(cfg.seed)
        self.__init__(cfg)  # seeded init: the same seed gives the same weights
        d = distributed.current()
        dev = d.device if d.world > 1 else devices.resolve(device)
        self.to(dev)
        if d.world > 1 and dev.startswith("cuda"):
            nn.SyncBatchNorm.convert_sync_batchnorm(self)  # in place: children replaced
        net = distributed.wrap(self, d)
        gen = torch.Generator().manual_seed(cfg.seed)
        opt = torch.optim.Adam(self.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.num_steps, eta_min=cfg.lr * 0.1)
        ema = torch.optim.swa_utils.AveragedModel(
            self, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        losses, t0, perm, pos = [], time.perf_counter(), torch.randperm(len(emb), generator=gen), 0
        self.train()
        for step in range(cfg.num_steps):
            if pos + cfg.batch_size > len(emb):
                perm, pos = torch.randperm(len(emb), generator=gen), 0
            idx = perm[pos:pos + cfg.batch_size]
            pos += cfg.batch_size
            cond = check_embeddings(train_transform(emb[idx.numpy()]), cfg.cond_dim, "transformed embeddings")
            rows = torch.from_numpy(distributed.shard(np.arange(len(idx)), d))  # this rank's rows
            with distributed.autocast(dev):
                out = net(cond[rows].to(dev))
            err = out.float() - images[idx[rows]].to(dev)
            loss = (err ** 2).mean() if cfg.loss == "mse" else err.abs().mean()
            if d.world > 1:  # weight: this rank's share of the batch, times world (DDP averages)
                loss = loss * (len(rows) / len(idx) * d.world)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ema.update_parameters(self)
            losses.append(distributed.all_sum(loss.item() / d.world, d) if d.world > 1 else loss.item())
        self.eval()
        self.ema = ema
        secs = time.perf_counter() - t0
        self.history = {"loss": losses, "seconds": secs, "images_per_s": cfg.num_steps * cfg.batch_size / secs}
        return self

    @torch.inference_mode()
    def sample(self, cond: np.ndarray | torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Images ``(n, 3, S, S)`` in [0, 1] from conditioning embeddings ``(n, cond_dim)`` (EMA weights)."""
        cond = check_embeddings(cond, self.cfg.cond_dim, "conditioning embeddings")
        net = self.ema.module if self.ema is not None else self
        net.eval()
        dev = next(net.parameters()).device
        return torch.cat([net(cond[i:i + batch_size].to(dev)).cpu() for i in range(0, len(cond), batch_size)])

    # --- the run store's write / read ---
    def write(self, folder: Path) -> None:
        from safetensors.torch import save_file

        from c3lib.atomic import write_json

        net = self.ema.module if self.ema is not None else self
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
                  str(Path(folder) / "ema.safetensors"))
        write_json(Path(folder) / "generator.json", {"config": self.cfg.to_dict(), "history": self.history})

    @classmethod
    def read(cls, folder: Path) -> "EmbeddingGenerator":
        from safetensors.torch import load_file

        meta = json.loads((Path(folder) / "generator.json").read_text())
        model = cls(GeneratorConfig(**meta["config"]))
        model.load_state_dict(load_file(str(Path(folder) / "ema.safetensors")))
        model.history = meta["history"]
        return model.eval()
