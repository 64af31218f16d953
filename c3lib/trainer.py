"""Train a ClipCap captioner on one modality's embeddings (text reconstruction; paper section 5.1).

Each caption's embedding (cached once, ``(n, d)``) goes through the C3 transform as a *training* input
(fresh seeded noise every epoch) and the decoder learns to reconstruct the caption. Early stopping on the
validation text loss (validation inputs transformed the same way, with the noise of a fixed generator).
Padding waste is removed by bucketing: batches are drawn from length-sorted chunks of the shuffled data,
each padded only to its own longest caption.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from sklearn.base import clone

from c3lib import devices, distributed, resume
from c3lib.captioner import LMS, MAX_TOKENS, Captioner, CaptionerSpec, ClipCap
from c3lib.checks import AT_LEAST_1, POSITIVE, text_list
from c3lib.config import check_config
from c3lib.tokenizer import CaptionTokenizer
from c3lib.transform import C3Transform

SCHEDULES = ("linear", "constant")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Decoder training settings. ``PRESETS`` hold the captioning decoder every chapter nests in its config
    (``paper``: ClipCap's recipe, GPT-2 fine-tuned, lr 2e-5, batch 40, 10 epochs, 5k warmup); the dataclass
    defaults are a plain starting point for direct use."""

    lm: str = "small"  # small | gpt2 | smollm2 (each with its own tokenizer; small: word-level, learnt here)
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    prefix_len: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    num_epochs: int = 10
    warmup_steps: int = 100
    schedule: str = "linear"  # after warmup: linear decay to 0 at num_epochs (ClipCap) | constant
    patience: int = 2  # epochs without validation improvement before stopping
    min_word_freq: int = 1  # word-level tokenizer: rarer words map to <unk> (a smaller, better-trained softmax)
    weight_decay: float = 0.01
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N; "auto" resolves at construction (c3lib.devices)
    precision: str = "fp32"  # fp32 | bf16: matrix products in bfloat16 autocast on a CPU too (GPUs: always bf16)

    RANGES: ClassVar[dict] = {**dict.fromkeys(("n_layer", "n_embd", "n_head", "prefix_len", "batch_size", "num_epochs",
                                               "patience", "min_word_freq"), AT_LEAST_1), "lr": POSITIVE}
    CHOICES: ClassVar[dict] = {"lm": LMS, "schedule": SCHEDULES, "precision": ("fp32", "bf16")}
    PRESETS: ClassVar[dict] = {
        # smoke: fp32, so that a smoke chapter gives the same bits at 1 and 2 threads and under torchrun
        "smoke": {"n_layer": 1, "n_embd": 64, "lr": 3e-3, "num_epochs": 2, "warmup_steps": 50, "min_word_freq": 5,
                  "schedule": "constant"},
        # default: a 2-layer, 128-wide GPT-2 from scratch; lr 3e-3 and rare words to <unk> (val loss 3.67 -> 2.77);
        # the rate held after warmup, so the validation loss ends training (the epoch count is only a ceiling);
        # bf16 autocast (about 2x the fp32 speed on a CPU with AVX-512 bf16)
        "default": {"lr": 3e-3, "num_epochs": 40, "warmup_steps": 50, "min_word_freq": 5, "schedule": "constant",
                    "patience": 3, "precision": "bf16"},
        "paper": {"lm": "gpt2", "lr": 2e-5, "batch_size": 40, "num_epochs": 10, "warmup_steps": 5000,
                  "min_word_freq": 5},
    }

    def __post_init__(self):
        object.__setattr__(self, "device", devices.resolve(self.device))  # frozen: set once, at construction


def encode_captions(tok: CaptionTokenizer, captions: Sequence[str]) -> list[list[int]]:
    """Token ids per caption (ending in EOS), truncated to ``MAX_TOKENS``."""
    return [tok.encode(c)[:MAX_TOKENS] for c in captions]


