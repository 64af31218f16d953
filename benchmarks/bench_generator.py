"""Chapter 08 generator: training throughput (images/s), sampling throughput and peak memory, and the
Inception-v3 feature cost that dominates FID on a CPU. Not a test; run by hand:

    OMP_NUM_THREADS=1 python benchmarks/bench_generator.py [--preset default] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from c3lib.generator import SIZES, EmbeddingGenerator, GeneratorConfig


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="default", choices=list(SIZES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cond-dim", type=int, default=512, help="embedding width (512: world-clip, flickr8k-clip)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = GeneratorConfig(**{**SIZES[args.preset], "cond_dim": args.cond_dim, "num_steps": args.steps})
    n = 1024
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(n, args.cond_dim)).astype(np.float32)
    images = torch.rand(n, 3, cfg.image_size, cfg.image_size)
    gen = EmbeddingGenerator(cfg)
    if args.device != "cpu":  # pragma: no cover - GPU figure
        gen = gen.to(args.device)
    gen.fit(emb, images, lambda x: x)
    t0 = time.perf_counter()
    out = gen.sample(emb)
    sample_s = time.perf_counter() - t0
    report = {"preset": args.preset, "threads": args.threads, "image_size": cfg.image_size,
              "parameters": sum(p.numel() for p in gen.parameters()),
              "train_images_per_s": round(gen.history["images_per_s"], 1),
              "sample_images_per_s": round(n / sample_s, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}
    try:
        from c3lib.image_metrics import InceptionFeatures

        inc = InceptionFeatures()
        inc(out[:4])  # warm-up
        t0 = time.perf_counter()
        inc(out[:64])
        report["inception_images_per_s"] = round(64 / (time.perf_counter() - t0), 2)
        report["peak_rss_mb_with_inception"] = round(peak_rss_mb(), 1)
    except FileNotFoundError as err:
        report["inception_images_per_s"] = f"unavailable: {err}"
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
