"""A ClipCap-style captioner (Mokady et al., 2021) as the official C3 code uses it.

An MLP maps an embedding ``(d,)`` to a prefix of ``prefix_len`` vectors of the language model's width
(``d -> d_lm * prefix_len / 2 -> d_lm * prefix_len``, tanh), and a causal LM from ``transformers`` decodes
the caption after that prefix. Training reconstructs captions from *their own* embeddings (text only),
passed through a fitted :class:`~c3lib.c3.C3Transform`; inference captions another modality's embeddings
through the same transform. Decoding is greedy until "." or ``max_tokens`` (67, as the official code), or
beam search.

At the ``default`` preset the LM is a small GPT-2 built from a config (random init) with a word-level
tokenizer made from the training captions (no download); at ``paper`` it is GPT-2 124M with its tokenizer.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .c3 import C3Transform
from .io import atomic_path, write_json

PAD, UNK, EOS = 0, 1, 2  # EOS is "."


class WordTokenizer:
    """Lower-case words; "." ends every caption. Built from the training captions, saved with the run."""

    def __init__(self, words: Sequence[str]):
        self.words = ["<pad>", "<unk>", ".", *[w for w in words if w not in ("<pad>", "<unk>", ".")]]
        self.index = {w: i for i, w in enumerate(self.words)}

    @staticmethod
    def split(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    @classmethod
    def build(cls, captions: Sequence[str], min_count: int = 1) -> "WordTokenizer":
        counts: dict[str, int] = {}
        for c in captions:
            for w in cls.split(c):
                counts[w] = counts.get(w, 0) + 1
        return cls(sorted(w for w, k in counts.items() if k >= min_count))

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode(self, caption: str, max_tokens: int = 67) -> list[int]:
        return [self.index.get(w, UNK) for w in self.split(caption)][: max_tokens - 1] + [EOS]

    def decode(self, ids: Sequence[int]) -> str:
        words = []
        for i in ids:
            if i == EOS:
                break
            if i != PAD:
                words.append(self.words[i])
        return " ".join(words)


@dataclass(frozen=True)
class CaptionerSpec:
    d_in: int  # embedding dimension
    vocab_size: int
    d_lm: int = 128  # language-model width (GPT-2 124M: 768)
    n_layer: int = 2
    n_head: int = 4
    prefix_len: int = 10
    max_tokens: int = 67


class ClipCap(nn.Module):
    """Mapping MLP + causal LM. ``forward(prefix_in (b, d), ids (b, T)) -> logits (b, T, vocab)``."""

    def __init__(self, spec: CaptionerSpec):
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel

        self.spec = spec
        width = spec.d_lm * spec.prefix_len
        self.mapping = nn.Sequential(nn.Linear(spec.d_in, width // 2), nn.Tanh(), nn.Linear(width // 2, width))
        cfg = GPT2Config(vocab_size=spec.vocab_size, n_embd=spec.d_lm, n_layer=spec.n_layer, n_head=spec.n_head,
                         n_positions=spec.prefix_len + spec.max_tokens + 1, bos_token_id=EOS, eos_token_id=EOS,
                         pad_token_id=PAD)
        self.lm = GPT2LMHeadModel(cfg)

    def prefix(self, x: torch.Tensor) -> torch.Tensor:  # [b, d] -> [b, prefix_len, d_lm]
        return self.mapping(x).view(len(x), self.spec.prefix_len, self.spec.d_lm)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        emb = torch.cat([self.prefix(x), self.lm.transformer.wte(ids)], dim=1)  # [b, P + T, d_lm]
        logits = self.lm(inputs_embeds=emb).logits  # [b, P + T, vocab]
        return logits[:, self.spec.prefix_len - 1:-1]  # position P-1 predicts token 0, ...


def caption_loss(model: ClipCap, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the caption tokens given the prefix; padding is ignored."""
    logits = model(x, ids)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1), ignore_index=PAD)


