"""A real training process for the fault tests: ``python tests/fault_worker.py KIND WORKDIR RESULT.json``.

``KIND`` is ``decoder`` (a captioner through :func:`c3lib.decoders.train_or_load`, per-epoch checkpoints in the
run store) or ``space`` (two towers through :func:`c3lib.contrastive.train_pair`). Training resumes from
whatever checkpoint ``WORKDIR`` holds; at the end a digest of the weights and the history go to RESULT.json.
The data are synthetic and seeded, so two processes given the same KIND train the same thing.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch


def digest(state: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def synthetic_task(n: int = 480):
    from c3lib.tasks import CrossModalTask

    rng = np.random.default_rng(0)
    words = ["red", "blue", "green", "cube", "ball", "cone", "left", "right", "small", "big", "of", "a"]
    caps = [" ".join(rng.choice(words, size=int(rng.integers(3, 7)))) + " ." for _ in range(n + 60)]
    emb = rng.normal(size=(n + 60, 16)) + 0.5
    img = rng.normal(size=(40, 16)) - 0.5
    return CrossModalTask(name="synthetic", train_emb=emb[:n], train_targets=caps[:n], val_emb=emb[n:],
                          val_targets=caps[n:], unpaired_emb=img, test_emb=img[:4], test_refs=[["a red cube ."]] * 4,
                          test_ids=[str(i) for i in range(4)])


def decoder_config():
    from c3lib.trainer import TrainConfig

    return TrainConfig(n_layer=1, n_embd=32, n_head=2, lr=3e-3, batch_size=8, num_epochs=6, warmup_steps=10,
                       patience=10)


def train_decoder(workdir: Path) -> dict:
    from c3lib.decoders import train_or_load

    cap, log = train_or_load(synthetic_task(), "C3", 0, decoder_config(), 0.1, root=workdir)
    return {"weights": digest(cap.model.state_dict()), "log": log}


def space_data():
    gen = torch.Generator().manual_seed(0)
    xa = torch.randn(1200, 24, generator=gen)
    return xa, xa @ torch.randn(24, 24, generator=gen) + 0.3 * torch.randn(1200, 24, generator=gen)


def space_model():
    from torch import nn

    from c3lib.contrastive import PairModel

    torch.manual_seed(0)
    def tower():
        return nn.Sequential(nn.Linear(24, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 16))
    return PairModel(tower(), tower())


def train_space(workdir: Path) -> dict:
    from c3lib.contrastive import TrainSpec, train_pair

    model = space_model()
    xa, xb = space_data()
    history = train_pair(model, xa, xb, TrainSpec(num_epochs=8, batch_size=16, lr=2e-3), workdir / "space",
                         progress=False)
    return {"weights": digest(model.state_dict()), "log": history}


if __name__ == "__main__":
    torch.set_num_threads(1)
    kind, workdir, result = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    out = {"decoder": train_decoder, "space": train_space}[kind](workdir)
    result.write_text(json.dumps(out))
