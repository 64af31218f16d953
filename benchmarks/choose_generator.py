"""How chapter 08's generator settings were chosen: each candidate is trained on the world-clip space's
training renders from their own (normalised) image embeddings and scored on *validation* scenes (never the
test scenes the chapter reports): attribute accuracy of its reconstructions from the scenes' own embeddings,
beside the attribute classifier's accuracy on the real validation renders. Not a test; run by hand:

    OMP_NUM_THREADS=1 C3_DATA=../shared/data python benchmarks/choose_generator.py [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

CANDIDATES = {  # name -> GeneratorConfig fields beyond the default preset's
    "stem4-l1-300 (before)": dict(stem_size=4, loss="l1", num_steps=300),
    "stem4-mse-500 (chosen)": dict(stem_size=4, loss="mse", num_steps=500),
    "stem8-l1-500": dict(stem_size=8, loss="l1", num_steps=500),
    "stem8-mse-500": dict(stem_size=8, loss="mse", num_steps=500),
}


def _data():
    from c3lib.image_tasks import PLACES
    from c3lib.contrastive import embed
    from c3lib.data.world import COLOURS, SHAPES, SIZES
    from c3lib.generator import resize
    from c3lib.config import RunContext
    from c3lib.spaces import load_or_train_space, world_data

    space = load_or_train_space("world-clip", RunContext("default"), progress=False)
    cfg, model, vocab = space["config"], space["model"], space["vocab"]
    tr = world_data(cfg, "image-text", "train", cfg.n_train, vocab=vocab)
    va = world_data(cfg, "image-text", "val", 192, vocab=vocab)
    norm = lambda e: (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    return {"e_tr": norm(embed(model.tower_a, tr["a"])), "e_va": norm(embed(model.tower_a, va["a"])),
            "x_tr": resize(tr["a"], 32), "x_va": resize(va["a"], 32),
            "at_tr": [tr["scenes"].attributes(i) for i in range(len(tr["a"]))],
            "at_va": [va["scenes"].attributes(i) for i in range(len(va["a"]))],
            "vocab": {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "place": PLACES}}


def _one(name: str) -> dict:
    from c3lib import image_metrics as im
    from c3lib.generator import SIZES, EmbeddingGenerator, GeneratorConfig
    from c3lib.threads import configure

    configure(1)
    d = _data()
    clf = im.AttributeClassifier(d["vocab"])
    clf.fit(d["x_tr"], d["at_tr"], 6, seed=0)
    cfg = GeneratorConfig(**{**SIZES["default"], "cond_dim": d["e_tr"].shape[1], **CANDIDATES[name]})
    t0 = time.perf_counter()
    gen = EmbeddingGenerator(cfg).fit(d["e_tr"], d["x_tr"], lambda x: x)
    out = gen.sample(d["e_va"])
    return {"candidate": name, "train_s": round(time.perf_counter() - t0, 1),
            "val_attr_accuracy": round(clf.accuracy(out, d["at_va"]), 3),
            "classifier_on_real_val": round(clf.accuracy(d["x_va"], d["at_va"]), 3),
            "val_mse": round(float(((out - d["x_va"]) ** 2).mean()), 5),
            "between_prompt_variance": round(float(out.var(0).mean()), 5)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(0)
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(_one, CANDIDATES))
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