def pad_batch(seqs: Sequence[Sequence[int]]) -> torch.Tensor:
    out = torch.zeros(len(seqs), max(len(s) for s in seqs), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor(s)
    return out


def length_buckets(lengths: np.ndarray, batch_size: int, gen: np.random.Generator) -> list[np.ndarray]:
    """Batches of similar length (so padding is small), in random order: shuffle, sort within chunks of
    50 batches, cut into batches, shuffle the batches."""
    order = gen.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    for i in range(0, len(order), chunk):
        part = order[i:i + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    return [batches[i] for i in gen.permutation(len(batches))]


@torch.inference_mode()
def greedy(model: ClipCap, x: torch.Tensor, max_tokens: int | None = None) -> list[list[int]]:
    """Greedy decoding from prefixes ``x`` (b, d), stopping at "." or ``max_tokens``; uses the KV cache."""
    model.eval()
    max_tokens = max_tokens or model.spec.max_tokens
    out = model.lm(inputs_embeds=model.prefix(x), use_cache=True)
    past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1)
    seqs, done = [nxt], nxt == EOS
    for _ in range(max_tokens - 1):
        if done.all():
            break
        out = model.lm(input_ids=nxt[:, None], past_key_values=past, use_cache=True)
        past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        seqs.append(nxt)
        done = done | (nxt == EOS)
    return torch.stack(seqs, 1).tolist()


@torch.inference_mode()
def beam_search(model: ClipCap, x: torch.Tensor, beam: int = 3, max_tokens: int | None = None) -> list[list[int]]:
    """Beam search for each row of ``x`` (length-normalised log-probability), stopping at "."."""
    model.eval()
    max_tokens = max_tokens or model.spec.max_tokens
    results = []
    for row in x:
        prefix = model.prefix(row[None])  # [1, P, d_lm]
        beams = [([], 0.0)]
        finished = []
        for _ in range(max_tokens):
            cands = []
            for toks, score in beams:
                emb = prefix if not toks else torch.cat([prefix, model.lm.transformer.wte(torch.tensor([toks]))], 1)
                logp = model.lm(inputs_embeds=emb).logits[0, -1].log_softmax(-1)
                top = logp.topk(beam)
                cands += [(toks + [int(i)], score + float(v)) for v, i in zip(top.values, top.indices)]
            cands.sort(key=lambda c: c[1] / len(c[0]), reverse=True)
            beams = []
            for toks, score in cands[:beam]:
                (finished if toks[-1] == EOS else beams).append((toks, score))
            if not beams:
                break
        finished += beams
        results.append(max(finished, key=lambda c: c[1] / len(c[0]))[0])
    return results


class Captioner:
    """A trained captioner: tokenizer, fitted C3 transform and ClipCap model, saved and loaded together."""

    def __init__(self, model: ClipCap, tokenizer: WordTokenizer, transform: C3Transform):
        self.model, self.tokenizer, self.transform = model, tokenizer, transform

    def generate(self, inputs: torch.Tensor | np.ndarray, beam: int = 0) -> list[str]:
        """Captions for inputs that were already transformed (unit rows of the fitted dimension)."""
        x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
        if x.ndim != 2 or x.shape[1] != self.model.spec.d_in:
            raise ValueError(f"inputs have shape {tuple(x.shape)}, but the captioner takes (n, {self.model.spec.d_in})")
        if not torch.isfinite(x).all():
            raise ValueError("inputs hold NaN or inf")
        norms = x.norm(dim=1)
        if (norms - 1).abs().max() > 1e-3:
            raise ValueError("inputs are not transformed (rows must have unit norm after the C3 transform): "
                             "use caption(raw_embeddings, modality=...) or transform them first")
        ids = beam_search(self.model, x, beam) if beam else greedy(self.model, x)
        return [self.tokenizer.decode(s) for s in ids]

    def caption(self, embeddings, modality: str = "target", beam: int = 0, batch_size: int = 256) -> list[str]:
        """Caption raw embeddings of ``modality`` ("target": the other modality, e.g. images)."""
        x = self.transform.transform(np.asarray(embeddings, dtype=np.float64), modality=modality)
        return [c for i in range(0, len(x), batch_size) for c in self.generate(x[i:i + batch_size], beam)]

    def save(self, folder: str | Path) -> Path:
        from safetensors.torch import save_model

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "captioner.safetensors") as tmp:
            save_model(self.model, str(tmp))  # handles the LM's tied input/output embeddings
        t = self.transform
        write_json(folder / "captioner.json", {
            "spec": asdict(self.model.spec), "words": self.tokenizer.words,
            "transform": {**t.get_params(), "source_mean": t.source_mean_.tolist(),
                          "target_mean": None if t.target_mean_ is None else t.target_mean_.tolist()}})
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Captioner":
        from safetensors.torch import load_model

        folder = Path(folder)
        if not (folder / "captioner.json").exists():
            raise FileNotFoundError(f"no trained captioner in {folder} (captioner.json missing)")
        meta = json.loads((folder / "captioner.json").read_text())
        model = ClipCap(CaptionerSpec(**meta["spec"]))
        load_model(model, str(folder / "captioner.safetensors"))
        tr = meta["transform"]
        transform = C3Transform(**{k: tr[k] for k in ("collapse", "corrupt", "noise_std", "span_only", "seed")})
        transform.source_mean_ = np.asarray(tr["source_mean"])
        transform.target_mean_ = None if tr["target_mean"] is None else np.asarray(tr["target_mean"])
        transform.dim_ = len(transform.source_mean_)
        transform._rng = np.random.default_rng(transform.seed)
        tok = WordTokenizer([])
        tok.words, tok.index = meta["words"], {w: i for i, w in enumerate(meta["words"])}
        return cls(model.eval(), tok, transform)


