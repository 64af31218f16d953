"""Caption decoding throughput (captions per second): greedy and beam search of ``Captioner.caption``.

The decoder is the chapters' small one (``CaptionerSpec(d_in=512, n_layer=2, n_embd=128, n_head=4)``, word-level
tokenizer), trained for a few epochs by :func:`c3lib.trainer.fit_captioner` on synthetic pairs: random 512-d
embeddings around ``--topics`` centres, each centre with its own caption template (6 to 20 words ending in
``.``). Trained, it stops at ``.`` after about as many tokens as the captions have, as a real decoder does; a
random-init decoder never emits ``.`` and always runs to the 67-token limit, so it would time the worst case only.
The timed inputs are ``--n`` held-out embeddings around the same centres. Not a test; run by hand::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_decoding.py [--n 256] [--beam 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from c3lib.captioner import Captioner
from c3lib.trainer import TrainConfig, fit_captioner
from c3lib.transform import C3Transform

WORDS = ("a the dog man woman child girl boy runs plays sits jumps on in with near red blue green grass water "
         "street ball park beach snow bike wall field").split()


def pairs(n: int, topics: int, d: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """``n`` embeddings (n, d) around ``topics`` fixed centres and their captions (one template per centre, with
    one word in four replaced at random)."""
    rng = np.random.default_rng(0)  # centres and templates are the same for every seed
    centres = rng.normal(size=(topics, d))
    templates = [list(rng.choice(WORDS, size=rng.integers(6, 21))) for _ in range(topics)]
    rng = np.random.default_rng(seed)
    topic = rng.integers(topics, size=n)
    emb = centres[topic] + 0.3 * rng.normal(size=(n, d))
    caps = []
    for t in topic:
        words = [w if rng.random() > 0.25 else rng.choice(WORDS) for w in templates[t]]
        caps.append(" ".join(words) + " .")
    return emb, caps


def trained_captioner(n_train: int, topics: int, epochs: int, seed: int) -> Captioner:
    emb, caps = pairs(n_train, topics, 512, seed)
    cfg = TrainConfig(n_layer=2, n_embd=128, n_head=4, lr=3e-3, batch_size=64, num_epochs=epochs,
                      warmup_steps=20, patience=epochs, seed=seed, device="cpu")
    return fit_captioner(emb, caps, C3Transform(), cfg)


def rate(cap: Captioner, x: np.ndarray, beam_size: int, repeats: int) -> tuple[float, list[str]]:
    """Best-of-``repeats`` captions per second of ``cap.caption(x, beam_size)``, and its captions."""
    best, out = float("inf"), []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = cap.caption(x, beam_size=beam_size)
        best = min(best, time.perf_counter() - t0)
    return len(x) / best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=256, help="embeddings captioned per timing")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train", type=int, default=2048, help="training pairs")
    ap.add_argument("--topics", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cap = trained_captioner(args.train, args.topics, args.epochs, args.seed)
    raw, _ = pairs(args.n, args.topics, 512, args.seed + 1)
    x = cap.transform.transform(raw, modality="source", train=False)
    print(f"torch threads {torch.get_num_threads()}, {args.n} embeddings, vocab {cap.tokenizer.vocab_size}, "
          f"best of {args.repeats}")
    for beam_size in (1, args.beam):
        per_s, out = rate(cap, x, beam_size, args.repeats)
        words = np.mean([len(c.split()) for c in out])
        name = "greedy" if beam_size == 1 else f"beam {beam_size}"
        print(f"{name:8s}: {per_s:8.1f} captions/s (mean {words:.1f} words; e.g. {out[0]!r})")


if __name__ == "__main__":
    main()
