"""How chapter 08's generator settings are chosen: on *validation* scenes of world-clip (its val split, never the
test scenes the chapter reports), the supervised generator (C1's training map: the clean image embedding; drawn
from each validation scene's own embedding) is scored by the chapter's attribute classifier, beside what the
embedding carries (the render of the nearest training scene in embedding space), the autoencoder's
reconstructions (the decoder's own ceiling) and the real validation renders. Each candidate is a number of
denoiser steps; each is read at several guidance scales. Not a test; run by hand:

    OMP_NUM_THREADS=1 C3_DATA=../shared/data python benchmarks/choose_generator.py [--steps 3000 6000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

GUIDANCE = (1.0, 2.0, 3.0, 5.0)


def _setup(n_val: int):
    from c3lib.chapters import ch08_text_to_image as ch
    from c3lib.config import make_config
    from c3lib.image_tasks import build_task

    cfg = make_config(ch.TextToImageConfig, "default", {"n_eval": n_val})
    task = build_task("world-clip", cfg.context, cfg.n_train, n_val, cfg.image_size)
    ae, _ = ch.generation.train_autoencoder(task, cfg, "world-clip")
    clf, _ = ch.attribute_classifier(task, cfg)
    return cfg, {**task, "autoencoder": ae, "lat_train": ae.latents(task["images_train"])}, clf


def _candidate(args) -> dict:
    steps, n_val = args
    from c3lib import threads
    from c3lib.chapters import ch08_text_to_image as ch
    from c3lib.generator import EmbeddingGenerator

    threads.configure()
    cfg, task, clf = _setup(n_val)
    fit_map, infer = ch.train_transform("C1", task["img_train"], task["txt_train"], cfg, 0)
    gcfg = cfg.generator_config(task["img_train"].shape[1], 0)
    gcfg = type(gcfg)(**{**gcfg.to_dict(), "num_steps": steps})
    t0 = time.perf_counter()
    gen = EmbeddingGenerator(gcfg, task["autoencoder"]).fit(task["img_train"], task["lat_train"], fit_map)
    secs = time.perf_counter() - t0
    cond = infer(task["img_val"], "source")
    acc = {g: clf.accuracy(gen.sample(cond, seed=0, guidance=g), task["attrs_val"]) for g in GUIDANCE}
    return {"steps": steps, "train_seconds": round(secs, 1), "val_attr_accuracy_by_guidance": acc}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, nargs="+", default=[3000, 6000])
    ap.add_argument("--n-val", type=int, default=500, help="validation scenes (world-clip's val split)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from c3lib.image_tasks import as_float

    cfg, task, clf = _setup(args.n_val)
    emb = lambda e: e / np.linalg.norm(e, axis=1, keepdims=True)  # noqa: E731
    nearest = (emb(task["img_val"]) @ emb(task["img_train"]).T).argmax(1)
    ae = task["autoencoder"]
    report = {"real_val_renders": clf.accuracy(as_float(task["images_val"]), task["attrs_val"]),
              "nearest_training_render": clf.accuracy(as_float(task["images_train"][nearest]), task["attrs_val"]),
              "autoencoder_reconstruction": clf.accuracy(ae.images(ae.latents(task["images_val"])), task["attrs_val"])}
    with ProcessPoolExecutor(args.workers) as pool:
        report["candidates"] = list(pool.map(_candidate, [(s, args.n_val) for s in args.steps]))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
