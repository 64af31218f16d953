"""Train chapter 06's decoders (Table 2) on many GPUs: a command line for ``torchrun``.

    torchrun --nproc-per-node 8 -m c3lib.train_ddp --preset paper --data-dir ../shared/data

Every rank builds the captioning tasks (rank 0 first, so the embedding cache is computed once and the
others read it), then each (variant, seed) decoder is trained in DistributedDataParallel with the global
batch of the preset (:func:`c3lib.trainer.train_loop`) and rank 0 writes it to the run store, where the
chapter, run on the same kind of device (``device="auto"`` resolves to the same one), loads it instead of
training. On GPUs the decoder runs in bf16 autocast where supported.
"""

from __future__ import annotations

import argparse
import time

import torch

from c3lib import decoders, distributed
from c3lib.config import PRESET_NAMES, RunContext, build


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper", choices=PRESET_NAMES)
    ap.add_argument("--tasks", nargs="+", default=["coco-clip"], help="captioning tasks (spaces)")
    ap.add_argument("--variants", nargs="+", default=["C1", "C2-collapse", "C2-corrupt", "C3"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="decoder seeds")
    ap.add_argument("--seed", type=int, default=0, help="the chapter's seed (its space and data draws)")
    ap.add_argument("--data-dir", default="")
    args = ap.parse_args(argv)
    d = distributed.init()
    setup = build(decoders.CaptionSetup, args.preset)  # the decoder's device="auto": cuda on GPU machines
    for name in args.tasks:
        with distributed.rank_zero_first():
            task = setup.task(name, RunContext(args.preset, args.seed, args.data_dir))
        for variant in args.variants:
            for seed in args.seeds:
                t0 = time.perf_counter()
                _, log = decoders.train_or_load(task, variant, seed, setup.decoder, setup.noise_std)
                if d.rank == 0:
                    print(f"[ddp] {name} {variant} seed {seed}: {len(log)} epochs, best val loss "
                          f"{min(r['val_loss'] for r in log):.3f}, {time.perf_counter() - t0:.0f} s on "
                          f"{d.world} process(es)", flush=True)
    if d.world > 1:
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
