"""Chapter 08's text-to-image generator: a latent diffusion model conditioned on an embedding (paper section 5.2,
Appendix F).

The paper's generator is LAFITE, a StyleGAN2 conditioned on a CLIP embedding. Measured on world-clip's validation
scenes on one CPU core (attribute accuracy of the supervised generator; copying the nearest training render gets
0.74): a squared-error generator draws the mean of every scene that fits an embedding, so shape stays at chance;
a small conditional GAN at 32 px (DCGAN generator, projection discriminator with spectral norm, hinge loss plus a
squared-error term) reached 0.35 after 3,000 steps and 5 minutes. So the generator is a latent diffusion model
(Rombach et al. 2022; DALL-E 2's decoder conditions on a CLIP embedding the same way), in two stages:

1. :class:`c3lib.autoencoder.ImageAutoencoder`, one per space, shared by every variant and seed.
2. :class:`EmbeddingGenerator`: a conditional denoiser of the (scaled) latents (:class:`LatentDenoiser`, 3x3
   convolutions over the latent maps), trained by v-prediction under ``diffusers``' cosine ``DDPMScheduler`` and
   sampled by its ``DDIMScheduler`` in ``sample_steps`` steps, with classifier-free guidance (the condition is
   dropped for ``cond_drop`` of the training rows; at sampling ``uncond + guidance (cond - uncond)``). The
   condition of a training row is the image's own embedding passed through the caller's training transform
   (C3's, or LAFITE's perturbation); the sampler draws one scene per condition, not their mean. The EMA of the
   denoiser's weights (``torch.optim.swa_utils``) is what samples.

Sizes per preset are :data:`c3lib.autoencoder.AE_SIZES` and :data:`SIZES`. The default steps and guidance were
chosen on validation scenes (``benchmarks/choose_generator.py``: supervised attribute accuracy 0.47 at 3,000
steps, 0.56 at 6,000, both best at guidance 3; 3,000 because 6,000 doubles the chapter's time), never on the
chapter's test prompts. Both stages run on ``device`` (``auto``: the GPU when present).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from c3lib import devices
from c3lib.autoencoder import ImageAutoencoder, batches, read_module, write_module
from c3lib.checks import AT_LEAST_1, NONNEG, POSITIVE, Range, number
from c3lib.progress import progress as bar

PREDICTION = "v_prediction"  # the denoiser predicts v = alpha eps - sigma x0 (stable at every noise level)
TRAIN_TIMESTEPS = 1000
BETA_SCHEDULE = "squaredcos_cap_v2"  # the cosine schedule (Nichol & Dhariwal 2021)


@dataclass(frozen=True)
class GeneratorConfig:
    cond_dim: int = 64  # width of the conditioning embedding
    hidden: int = 64  # channels of the denoiser's residual blocks (a multiple of 8)
    blocks: int = 3  # residual blocks
    num_steps: int = 3000  # optimiser steps
    batch_size: int = 128  # latents per step
    lr: float = 1e-3  # AdamW: linear warm-up over 5 % of the steps, then cosine decay to 0
    ema_decay: float = 0.995  # EMA of the weights; the EMA denoiser samples
    cond_drop: float = 0.1  # share of training rows whose condition is dropped (classifier-free guidance)
    guidance: float = 3.0  # classifier-free guidance scale at sampling (1: none)
    sample_steps: int = 25  # DDIM steps per sample
    seed: int = 0  # weight init, batch order and noise

    def __post_init__(self):
        for name in ("cond_dim", "hidden", "blocks", "num_steps", "batch_size", "sample_steps"):
            number(f"generator {name}", getattr(self, name), AT_LEAST_1, integer=True)
        number("generator lr", self.lr, POSITIVE)
        number("generator ema_decay", self.ema_decay, Range(0, 1, high_open=True))
        number("generator cond_drop", self.cond_drop, Range(0, 1, high_open=True))
        number("generator guidance", self.guidance, POSITIVE)
        number("generator seed", self.seed, NONNEG, integer=True)
        if self.sample_steps > TRAIN_TIMESTEPS:
            raise ValueError(f"generator sample_steps {self.sample_steps} exceeds the {TRAIN_TIMESTEPS} training steps")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SIZES = {  # preset -> GeneratorConfig fields (cond_dim comes from the space)
    "smoke": dict(hidden=16, blocks=1, num_steps=60, batch_size=32, sample_steps=5),
    "default": dict(hidden=64, blocks=3, num_steps=3000, batch_size=128, sample_steps=25),
    "paper": dict(hidden=256, blocks=6, num_steps=50_000, batch_size=256, sample_steps=50),
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


class LatentDenoiser(nn.Module):
    """``(z_t (b, latent_dim), t (b,), cond (b, cond_dim)) -> v (b, latent_dim)``: residual blocks of 3x3
    convolutions over the latent's maps (weights shared across positions, so a shape learnt in one place is
    drawn in another), each block's normalised activations scaled and shifted by the sum of a timestep and a
    condition embedding (a zero condition: unconditional)."""

    def __init__(self, latent_shape: tuple[int, int, int], cfg: GeneratorConfig):
        super().__init__()
        c, h = latent_shape[0], cfg.hidden
        if h % 8:
            raise ValueError(f"generator hidden must be a multiple of 8 (group norm of 8 groups), got {h}")
        self.latent_shape = tuple(latent_shape)
        self.inp = nn.Conv2d(c, h, 3, padding=1)
        self.time = nn.Sequential(nn.Linear(128, 4 * h), nn.SiLU(), nn.Linear(4 * h, 4 * h))
        self.cond = nn.Sequential(nn.Linear(cfg.cond_dim, 4 * h), nn.SiLU(), nn.Linear(4 * h, 4 * h))
        self.norm1 = nn.ModuleList(nn.GroupNorm(8, h) for _ in range(cfg.blocks))
        self.conv1 = nn.ModuleList(nn.Conv2d(h, h, 3, padding=1) for _ in range(cfg.blocks))
        self.norm2 = nn.ModuleList(nn.GroupNorm(8, h) for _ in range(cfg.blocks))
        self.conv2 = nn.ModuleList(nn.Conv2d(h, h, 3, padding=1) for _ in range(cfg.blocks))
        self.modulation = nn.ModuleList(nn.Linear(4 * h, 2 * h) for _ in range(cfg.blocks))
        self.out = nn.Sequential(nn.GroupNorm(8, h), nn.SiLU(), nn.Conv2d(h, c, 3, padding=1))
        self.register_buffer("freqs", torch.exp(-math.log(10_000) * torch.arange(64) / 64), persistent=False)

    def forward(self, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        angle = t.float()[:, None] * self.freqs[None]
        e = F.silu(self.time(torch.cat([angle.sin(), angle.cos()], 1)) + self.cond(cond))  # [b, 4h]
        x = self.inp(z.view(len(z), *self.latent_shape))  # [b, h, s, s]
        for n1, c1, n2, c2, mod in zip(self.norm1, self.conv1, self.norm2, self.conv2, self.modulation):
            scale, shift = mod(e)[:, :, None, None].chunk(2, 1)
            y = c1(F.silu(n1(x)))
            x = x + c2(F.silu(n2(y) * (1 + scale) + shift))
        return self.out(x).flatten(1)


def _warmup_cosine(steps: int) -> Callable[[int], float]:
    """The learning-rate factor at a step: linear warm-up over 5 % of ``steps`` (at least one), cosine to 0."""
    warm = max(1, round(0.05 * steps))
    return lambda k: (k + 1) / warm if k < warm else 0.5 * (1 + math.cos(math.pi * (k - warm) / max(1, steps - warm)))


def _schedulers(sample_steps: int):
    from diffusers import DDIMScheduler, DDPMScheduler

    kw = dict(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule=BETA_SCHEDULE, prediction_type=PREDICTION)
    ddim = DDIMScheduler(**kw, clip_sample=False)
    ddim.set_timesteps(sample_steps)
    return DDPMScheduler(**kw), ddim


class EmbeddingGenerator:
    """Embedding ``(n, cond_dim)`` -> image ``(n, 3, S, S)`` in [0, 1]: a conditional latent denoiser sampled by
    DDIM, decoded by its (shared, already trained) :class:`ImageAutoencoder`."""

    def __init__(self, cfg: GeneratorConfig, autoencoder: ImageAutoencoder):
        self.cfg, self.autoencoder = cfg, autoencoder
        self.denoiser = LatentDenoiser(autoencoder.cfg.latent_shape, cfg)
        self.scale = 1.0  # latents are divided by it for the diffusion (their std over the training set)
        self.history: dict = {}

    def fit(self, emb: np.ndarray, latents: torch.Tensor, train_transform: Callable[[np.ndarray], np.ndarray],
            device: str = "auto", progress: bool = False) -> "EmbeddingGenerator":
        """Train on the autoencoder's ``latents`` ``(n, latent_dim)`` of the training images, each conditioned on
        ``train_transform(emb[batch])`` (a fresh draw per batch), on ``device``."""
        cfg = self.cfg
        emb = check_embeddings(emb, cfg.cond_dim, "training embeddings").numpy()
        latents = torch.as_tensor(latents).float()
        if latents.ndim != 2 or latents.shape[1] != self.autoencoder.cfg.latent_dim:
            raise ValueError(f"latents: expected (n, {self.autoencoder.cfg.latent_dim}) from the autoencoder, got "
                             f"shape {tuple(latents.shape)}")
        if len(emb) != len(latents):
            raise ValueError(f"{len(emb)} embeddings but {len(latents)} latents: they must be paired")
        torch.manual_seed(cfg.seed)
        self.denoiser = LatentDenoiser(self.autoencoder.cfg.latent_shape, cfg)  # seeded init
        self.scale = float(latents.std())
        x0_all = latents / self.scale
        dev = devices.resolve(device)
        net = self.denoiser.to(dev).train()
        ddpm, _ = _schedulers(cfg.sample_steps)
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_cosine(cfg.num_steps))
        swa = torch.optim.swa_utils
        ema = swa.AveragedModel(net, multi_avg_fn=swa.get_ema_multi_avg_fn(cfg.ema_decay))
        gen, losses, t0 = torch.Generator().manual_seed(cfg.seed), [], time.perf_counter()
        for idx in bar(batches(len(emb), cfg.batch_size, cfg.num_steps, gen), total=cfg.num_steps,
                       desc="denoiser", disable=not progress):
            cond = check_embeddings(train_transform(emb[idx.numpy()]), cfg.cond_dim, "transformed embeddings")
            keep = (torch.rand(len(idx), 1, generator=gen) >= cfg.cond_drop).float()
            x0 = x0_all[idx]
            noise = torch.randn(x0.shape, generator=gen)
            t = torch.randint(0, TRAIN_TIMESTEPS, (len(idx),), generator=gen)
            xt, target = ddpm.add_noise(x0, noise, t), ddpm.get_velocity(x0, noise, t)
            loss = F.mse_loss(net(xt.to(dev), t.to(dev), (cond * keep).to(dev)), target.to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ema.update_parameters(net)
            losses.append(loss.item())
        self.denoiser = ema.module.eval()
        secs = time.perf_counter() - t0
        self.history = {"loss": losses, "seconds": secs, "latents_per_s": cfg.num_steps * cfg.batch_size / secs}
        return self

    @torch.inference_mode()
    def sample_latents(self, cond: np.ndarray | torch.Tensor, seed: int = 0, guidance: float | None = None,
                       batch_size: int = 512) -> torch.Tensor:
        """Flat latents ``(n, latent_dim)``: DDIM from seeded noise, guided by ``guidance`` (the config's when
        None); the same seed gives the same draw."""
        cfg = self.cfg
        cond = check_embeddings(cond, cfg.cond_dim, "conditioning embeddings")
        scale = cfg.guidance if guidance is None else guidance
        net = self.denoiser.eval()
        dev = next(net.parameters()).device
        _, ddim = _schedulers(cfg.sample_steps)
        noise = torch.randn(len(cond), self.autoencoder.cfg.latent_dim, generator=torch.Generator().manual_seed(seed))
        out = []
        for i in range(0, len(cond), batch_size):
            z, c = noise[i:i + batch_size].to(dev), cond[i:i + batch_size].to(dev)
            for t in ddim.timesteps:
                tt = torch.full((len(z),), int(t), device=dev)
                v = net(z, tt, c)
                if scale != 1:
                    v_free = net(z, tt, torch.zeros_like(c))
                    v = v_free + scale * (v - v_free)
                z = ddim.step(v, t, z).prev_sample
            out.append(z.cpu() * self.scale)
        return torch.cat(out)

    def sample(self, cond: np.ndarray | torch.Tensor, seed: int = 0, guidance: float | None = None) -> torch.Tensor:
        """Images ``(n, 3, S, S)`` in [0, 1] from conditioning embeddings ``(n, cond_dim)``: one scene each."""
        return self.autoencoder.images(self.sample_latents(cond, seed, guidance))

    # --- the run store's write / read (the autoencoder is a run of its own) ---
    def write(self, folder: Path) -> None:
        meta = {"config": self.cfg.to_dict(), "scale": self.scale, "history": self.history,
                "latent_dim": self.autoencoder.cfg.latent_dim}
        write_module(folder, self.denoiser, meta, "denoiser")

    @classmethod
    def read(cls, folder: Path, autoencoder: ImageAutoencoder) -> "EmbeddingGenerator":
        meta, state = read_module(folder, "denoiser")
        if meta["latent_dim"] != autoencoder.cfg.latent_dim:
            raise ValueError(f"{folder}: the denoiser was trained on {meta['latent_dim']}-d latents but the "
                             f"autoencoder gives {autoencoder.cfg.latent_dim}-d ones; retrain it (delete the folder)")
        model = cls(GeneratorConfig(**meta["config"]), autoencoder)
        model.denoiser.load_state_dict(state)
        model.denoiser.eval()
        model.scale, model.history = float(meta["scale"]), meta["history"]
        return model