def bucket_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, chunk: int = 50
                   ) -> list[np.ndarray]:
    """Shuffle, sort chunks of ``batch_size * chunk`` items by length, cut into batches, shuffle batches."""
    order = rng.permutation(len(lengths))
    batches = []
    for s in range(0, len(order), batch_size * chunk):
        part = order[s:s + batch_size * chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def collate(ids: list[list[int]], idx: np.ndarray, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad ``ids[idx]`` to the batch's own longest -> ``tokens (B, T)``, ``mask (B, T)``."""
    T = max(len(ids[i]) for i in idx)
    tokens = torch.full((len(idx), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), T), dtype=torch.long)
    for r, i in enumerate(idx):
        tokens[r, :len(ids[i])] = torch.tensor(ids[i])
        mask[r, :len(ids[i])] = 1
    return tokens, mask


def _schedule(opt, warmup: int, total: int, kind: str = "linear"):
    """Linear warmup to ``lr``, then linear decay to 0 at step ``total`` (``linear``: the official code's
    ``get_linear_schedule_with_warmup``) or ``lr`` held (``constant``: the rate does not depend on the epoch
    cap, so the validation loss, not the cap, ends training)."""
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 1.0 if kind == "constant" else max(0.0, (total - step) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(opt, f)


def autocast(cfg: TrainConfig):
    """bf16 autocast where ``cfg`` asks for it on a CPU; on a GPU as :func:`c3lib.distributed.autocast` decides."""
    if cfg.precision == "bf16" and str(cfg.device) == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return distributed.autocast(cfg.device)


@torch.no_grad()
def text_loss(model: ClipCap, emb: torch.Tensor, ids: list[list[int]], pad_id: int, batch_size: int,
              cfg: TrainConfig | None = None) -> float:
    """Mean per-token validation loss of transformed embeddings ``emb`` (n, d) (in ``cfg``'s precision)."""
    model.eval()
    total, count = 0.0, 0
    for s in range(0, len(ids), batch_size):
        idx = np.arange(s, min(s + batch_size, len(ids)))
        tokens, mask = collate(ids, idx, pad_id)
        n_tok = int(mask.sum())
        with autocast(cfg) if cfg is not None else contextlib.nullcontext():
            loss = model.loss(emb[idx], tokens.to(emb.device), mask.to(emb.device))
        total += float(loss) * n_tok
        count += n_tok
    return total / count


def fit_captioner(train_emb: np.ndarray, train_captions: Sequence[str], transform: C3Transform,
                  cfg: TrainConfig, val_emb: np.ndarray | None = None, val_captions: Sequence[str] | None = None,
                  target_emb: np.ndarray | None = None, tokenizer: CaptionTokenizer | None = None,
                  log: list | None = None, resume_dir: Path | None = None, resume_key: str = "") -> Captioner:
    """Train on ``train_emb`` (n, d) -> ``train_captions``; ``transform`` is fitted here on
    ``(train_emb, target_emb)`` (unpaired target embeddings give the target mean for inference).

    Returns the captioner at its best validation epoch (training loss when no validation set).
    ``log`` (optional list) receives ``{"epoch", "train_loss", "val_loss"}`` dicts. With ``resume_dir``, a
    checkpoint is written there after every epoch (:mod:`c3lib.resume`, sealed with ``resume_key``, which must
    name everything the run depends on) and a killed run resumes from it to identical numbers.
    """
    check_config(cfg)
    train_captions = text_list("train_captions", train_captions)
    if len(train_emb) != len(train_captions):
        raise ValueError(f"need as many captions as embeddings, got {len(train_captions)} and {len(train_emb)}")
    _check_val(val_emb, val_captions, np.shape(train_emb)[1:])
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    transform = clone(transform).set_params(seed=cfg.seed).fit(train_emb, target_emb)  # caller's stays unfitted
    tok = tokenizer or (CaptionTokenizer.gpt2(allow_download=True) if cfg.lm == "gpt2"
                        else CaptionTokenizer.smollm2() if cfg.lm == "smollm2"
                        else CaptionTokenizer.train_word_level(train_captions, min_freq=cfg.min_word_freq))
    ids = encode_captions(tok, train_captions)
    spec = CaptionerSpec(d_in=train_emb.shape[1], prefix_len=cfg.prefix_len, lm=cfg.lm, n_layer=cfg.n_layer,
                         n_embd=cfg.n_embd, n_head=cfg.n_head, vocab_size=tok.vocab_size, tokenizer=tok.kind)
    model = ClipCap(spec).to(cfg.device)
    val = None
    if val_emb is not None and val_captions is not None and len(val_captions):
        state = transform.state()
        val_t = C3Transform.from_state({**state, "params": {**state["params"], "seed": cfg.seed + 1}})
        val = (val_t.transform(val_emb), encode_captions(tok, val_captions))
    train_loop(model, lambda: transform.transform(train_emb), ids, tok.pad_id, cfg, rng, val, log,
               resume_dir, resume_key, extra_rngs=[transform._rng])
    return Captioner(model, tok, transform)


def _check_val(val_emb, val_captions, shape: tuple) -> None:
    """Validation embeddings and captions come in pairs, with the training embeddings' width."""
    if val_emb is None or val_captions is None:
        return
    if len(val_emb) != len(val_captions):
        raise ValueError(f"need as many validation captions as validation embeddings: val_emb has {len(val_emb)} "
                         f"rows, val_captions {len(val_captions)}")
    if len(val_emb) and np.shape(val_emb)[1:] != shape:
        raise ValueError(f"val_emb rows have shape {np.shape(val_emb)[1:]}, the training embeddings {shape}")


def train_loop(model: ClipCap, inputs, ids: list[list[int]], pad_id: int, cfg: TrainConfig,
               rng: np.random.Generator, val: tuple[np.ndarray, list[list[int]]] | None = None,
               log: list | None = None, resume_dir: Path | None = None, resume_key: str = "",
               extra_rngs: Sequence[np.random.Generator] = ()) -> ClipCap:
    """AdamW with linear warmup/decay, bucketed batches, early stopping; ``inputs()`` gives this epoch's
    transformed inputs ``(n, d)`` (called once per epoch: fresh noise). Leaves ``model`` at its best epoch.

    With ``resume_dir`` the loop checkpoints after every epoch (model, optimiser, scheduler, early-stopping
    state, log, and the generators: torch's, ``rng`` and ``extra_rngs``, e.g. the transform's noise) and
    starts from the last checkpoint written for ``resume_key``. A non-finite loss stops with an error.

    Under ``torchrun`` (:mod:`c3lib.distributed`) every rank draws the same global batches and trains on its
    part of each in DDP; each rank's token-mean loss is weighted by its share of the batch's tokens, so the
    averaged gradient is that of the global batch and the loss curve is the single-process one."""
    d = distributed.current()
    net = distributed.wrap(distributed.LossOf(model), d)
    lengths = np.array([len(i) for i in ids])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
    sched = _schedule(opt, cfg.warmup_steps, steps_per_epoch * cfg.num_epochs, cfg.schedule)
    if val is not None:
        val = (torch.as_tensor(val[0], dtype=torch.float32, device=cfg.device), val[1])
    best, best_state, bad, first, done, history = math.inf, None, 0, 0, False, []
    rngs = [rng, *extra_rngs]
    saved = resume.load(resume_dir, resume_key)
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        resume.set_rng_states(saved["rngs"], rngs)
        best, best_state, bad, done, history = (saved[k] for k in ("best", "best_state", "bad", "done", "log"))
        first = saved["epoch"] + 1
    if log is not None:
        log.extend(history)
    for epoch in range(first, cfg.num_epochs):
        if done:
            break
        model.train()
        x = torch.as_tensor(inputs(), dtype=torch.float32, device=cfg.device)  # [n, d]
        tot = 0.0
        for idx in bucket_batches(lengths, cfg.batch_size, rng):
            part = distributed.shard(idx, d)  # this rank's rows of the global batch (all of it on one process)
            rows = part if len(part) else idx[:1]  # a rank left without rows still steps, with weight 0
            tokens, mask = collate(ids, rows, pad_id)
            with autocast(cfg):
                loss = net(x[rows], tokens.to(cfg.device), mask.to(cfg.device))
            if d.world > 1:  # weight: this rank's share of the batch's tokens, times world (DDP averages)
                loss = loss * (float(mask.sum()) * (len(part) > 0) / float(lengths[idx].sum()) * d.world)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the decoder's training loss became {loss.item()} at epoch {epoch}: "
                                         f"training diverged (lr={cfg.lr}); lower lr or check the inputs")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += (loss.item() / d.world if d.world > 1 else loss.item()) * len(idx)
        train_loss = distributed.all_sum(tot, d) / len(ids)
        val_loss = text_loss(model, val[0], val[1], pad_id, 256, cfg) if val else train_loss
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if log is not None:
            log.append(history[-1])
        if val_loss < best - 1e-4:
            best, best_state, bad = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            bad += 1
            done = bad >= cfg.patience
        if resume_dir is not None:
            resume.save(resume_dir, resume_key, {
                "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "rngs": resume.rng_states(rngs), "best": best,
                "best_state": best_state, "bad": bad, "done": done, "log": history})
    if best_state is None:
        raise FloatingPointError(f"the decoder's validation loss was never finite ({history[-1]['val_loss']}): "
                                 "check the validation embeddings and captions")
    model.load_state_dict(best_state)
    return model.eval()


def convergence(log: Sequence[dict], max_epochs: int) -> dict[str, Any]:
    """How a decoder's training ended: ``epochs`` run, ``best_epoch`` (0-based, the lowest validation loss: the one
    :func:`train_loop` kept, unless a later epoch beat it by less than its 1e-4 threshold), ``best_val_loss``,
    ``max_epochs`` (the ceiling) and ``stopped`` (the validation loss ended it before the ceiling). The loss is
    rounded to 4 decimals: its last bits depend on the thread count (a sum over a large tensor)."""
    best = min(range(len(log)), key=lambda i: log[i]["val_loss"])
    return {"epochs": len(log), "best_epoch": int(log[best]["epoch"]), "best_val_loss": round(log[best]["val_loss"], 4),
            "max_epochs": int(max_epochs), "stopped": len(log) < max_epochs}


def convergence_line(runs: Sequence[dict]) -> str:
    """One sentence on how the decoders of ``runs`` (rows with :func:`convergence`'s keys) ended training."""
    rows = [r for r in runs if "stopped" in r]
    if not rows:
        return "No decoder was trained here."
    stopped = sum(r["stopped"] for r in rows)
    best = [r["best_epoch"] + 1 for r in rows]
    return (f"{len(rows)} decoders; {stopped} of them stopped on their validation loss before the ceiling of "
            f"{max(r['max_epochs'] for r in rows)} epochs. Each keeps its best epoch: epoch {min(best)} to "
            f"{max(best)}, median {int(np.median(best))}.")


def finetune_captioner(captioner: Captioner, emb: np.ndarray, captions: Sequence[str], cfg: TrainConfig,
                       val_emb: np.ndarray | None = None, val_captions: Sequence[str] | None = None,
                       modality: str = "target", log: list | None = None) -> Captioner:
    """Fine-tune a trained captioner on paired ``emb`` (n, d) of ``modality`` (images: ``target``) and captions.

    Inputs go through the captioner's own fitted transform as inference inputs of that modality (normalise,
    collapse with that modality's mean; no noise), exactly as they are decoded at test time. Returns a new
    captioner; the given one is not modified.
    """
    check_config(cfg)
    if len(emb) != len(captions) or len(captions) == 0:
        raise ValueError(f"need as many captions as embeddings (> 0), got {len(captions)} and {len(emb)}")
    _check_val(val_emb, val_captions, np.shape(emb)[1:])
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    tok, transform = captioner.tokenizer, captioner.transform
    model = copy.deepcopy(captioner.model).to(cfg.device)
    x = transform.transform(emb, modality=modality, train=False)
    val = None
    if val_emb is not None and val_captions is not None and len(val_captions):
        val = (transform.transform(val_emb, modality=modality, train=False), encode_captions(tok, val_captions))
    train_loop(model, lambda: x, encode_captions(tok, captions), tok.pad_id, cfg, rng, val, log)
    return Captioner(model, tok, transform, dict(captioner.extra))
