"""Benchmark of the Fig 4 simulation at the paper's size (n = 1000, d = 512, float32).

Measures SGD steps per second driven by the closed-form gradient and by autograd, the achieved GFLOP/s
of a step (counting its three n x n x d matrix products, 6 n^2 d flops), and the GFLOP/s of a plain matrix
multiply of the same shapes timed in the same run; prints their ratio and the projected wall time of the
paper's 200k steps. Run: ``PYTHONPATH=. python benchmarks/bench_simulation.py [--steps 30]``.
"""

from __future__ import annotations

import argparse
import time


def _rate(fn, repeats: int) -> float:
    """Seconds per call of ``fn`` (one warm-up call, then the best of three rounds of ``repeats``)."""
    fn()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best


def main() -> None:
    import torch

    from c3lib import simulation as sim

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--steps", type=int, default=20, help="steps per timing round")
    ap.add_argument("--total-steps", type=int, default=200_000, help="steps to project the wall time of")
    args = ap.parse_args()
    n, d = args.n, args.d
    space = sim.synthetic_pairs(n, d, 25, min(230, d - 25), seed=0)
    x, y = space.img_emb.clone(), space.txt_emb.clone()

    def step_closed():
        _, gx, gy, _, _ = sim.loss_and_grad(x, y, 0.07, check=False)
        x.sub_(0.1 * gx)
        y.sub_(0.1 * gy)

    xa, ya = space.img_emb.clone().requires_grad_(True), space.txt_emb.clone().requires_grad_(True)

    def step_autograd():
        loss = sim.autograd_loss(xa, ya, 0.07)
        gx, gy = torch.autograd.grad(loss, (xa, ya))
        with torch.no_grad():
            xa.sub_(0.1 * gx)
            ya.sub_(0.1 * gy)

    a, b = torch.randn(n, d), torch.randn(d, n)
    t_mm = _rate(lambda: a @ b, max(args.steps * 3, 10))
    t_closed = _rate(step_closed, args.steps)
    t_auto = _rate(step_autograd, args.steps)
    flops_mm = 2 * n * n * d
    gflops_mm = flops_mm / t_mm / 1e9
    gflops_step = 3 * flops_mm / t_closed / 1e9
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, n={n}, d={d}, float32")
    print(f"plain matmul ({n}x{d} @ {d}x{n}):     {t_mm * 1e3:8.2f} ms  {gflops_mm:7.1f} GFLOP/s")
    print(f"closed-form step:                 {t_closed * 1e3:8.2f} ms  {gflops_step:7.1f} GFLOP/s  "
          f"{1 / t_closed:7.1f} steps/s")
    print(f"autograd step:                    {t_auto * 1e3:8.2f} ms  {3 * flops_mm / t_auto / 1e9:7.1f} GFLOP/s  "
          f"{1 / t_auto:7.1f} steps/s")
    print(f"ratio step / matmul GFLOP/s:      {gflops_step / gflops_mm:.2f}  (aim >= 0.5)")
    print(f"closed form speed-up over autograd: {t_auto / t_closed:.2f}x")
    print(f"projected wall time of {args.total_steps:,} steps: {args.total_steps * t_closed / 3600:.2f} h "
          f"(closed form), {args.total_steps * t_auto / 3600:.2f} h (autograd)")


if __name__ == "__main__":
    main()
