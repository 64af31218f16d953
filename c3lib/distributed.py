"""Data-parallel training under ``torchrun``: ``torch.distributed`` and ``DistributedDataParallel``.

Nothing here is an engine of its own: ``init`` opens the process group ``torchrun`` describes in the
environment (NCCL on GPUs, gloo on CPUs), ``wrap`` puts a model in DDP (which averages gradients across
ranks), and the training loop (:func:`c3lib.trainer.train_loop`) gives each rank its share of every *global*
batch. With one process (no ``torchrun``) every function is the identity, so single-process numbers are exactly
those of the code without this module.

    torchrun --nproc-per-node 8 -m c3lib.train_ddp decoders --preset paper
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Iterator

import numpy as np
import torch
from torch import nn


@dataclasses.dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    device: str = "cpu"


def current() -> Dist:
    """This process's rank and the world size (``Dist()`` outside an initialised process group)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return Dist()
    device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    return Dist(torch.distributed.get_rank(), torch.distributed.get_world_size(), device)


def init() -> Dist:
    """Open the process group that ``torchrun``'s variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``...) describe; one GPU per process, deterministic CUDA kernels where torch has them."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    return current()


class LossOf(nn.Module):
    """``model.loss(*args)`` as a forward pass, so DDP sees it (DDP syncs gradients of ``forward`` only)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *args):
        return self.model.loss(*args)


def wrap(model: nn.Module, d: Dist) -> nn.Module:
    """``model`` in DistributedDataParallel when there are several ranks, else ``model`` itself."""
    if d.world == 1:
        return model
    ids = [torch.device(d.device).index] if d.device.startswith("cuda") else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def shard(idx: np.ndarray, d: Dist) -> np.ndarray:
    """This rank's contiguous part of a global batch ``idx`` (parts differ in size by at most one)."""
    return idx if d.world == 1 else np.array_split(idx, d.world)[d.rank]


def all_sum(value: float, d: Dist) -> float:
    """The sum of ``value`` over the ranks."""
    if d.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=d.device)
    torch.distributed.all_reduce(t)
    return float(t.item())


def autocast(device: str):
    """bf16 autocast on a GPU that supports it; no change elsewhere (CPU runs stay in fp32)."""
    if str(device).startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def barrier(d: Dist | None = None) -> None:
    if (d or current()).world > 1:
        torch.distributed.barrier()


@contextlib.contextmanager
def rank_zero_first() -> Iterator[None]:
    """Rank 0 runs the body first (e.g. fills the embedding cache), the other ranks after it (and read the
    cache rank 0 wrote): an embedding cache is computed once and shared."""
    d = current()
    if d.rank != 0:
        barrier(d)
    yield
    if d.rank == 0:
        barrier(d)
