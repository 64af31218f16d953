"""Connect: contrastive training of two towers with the symmetric CLIP loss and a learnable temperature.

:func:`train_pair` checkpoints after every epoch (weights in safetensors, optimizer state and history read
back with ``torch.load(weights_only=True)``, written as one unit with a manifest of SHA-256s, see
:func:`save_checkpoint`) and resumes from the last checkpoint:
shuffling draws from a generator seeded by (seed, epoch), so an interrupted run that resumes ends at
exactly the numbers of an uninterrupted one.

With a ``validate`` function (a held-out retrieval score, higher is better) and ``spec.patience``, training
stops when the score has not improved for ``patience`` epochs and the model ends at its best epoch's weights
(CLIP's recipe: stop on validation, not at zero training loss).
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from c3lib import devices, resume, runstore
from c3lib.cache import content_digest, key_of
from c3lib.checks import AT_LEAST_1, AT_LEAST_2, NONNEG, POSITIVE, number


@dataclass(frozen=True)
class TrainSpec:
    num_epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.01
    init_temperature: float = 0.07  # CLIP's initial tau; the temperature is learned from there
    seed: int = 0
    max_logit_scale: float = 100.0  # CLIP clamps the learned logit scale 1/tau at 100 (tau >= 0.01)
    patience: int = 0  # with a validation score: epochs without improvement before stopping (0: never stop)
    decay_gains: bool = True  # False as CLIP: no weight decay on biases, LayerNorm gains and the logit scale
    device: str = "auto"  # where the towers train; "auto" resolves at construction (c3lib.devices)

    def __post_init__(self):
        object.__setattr__(self, "device", devices.resolve(self.device))  # frozen: set once
        if not 0 < self.init_temperature <= 1 or self.max_logit_scale < 1 or self.patience < 0:
            raise ValueError(f"need 0 < init_temperature <= 1, max_logit_scale >= 1, patience >= 0: {self}")
        if 1 / self.init_temperature > self.max_logit_scale * (1 + 1e-6):
            raise ValueError(f"init_temperature {self.init_temperature} is below the clamp's "
                             f"1/max_logit_scale = {1 / self.max_logit_scale}")

    def key_settings(self) -> dict:
        """The settings a stored run's key hashes: every field, but ``device`` only off the CPU (runs stored
        before the device was a setting keep their keys)."""
        return {k: v for k, v in asdict(self).items() if k != "device" or v != "cpu"}


class PairModel(nn.Module):
    """Two towers and CLIP's learnable logit scale (log 1/tau, clamped at log 100)."""

    def __init__(self, tower_a: nn.Module, tower_b: nn.Module, init_temperature: float = 0.07,
                 max_logit_scale: float = 100.0):
        super().__init__()
        self.tower_a, self.tower_b = tower_a, tower_b
        self.max_log_scale = math.log(max_logit_scale)
        self.logit_scale = nn.Parameter(torch.tensor(min(math.log(1 / init_temperature), self.max_log_scale)))

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def temperature(self) -> float:
        return float(1 / self.scale().detach())

    def loss(self, xa: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        return clip_loss(self.tower_a(xa), self.tower_b(xb), self.scale())


def clip_loss(za: torch.Tensor, zb: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of pairs ``za[i] <-> zb[i]``, each ``(b, d)``, normalised here."""
    logits = scale * F.normalize(za, dim=-1) @ F.normalize(zb, dim=-1).T  # [b, b]
    target = torch.arange(len(za), device=za.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _pick(xb: torch.Tensor, multi_b: bool, gen: torch.Generator) -> torch.Tensor:
    """With several partners per item (``(n, k, ...)``), draw one per item for this epoch."""
    if not multi_b:
        return xb
    choice = torch.randint(0, xb.shape[1], (xb.shape[0],), generator=gen)
    return xb[torch.arange(xb.shape[0]), choice]


def check_spec(spec: TrainSpec, n: int | None = None) -> None:
    """Refuse settings that would train nothing or train to NaN; ``n``: the number of training pairs."""
    number("num_epochs", spec.num_epochs, AT_LEAST_1, integer=True)
    number("batch_size", spec.batch_size, AT_LEAST_2, integer=True)  # one pair alone has no negative
    number("lr", spec.lr, POSITIVE)
    number("weight_decay", spec.weight_decay, NONNEG)
    number("init_temperature", spec.init_temperature, POSITIVE)
    number("seed", spec.seed, NONNEG, integer=True)
    if n is not None and spec.batch_size > n:
        raise ValueError(f"batch_size={spec.batch_size} is larger than the {n} training pairs: no full batch, so "
                         f"no training step would be taken; use batch_size <= {n}")


def _optimizer(model: nn.Module, spec: TrainSpec) -> torch.optim.AdamW:
    """AdamW; with ``decay_gains=False`` (CLIP) biases, gains (1-d parameters) and the logit scale get none."""
    if spec.decay_gains:
        return torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": spec.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=spec.lr)


def train_pair(model: PairModel, xa: torch.Tensor, xb: torch.Tensor, spec: TrainSpec, ckpt_dir: Path | None = None,
               multi_b: bool = False, stop_after_epoch: int | None = None, progress: bool = True,
               after_epoch: Callable[[int, PairModel], None] | None = None,
               validate: Callable[[PairModel], float] | None = None,
               track: Callable[[PairModel], dict[str, float]] | None = None) -> dict:
    """Train ``model`` on pairs ``(xa[i], xb[i])``; return the history (loss, temperature, validation score).

    ``validate(model)`` scores held-out pairs after each epoch (higher is better); the model ends at the
    weights of its best epoch, and with ``spec.patience`` training stops ``patience`` epochs after it.
    ``stop_after_epoch`` ends the run early (to test resuming); a later call with the same ``ckpt_dir``
    continues from the last completed epoch. ``after_epoch(epoch, model)`` is called after each epoch (with
    the model in eval mode), e.g. to select an epoch on validation data. A loss that becomes NaN or infinite
    stops training with an error (nothing is saved for that epoch). ``track(model)`` measures the model after
    each epoch (e.g. its gap on held-out pairs); its numbers go to ``history["track"]``, one list per name.
    """
    from safetensors.torch import load_file
    from tqdm.auto import tqdm

    check_spec(spec)
    if len(xa) != len(xb):
        raise ValueError(f"xa has {len(xa)} rows but xb has {len(xb)}: pairs need one row each")
    model.to(spec.device)  # back on the CPU at the end, where the callers use it
    opt = _optimizer(model, spec)
    history = {"loss": [], "temperature": [], "val": [], "best_epoch": -1, "stopped_early": False}
    best_state = None
    start = 0
    key = checkpoint_key(spec, xa, xb, multi_b) if ckpt_dir is not None else ""
    state = load_checkpoint(model, Path(ckpt_dir), key) if ckpt_dir is not None else None
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        history, start = {**history, **state["history"]}, state["epoch"] + 1
        if "torch_rng" in state:  # dropout draws from torch's global generator
            torch.set_rng_state(state["torch_rng"])
        if history["best_epoch"] >= 0:
            best_state = load_file(str(Path(ckpt_dir) / BEST_FILE))
    n = len(xa)
    if start < spec.num_epochs:
        check_spec(spec, n)
        if xa.is_floating_point() and not torch.isfinite(xa).all():
            raise ValueError("xa contains NaN or infinite values")
    for epoch in tqdm(range(start, spec.num_epochs), desc="epochs", disable=not progress,
                      initial=start, total=spec.num_epochs):
        if history["stopped_early"]:
            break
        gen = torch.Generator().manual_seed(spec.seed * 100_003 + epoch)
        xb_epoch = _pick(xb, multi_b, gen)
        perm = torch.randperm(n, generator=gen)
        model.train()
        losses = []
        for i in range(0, n - spec.batch_size + 1, spec.batch_size):  # drop the ragged last batch
            idx = perm[i:i + spec.batch_size]
            loss = model.loss(xa[idx].to(spec.device), xb_epoch[idx].to(spec.device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the contrastive loss became {loss.item()} at epoch {epoch}, step "
                                         f"{i // spec.batch_size}: training diverged (lr={spec.lr}); lower lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history["loss"].append(float(np.mean(losses)))
        history["temperature"].append(model.temperature())
        if not math.isfinite(history["temperature"][-1]):
            raise FloatingPointError(f"the temperature became {history['temperature'][-1]} at epoch {epoch}: "
                                     f"training diverged (lr={spec.lr}); lower lr")
        if track is not None:
            model.eval()
            for name, value in track(model).items():
                history.setdefault("track", {}).setdefault(name, []).append(float(value))
        if validate is not None:
            history["val"].append(float(validate(model)))
            if history["best_epoch"] < 0 or history["val"][-1] > max(history["val"][:-1], default=-math.inf):
                history["best_epoch"] = epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            history["stopped_early"] = spec.patience > 0 and epoch - history["best_epoch"] >= spec.patience
        if ckpt_dir is not None:
            save_checkpoint(model, opt, epoch, history, Path(ckpt_dir), spec, key,
                            best_state if history["best_epoch"] == epoch else None)
        if after_epoch is not None:
            model.eval()
            after_epoch(epoch, model)
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to("cpu").eval()
    return history


CHECKPOINT_FILES = ("model.safetensors", "state.pt", "spec.json")
BEST_FILE = "best.safetensors"  # the best epoch's weights (with a validation score); carried over until beaten


def checkpoint_key(spec: TrainSpec, xa: torch.Tensor, xb: torch.Tensor, multi_b: bool) -> str:
    """What a checkpoint depends on: every setting and every byte of the training pairs."""
    settings = {k: v for k, v in spec.key_settings().items() if k not in _LATER_FIELDS or v != _LATER_FIELDS[k]}
    return key_of({"checkpoint": "contrastive", "spec": settings, "multi_b": multi_b,
                   "data": content_digest([xa, xb])})


# settings added after checkpoints existed: they enter the key only when set, so those checkpoints stay valid
_LATER_FIELDS = {"max_logit_scale": 100.0, "patience": 0, "decay_gains": True}


def load_checkpoint(model: nn.Module, folder: Path, key: str) -> dict | None:
    """Load the checkpoint in ``folder`` into ``model`` -> its state (optimizer, epoch, history), or ``None``
    to start afresh. A checkpoint is a unit sealed by a manifest (:func:`c3lib.runstore.check_run`): a
    missing, truncated or changed file means training restarts from epoch 0, with one warning naming it;
    other training data or settings (another ``key``) restart it silently.
    A folder written before checkpoints had manifests is loaded as it is."""
    from safetensors.torch import load_file

    if not (folder / "state.pt").exists() and not (folder / runstore.MANIFEST).exists():
        return None
    why = runstore.check_run(folder, key) if (folder / runstore.MANIFEST).exists() else None
    if why is None:
        try:
            state = torch.load(folder / "state.pt", weights_only=True)
            if not isinstance(state, dict):
                raise ValueError(f"state.pt holds a {type(state).__name__}, not a checkpoint")
            model.load_state_dict(load_file(str(folder / "model.safetensors")))
            return state
        except resume.UNREADABLE as err:
            why = f"it could not be read ({type(err).__name__}: {str(err)[:200]})"
    if why != "its settings changed":
        warnings.warn(f"restarting the training checkpointed in {folder} from epoch 0: {why}", RuntimeWarning,
                      stacklevel=3)
    return None


def save_checkpoint(model: nn.Module, opt, epoch: int, history: dict, folder: Path, spec: TrainSpec,
                    key: str, best: dict | None = None) -> None:
    """Write weights, optimizer state and history as one unit (a folder renamed into place with a manifest
    of SHA-256s); other files the caller keeps in ``folder`` (e.g. ``vocab.json``, the best epoch's weights)
    are carried over. ``best``: new best-epoch weights, written in the same unit as the state naming them."""
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        if folder.exists():
            for p in folder.iterdir():
                if p.is_file() and p.name not in CHECKPOINT_FILES + (runstore.MANIFEST,):
                    shutil.copy2(p, tmp / p.name)
        save_file({k: v.cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        if best is not None:
            save_file({k: v.cpu().contiguous() for k, v in best.items()}, str(tmp / BEST_FILE))
        torch.save({"optimizer": opt.state_dict(), "epoch": epoch, "history": history,
                    "torch_rng": torch.get_rng_state()}, tmp / "state.pt")
        (tmp / "spec.json").write_text(json.dumps(spec.key_settings(), indent=1))

    runstore.save_run(folder, key, write, {"epoch": epoch})


@torch.inference_mode()
def embed(tower: nn.Module, x: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Embeddings ``(n, dim)`` float32 of a tower in eval mode (unnormalised), computed on the tower's device."""
    tower.eval()
    dev = next(tower.parameters(), torch.empty(0)).device  # a parameter-free tower (nn.Identity) stays put
    return torch.cat([tower(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]).float().numpy()


def pair_embeddings(model: PairModel, data: dict) -> tuple[np.ndarray, np.ndarray]:
    """Paired embeddings ``(n, d)`` each of ``data`` (``a``, ``b``; ``b`` of shape ``(n, k, ...)`` with
    ``multi_b``): a's items and b's first partner."""
    zb_all = data["b"]
    return embed(model.tower_a, data["a"]), embed(model.tower_b, zb_all[:, 0] if data["multi_b"] else zb_all)


def validation_score(val: dict) -> Callable[[PairModel], float]:
    """The one stopping (and choosing) score of every space: the mean of R@1, R@5 and R@10 both ways on
    held-out pairs ``val`` (the "R-sum" of retrieval papers, divided by 6), never on items chapters score on."""
    def score(model: PairModel) -> float:
        r = retrieval_recall(*pair_embeddings(model, val))
        return float(np.mean([r[f"{d}_R@{k}"] for d in ("a2b", "b2a") for k in (1, 5, 10)]))
    return score


def retrieval_recall(za: np.ndarray, zb: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    """Recall@k both ways for paired rows ``za[i] <-> zb[i]`` by cosine similarity; chance is k / n."""
    a = za / np.linalg.norm(za, axis=1, keepdims=True)
    b = zb / np.linalg.norm(zb, axis=1, keepdims=True)
    sim = a @ b.T  # [n, n]
    diag = np.diag(sim)[:, None]
    rank_ab = (sim >= diag).sum(1) - 1  # candidates that beat or tie the true partner (ties count against)
    rank_ba = (sim.T >= diag).sum(1) - 1
    out = {}
    for k in ks:
        out[f"a2b_R@{k}"] = float((rank_ab < k).mean())
        out[f"b2a_R@{k}"] = float((rank_ba < k).mean())
        out[f"chance_R@{k}"] = k / len(a)
    return out
