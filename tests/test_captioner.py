"""Captioner: a tiny model overfits a few captions and decodes them back; save/load; the input guard."""

from __future__ import annotations

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