@dataclass(frozen=True)
class TrainSettings:
    num_epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3  # default-size decoder from scratch; the paper's GPT-2 fine-tuning uses 2e-5
    warmup: int = 100  # linear warmup steps, then linear decay (the paper: 5k)
    patience: int = 2  # early stopping on validation text loss
    seed: int = 0


def fit_captioner(emb: np.ndarray, captions: Sequence[str], val_emb: np.ndarray, val_captions: Sequence[str],
                  transform: C3Transform, settings: TrainSettings, spec_kwargs: dict | None = None,
                  tokenizer: WordTokenizer | None = None, progress: bool = True) -> tuple[Captioner, dict]:
    """Train a captioner to reconstruct ``captions`` from their own embeddings ``emb`` ``(n, d)``.

    ``transform`` must be fitted; each batch gets a fresh training transform (fresh noise when corrupt).
    Token ids are computed once; batches are bucketed by length. Early stopping keeps the weights of the
    epoch with the lowest validation loss (validation inputs: the same transform, noise seeded once).
    """
    from tqdm.auto import tqdm

    if len(emb) != len(captions) or len(val_emb) != len(val_captions):
        raise ValueError("each embedding needs exactly one caption (got "
                         f"{len(emb)} vs {len(captions)} and {len(val_emb)} vs {len(val_captions)})")
    if not len(captions) or not len(val_captions):
        raise ValueError("no captions to train or validate on: the caption list is empty")
    tokenizer = tokenizer or WordTokenizer.build(captions)
    spec = CaptionerSpec(d_in=emb.shape[1], vocab_size=tokenizer.vocab_size, **(spec_kwargs or {}))
    torch.manual_seed(settings.seed)
    model = ClipCap(spec)
    ids = [tokenizer.encode(c, spec.max_tokens) for c in captions]
    val_ids = pad_batch([tokenizer.encode(c, spec.max_tokens) for c in val_captions])
    val_x = torch.as_tensor(transform.transform(val_emb), dtype=torch.float32)  # one fixed noise draw
    lengths = np.array([len(s) for s in ids])
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr)
    steps = settings.num_epochs * int(np.ceil(len(ids) / settings.batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / settings.warmup, max(0.0, (steps - s) / max(1, steps - settings.warmup))))
    gen = np.random.default_rng(settings.seed)
    history = {"train_loss": [], "val_loss": [], "tokens": 0}
    best, best_state, waited = float("inf"), None, 0
    for epoch in tqdm(range(settings.num_epochs), desc="decoder epochs", disable=not progress):
        model.train()
        losses = []
        for batch in length_buckets(lengths, settings.batch_size, gen):
            x = torch.as_tensor(transform.transform(emb[batch]), dtype=torch.float32)
            y = pad_batch([ids[i] for i in batch])
            loss = caption_loss(model, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            history["tokens"] += int(lengths[batch].sum())
        with torch.inference_mode():
            model.eval()
            val = float(np.mean([caption_loss(model, val_x[i:i + 256], val_ids[i:i + 256]).item()
                                 for i in range(0, len(val_x), 256)]))
        history["train_loss"].append(float(np.mean(losses)))
        history["val_loss"].append(val)
        if val < best:
            best, waited = val, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= settings.patience:
                break
    model.load_state_dict(best_state)
    history["best_epoch"] = int(np.argmin(history["val_loss"]))
    return Captioner(model.eval(), tokenizer, transform), history
