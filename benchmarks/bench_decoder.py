"""Decoder training throughput (caption tokens per second): c3lib's loop vs a plain reference loop.

Same model, same batch size, same captions, same run:

- ``c3lib``: caption embeddings computed once and cached; the C3 transform applied to the cache; batches
  bucketed by length (``bucket_batches``) and padded only to their own longest caption.
- ``reference``: the naive loop: every batch re-embeds its captions with the frozen text encoder
  (MiniLM) every epoch and pads to the maximum caption length (67 tokens, the decoding limit).

Tokens/s counts real (unpadded) caption tokens, so padding and re-encoding show up as lost throughput.
Sizes: ``default`` (the chapters' small GPT-2 config) and ``gpt2`` (GPT2Config(), 124M, random init,
no download). Usage::

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/bench_decoder.py --data-dir ../shared/data --steps 4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from c3lib.transform import C3Transform
from c3lib.captioner import MAX_TOKENS, CaptionerSpec, ClipCap
from c3lib.tokenizer import CaptionTokenizer
from c3lib.trainer import bucket_batches, collate, encode_captions

SIZES = {"default": dict(lm="small", n_layer=2, n_embd=128, n_head=4), "gpt2": dict(lm="gpt2")}


def _captions(data_dir: str, n: int, seed: int) -> list[str]:
    if data_dir:
        from c3lib.data.loaders import load_flickr8k, resolve_data_dir
        caps = [c for cs in load_flickr8k(resolve_data_dir(data_dir), "train").captions for c in cs]
        return [caps[i] for i in np.random.default_rng(seed).permutation(len(caps))[:n]]
    rng = np.random.default_rng(seed)
    words = "a the dog man woman child runs plays sits on in with red blue grass water street ball".split()
    return [" ".join(rng.choice(words, size=rng.integers(6, 25))) + " ." for _ in range(n)]


def _step(model, opt, emb, tokens, mask):
    loss = model.loss(emb, tokens, mask)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def bench(size: str, captions: list[str], batch_size: int, steps: int, device: str, seed: int,
          epochs: int = 2) -> dict:
    from c3lib.encoders.frozen import minilm_features
    torch.manual_seed(seed)
    tok = CaptionTokenizer.train_word_level(captions)
    ids = encode_captions(tok, captions)
    vocab = 50257 if size == "gpt2" else tok.vocab_size
    spec = CaptionerSpec(d_in=384, vocab_size=vocab, **SIZES[size])
    model = ClipCap(spec, pretrained=False).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    n = steps * batch_size
    out = {}
    minilm_features(captions[:2], progress=False)  # load the frozen encoder outside the timings
    # c3lib loop: embeddings once (timed: it is part of the cost), cached; bucketed batches.
    t0 = time.perf_counter()
    emb = minilm_features(captions[:n], progress=False)
    x = torch.as_tensor(C3Transform(seed=seed).fit(emb).transform(emb), dtype=torch.float32, device=device)
    lengths = np.array([len(i) for i in ids[:n]])
    toks = 0
    rng = np.random.default_rng(seed)
    for idx in [b for _ in range(epochs) for b in bucket_batches(lengths, batch_size, rng)]:
        tokens, mask = collate(ids, idx, tok.pad_id)
        _step(model, opt, x[idx], tokens.to(device), mask.to(device))
        toks += int(mask.sum())
    if device == "cuda":
        torch.cuda.synchronize()
    out["c3lib_tokens_per_s"] = toks / (time.perf_counter() - t0)
    # reference loop: re-embed each batch, pad to MAX_TOKENS.
    t0 = time.perf_counter()
    transform = C3Transform(seed=seed).fit(emb)
    toks = 0
    for s in [s for _ in range(epochs) for s in range(0, n, batch_size)]:
        idx = np.arange(s, s + batch_size)
        e = minilm_features([captions[i] for i in idx], progress=False)
        xb = torch.as_tensor(transform.transform(e), dtype=torch.float32, device=device)
        tokens = torch.full((batch_size, MAX_TOKENS), tok.pad_id, dtype=torch.long)
        mask = torch.zeros_like(tokens)
        for r, i in enumerate(idx):
            tokens[r, :len(ids[i])] = torch.tensor(ids[i])
            mask[r, :len(ids[i])] = 1
        _step(model, opt, xb, tokens.to(device), mask.to(device))
        toks += int(mask.sum())
    if device == "cuda":
        torch.cuda.synchronize()
    out["reference_tokens_per_s"] = toks / (time.perf_counter() - t0)
    out["ratio"] = out["c3lib_tokens_per_s"] / out["reference_tokens_per_s"]
    out["params_M"] = sum(p.numel() for p in model.parameters()) / 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default="", help="real captions (Flickr8k train); empty: synthetic captions")
    ap.add_argument("--sizes", default="default,gpt2")
    ap.add_argument("--batch-size", type=int, default=40)
    ap.add_argument("--steps", type=int, default=4, help="batches per epoch")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    captions = _captions(args.data_dir, args.steps * args.batch_size, args.seed)
    print(f"device {args.device}, batch {args.batch_size}, {args.steps} steps, torch threads "
          f"{torch.get_num_threads()}, {args.epochs} epochs")
    for size in args.sizes.split(","):
        r = bench(size, captions, args.batch_size, args.steps, args.device, args.seed, args.epochs)
        print(f"{size:8s} ({r['params_M']:.1f}M params): c3lib {r['c3lib_tokens_per_s']:.0f} tok/s, "
              f"reference {r['reference_tokens_per_s']:.0f} tok/s, ratio {r['ratio']:.2f}x")


if __name__ == "__main__":
    main()
