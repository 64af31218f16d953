"""Captioner: a tiny model overfits a few captions and decodes them back; save/load; the input guard."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from c3lib.transform import C3Transform
from c3lib.captioner import Captioner
from c3lib.tokenizer import CaptionTokenizer
from c3lib.trainer import TrainConfig, bucket_batches, fit_captioner

CAPS = ["a dog runs on the grass .", "a man rides a red bike .", "two children play in the water .",
        "a cat sleeps on a sofa ."]
TINY = TrainConfig(num_epochs=40, batch_size=4, warmup_steps=2, patience=1000, n_layer=1, n_embd=64, n_head=2,
                   lr=3e-3)


@pytest.fixture(scope="module")
def trained():
    emb = np.random.default_rng(0).normal(size=(4, 16))
    log: list = []
    cap = fit_captioner(emb, CAPS, C3Transform.variant("C1"), TINY, log=log)
    return emb, cap, log


def test_overfits_and_decodes_back(trained):
    emb, cap, log = trained
    assert log[-1]["train_loss"] < log[0]["train_loss"] / 3
    expected = [c.replace(" .", ".") for c in CAPS]
    assert cap.caption_raw(emb, "source") == expected
    assert cap.caption_raw(emb, "source", beam_size=3) == expected


def test_save_load_identical(trained, tmp_path):
    emb, cap, _ = trained
    cap.save(tmp_path / "run")
    assert (tmp_path / "run" / "model.safetensors").exists()
    back = Captioner.load(tmp_path / "run")
    assert back.caption_raw(emb, "source") == cap.caption_raw(emb, "source")
    for (k, v), (k2, v2) in zip(cap.model.state_dict().items(), back.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_guard_rejects_bad_inputs(trained):
    emb, cap, _ = trained
    with pytest.raises(ValueError, match="trained on dim 16"):
        cap.caption(np.ones((2, 8)) / np.sqrt(8))
    bad = cap.transform.transform(emb, train=False)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cap.caption(bad)
    with pytest.raises(ValueError, match="not passed through the C3 transform"):
        cap.caption(emb)  # raw, not unit norm


def test_guard_rejects_uncollapsed_inputs():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(32, 16)) + 4 * np.eye(16)[0]
    tgt = rng.normal(size=(32, 16)) - 4 * np.eye(16)[0]
    cfg = TrainConfig(num_epochs=1, batch_size=16, n_layer=1, n_embd=32, n_head=2)
    cap = fit_captioner(src, ["a dog ."] * 32, C3Transform.variant("C2-collapse"), cfg, target_emb=tgt)
    normalised_only = tgt / np.linalg.norm(tgt, axis=1, keepdims=True)
    with pytest.raises(ValueError, match="not collapsed"):
        cap.caption(normalised_only)
    assert len(cap.caption_raw(tgt, "target")) == 32  # transformed properly: accepted


def test_bucketing_covers_each_item_once_and_groups_lengths():
    lengths = np.random.default_rng(0).integers(3, 30, size=1000)
    batches = bucket_batches(lengths, 10, np.random.default_rng(0))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 3  # random batches of 10 would spread ~ 20


def test_word_tokenizer_round_trip(tmp_path):
    tok = CaptionTokenizer.train_word_level(CAPS)
    ids = tok.encode("A dog runs on the grass .")
    assert ids[-1] == tok.eos_id and tok.period_id in ids
    assert tok.decode(ids) == "a dog runs on the grass."
    tok.save(tmp_path)
    assert CaptionTokenizer.load(tmp_path, "word").encode("a cat .") == tok.encode("a cat .")


def test_training_rejects_mismatched_captions():
    with pytest.raises(ValueError, match="as many captions"):
        fit_captioner(np.ones((3, 4)), ["a ."], C3Transform(), TINY)


@pytest.mark.parametrize("lm", ["GPT2", " gpt2", "gpt2 ", "gpt-2", "Small", ""])
def test_language_models_are_checked_against_their_list(lm, tmp_path, trained):
    """``decoder.lm: GPT2`` is refused, never read as 'anything but gpt2: the small random model'."""
    from c3lib.captioner import CaptionerSpec
    from c3lib.config import ConfigError, build, check_config

    with pytest.raises(ConfigError, match="'lm'.*'small', 'gpt2'"):
        build(TrainConfig, "smoke", {"lm": lm})
    with pytest.raises(ConfigError, match="'lm'"):
        check_config(TrainConfig(lm=lm))
    with pytest.raises(ConfigError, match="'lm'"):
        fit_captioner(np.ones((2, 4)), ["a .", "b ."], C3Transform(), TrainConfig(lm=lm))
    with pytest.raises(ValueError, match="captioner lm"):
        CaptionerSpec(d_in=4, lm=lm)
    _, cap, _ = trained
    run = cap.save(tmp_path / "run")
    cfg = (run / "config.json").read_text().replace('"lm": "small"', f'"lm": "{lm}"')
    (run / "config.json").write_text(cfg)
    with pytest.warns(RuntimeWarning, match="manifest"), pytest.raises(ValueError, match="captioner lm"):
        Captioner.load(run)


def test_validation_pairs_must_match():
    emb, caps = np.random.default_rng(1).normal(size=(4, 6)), CAPS
    for val_emb, val_caps in ((emb[:3], caps[:2]), (emb[:1], caps[:3]), (emb[:, :5], caps)):
        with pytest.raises(ValueError, match="val"):
            fit_captioner(emb, caps, C3Transform(), TINY, val_emb, val_caps, target_emb=emb)


@pytest.mark.parametrize("bad", [{"lr": -1.0}, {"num_epochs": 0}, {"batch_size": 0}, {"lm": "GPT2"}])
def test_finetuning_checks_its_config(bad, trained):
    from c3lib.config import ConfigError
    from c3lib.trainer import finetune_captioner

    emb, cap, _ = trained
    with pytest.raises(ConfigError, match=next(iter(bad))):
        finetune_captioner(cap, emb, CAPS, dataclasses.replace(TINY, **bad))


# ---- decoding through generate() ------------------------------------------------------------------------------
# Captions of very different lengths, and words seen once (<unk> with min_word_freq=2), so that rows stop at
# different steps and an unbanned decoder emits <unk>.
VARIED = ["a dog .", "a man rides a red bike down a long street past a shop .", "two dogs play .",
          "a girl in a red coat walks a dog on a beach near the water at dusk .", "a cat .",
          "a boy kicks a ball on the grass in a park ."]


@pytest.fixture(scope="module")
def varied():
    emb = np.random.default_rng(2).normal(size=(len(VARIED), 16))
    cfg = dataclasses.replace(TINY, min_word_freq=2)
    cap = fit_captioner(emb, VARIED, C3Transform.variant("C1"), cfg)
    x = cap.transform.transform(emb, modality="source", train=False)
    noise = np.random.default_rng(3).normal(size=(4, 16))
    x = np.concatenate([x, noise / np.linalg.norm(noise, axis=1, keepdims=True)])
    return cap, x


def reference_greedy(model, emb, tok, max_tokens, ban=True):
    """Greedy decoding one row at a time, recomputing the whole sequence each step (no cache)."""
    stops = {tok.eos_id, tok.period_id}
    out = []
    for e in emb:
        seq: list[int] = []
        while len(seq) < max_tokens:
            prev = model.lm.transformer.wte(torch.tensor([seq], dtype=torch.long))
            logits = model.lm(inputs_embeds=torch.cat([model.prefix(e[None]), prev], dim=1)).logits[0, -1]
            if ban:
                logits[[tok.unk_id, tok.pad_id]] = -torch.inf
            seq.append(int(logits.argmax()))
            if seq[-1] in stops:
                break
        out.append(seq)
    return out


@torch.no_grad()
def test_greedy_equals_a_reference_loop_and_never_emits_banned_ids(varied):
    from c3lib.captioner import greedy

    cap, x = varied
    tok = cap.tokenizer
    model = copy.deepcopy(cap.model).double()  # float64: cached and recomputed logits agree to far below any gap
    emb = torch.as_tensor(x, dtype=torch.float64)
    config = model.lm.generation_config.to_dict()
    for max_tokens in (8, 67):
        ref = reference_greedy(model, emb, tok, max_tokens)
        stopped = [len(s) < max_tokens and s[-1] in (tok.eos_id, tok.period_id) for s in ref]
        if max_tokens == 8:  # one batch where some rows stop early and the others run on to the limit
            assert any(stopped) and not all(stopped)
        got = greedy(model, emb, tok, max_tokens)
        assert got == ref
        assert not {tok.unk_id, tok.pad_id} & {t for s in got for t in s}
    assert any(tok.unk_id in s for s in reference_greedy(model, emb, tok, 67, ban=False))  # the ban is needed
    assert model.lm.generation_config.to_dict() == config  # generate() left the model's own settings alone


@torch.no_grad()
def test_beam_of_one_is_greedy(varied):
    from c3lib.captioner import beam

    cap, x = varied
    model = copy.deepcopy(cap.model).double()
    emb = torch.as_tensor(x, dtype=torch.float64)
    assert beam(model, emb, cap.tokenizer, 1, 67) == reference_greedy(model, emb, cap.tokenizer, 67)
    assert cap.caption(x, beam_size=1) == [cap.tokenizer.decode(s) for s in reference_greedy(
        cap.model, torch.as_tensor(x, dtype=torch.float32), cap.tokenizer, 67)]


def test_beam_returns_one_caption_per_input_in_order(trained):
    emb, cap, _ = trained
    x = cap.transform.transform(emb, modality="source", train=False)[[0, 1, 2, 3, 2, 0, 3, 1, 1, 2]]
    alone = [cap.caption(x[i:i + 1], beam_size=3)[0] for i in range(len(x))]
    assert len(set(alone)) == 4  # the four captions, so a shuffled batch would show
    assert cap.caption(x, beam_size=3) == alone
    assert cap.caption(x, beam_size=3, batch_size=4) == alone  # batches of 4, 4 and 2
    assert cap.caption(x[::-1].copy(), beam_size=3) == alone[::-1]


def test_a_held_rate_lets_the_validation_loss_end_training_before_the_ceiling():
    """With the rate held after warmup, a decoder that overfits a handful of captions stops on its validation
    loss (patience 2) long before a ceiling of 60 epochs; the linear schedule's rate is that of the ceiling."""
    import torch

    from c3lib.trainer import TrainConfig, _schedule, fit_captioner
    from c3lib.transform import C3Transform

    rng = np.random.default_rng(0)
    caps = [f"a {w} {s} ." for w in ("red", "blue", "green") for s in ("dog", "cat", "ball", "tree")]
    emb = rng.normal(size=(len(caps), 8))
    val_caps = [f"the {w} {s} runs far ." for w in ("pink", "grey") for s in ("cow", "bird")]
    cfg = TrainConfig(n_layer=1, n_embd=16, n_head=2, num_epochs=60, batch_size=4, warmup_steps=2, lr=1e-2,
                      schedule="constant", patience=2, min_word_freq=1)
    log: list = []
    fit_captioner(emb, caps, C3Transform.variant("C1"), cfg, rng.normal(size=(4, 8)), val_caps, log=log)
    assert 3 <= len(log) < 60
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    held = _schedule(opt, 2, 10, "constant")
    rates = []
    for _ in range(9):
        opt.step()
        held.step()
        rates.append(opt.param_groups[0]["lr"])
    assert rates[1:] == [1.0] * 8
    opt2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    linear = _schedule(opt2, 2, 10, "linear")
    for _ in range(9):
        opt2.step()
        linear.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(1 / 8)


def test_bf16_training_is_seeded_and_close_to_fp32_on_a_cpu():
    from c3lib.trainer import TrainConfig, fit_captioner
    from c3lib.transform import C3Transform

    rng = np.random.default_rng(1)
    caps = [f"a {w} dog ." for w in ("red", "blue", "green", "big")] * 4
    emb = rng.normal(size=(len(caps), 8))
    losses = {}
    for precision in ("fp32", "bf16", "bf16"):
        log: list = []
        cfg = TrainConfig(n_layer=1, n_embd=16, n_head=2, num_epochs=3, batch_size=4, warmup_steps=2,
                          min_word_freq=1, precision=precision, device="cpu")
        fit_captioner(emb, caps, C3Transform.variant("C1"), cfg, emb[:4], caps[:4], log=log)
        losses.setdefault(precision, []).append([r["val_loss"] for r in log])
    assert losses["bf16"][0] == losses["bf16"][1]  # same seed, same numbers
    assert losses["bf16"][0] != losses["fp32"][0]  # bf16 is really used
    assert np.allclose(losses["bf16"][0], losses["fp32"][0], rtol=0.05)
