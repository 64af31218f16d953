"""Chapter 08 generator: training throughput of the autoencoder (images/s) and of the latent denoiser
(latents/s), sampling throughput (images/s, DDIM with classifier-free guidance, decoded), peak memory, and the
feature costs that dominate the chapter's scoring on a CPU (Inception-v3 and EfficientNet-Lite0, images/s).
Not a test; run by hand:

    OMP_NUM_THREADS=1 python benchmarks/bench_generator.py [--preset default] [--threads 1] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from c3lib.autoencoder import AE_SIZES, AutoencoderConfig, ImageAutoencoder
from c3lib.generator import SIZES, EmbeddingGenerator, GeneratorConfig

IMAGE_SIZE = {"smoke": 16, "default": 32, "paper": 64}  # chapter 08's image side per preset


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rate(n: int, fn) -> float:
    t0 = time.perf_counter()
    fn()
    return round(n / (time.perf_counter() - t0), 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="default", choices=list(SIZES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=100, help="training steps timed per stage")
    ap.add_argument("--cond-dim", type=int, default=512, help="embedding width (512: world-clip, flickr8k-clip)")
    ap.add_argument("--n-sample", type=int, default=500, help="images drawn to time sampling (N of a row)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    size = IMAGE_SIZE[args.preset]
    acfg = AutoencoderConfig(**{**AE_SIZES[args.preset], "image_size": size, "num_steps": args.steps})
    gcfg = GeneratorConfig(**{**SIZES[args.preset], "cond_dim": args.cond_dim, "num_steps": args.steps})
    n = 2048
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(n, args.cond_dim)).astype(np.float32)
    images = torch.rand(n, 3, size, size)
    ae = ImageAutoencoder(acfg).fit(images, device=args.device)
    latents = ae.latents(images)
    gen = EmbeddingGenerator(gcfg, ae).fit(emb, latents, lambda x: x, device=args.device)
    cond = emb[:args.n_sample]
    gen.sample(cond[:8])  # warm-up
    report = {"preset": args.preset, "threads": args.threads, "device": args.device, "image_size": size,
              "latent_dim": acfg.latent_dim,
              "autoencoder_parameters": sum(p.numel() for p in ae.parameters()),
              "denoiser_parameters": sum(p.numel() for p in gen.denoiser.parameters()),
              "autoencoder_train_images_per_s": round(ae.history["images_per_s"], 1),
              "denoiser_train_latents_per_s": round(gen.history["latents_per_s"], 1),
              "sample_images_per_s": _rate(len(cond), lambda: gen.sample(cond)),
              "sample_steps": gcfg.sample_steps, "guidance": gcfg.guidance,
              "peak_rss_mb": round(peak_rss_mb(), 1)}
    out = (gen.sample(cond[:64]) * 255).round().to(torch.uint8)
    try:
        from c3lib.image_metrics import InceptionFeatures

        inc = InceptionFeatures(device=args.device)
        inc(out[:4])  # warm-up
        report["inception_images_per_s"] = _rate(64, lambda: inc(out))
    except FileNotFoundError as err:
        report["inception_images_per_s"] = f"unavailable: {err}"
    from PIL import Image

    from c3lib.encoders.frozen import efficientnet_features

    pil = [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in out]
    efficientnet_features(pil[:4], progress=False, device=args.device, channels_last=True)  # warm-up
    report["efficientnet_images_per_s"] = _rate(64, lambda: efficientnet_features(
        pil, progress=False, device=args.device, channels_last=True))
    report["peak_rss_mb_with_features"] = round(peak_rss_mb(), 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
