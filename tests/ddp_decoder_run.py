"""Train the smoke decoder once and write its loss curve: run by tests/test_distributed.py under ``torchrun``
(2 gloo processes) and as one plain process, with the same global batch.

    python tests/ddp_decoder_run.py OUT.json            # one process
    torchrun --standalone --nproc-per-node 2 tests/ddp_decoder_run.py OUT.json
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import numpy as np
import torch

import c3lib.trainer
from c3lib import distributed
from c3lib.captioner import ClipCap
from c3lib.config import build
from c3lib.data import standins
from c3lib.trainer import TrainConfig, fit_captioner
from c3lib.transform import C3Transform


class ClipCapNoDropout(ClipCap):
    """ClipCap with its dropout off: each rank draws its own dropout masks, so with dropout the two runs
    would agree only in distribution; without it they must agree to rounding."""

    def __init__(self, spec):
        super().__init__(spec)
        for m in self.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0


def main(out: str) -> None:
    c3lib.trainer.ClipCap = ClipCapNoDropout  # fit_captioner builds its model from this name
    d = distributed.init()
    rng = np.random.default_rng(0)
    caps, emb = standins.bag_of_words_captions(360, 64, rng)  # 300 train, 60 validation
    cfg = dataclasses.replace(build(TrainConfig, "smoke"), num_epochs=3, batch_size=32, patience=9)
    log: list = []
    t0 = time.perf_counter()
    cap = fit_captioner(emb[:300], caps[:300], C3Transform.variant("C3"), cfg, emb[300:], caps[300:], log=log)
    secs = time.perf_counter() - t0
    if d.rank == 0:
        weights = torch.cat([p.detach().flatten() for p in cap.model.parameters()])
        with open(out, "w", encoding="utf-8") as fh:
            json.dump({"world": d.world, "log": log, "weights_head": weights[:2000].tolist(),
                       "steps": 3 * -(-300 // 32), "seconds": secs}, fh)
    if d.world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
