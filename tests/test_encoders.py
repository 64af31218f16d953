"""Towers and trained spaces: the learnable temperature learns, and later chapters load a space, not retrain it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c3lib import spaces
from c3lib.config import RunContext, make_config
from c3lib.contrastive import PairModel, TrainSpec, embed, train_pair
from c3lib.encoders.towers import ImageTower, Projection

SMALL = {"num_epochs": 2, "n_train": 96, "n_test": 32}


def test_temperature_is_learned_and_towers_get_gradients():
    gen = torch.Generator().manual_seed(0)
    xa, xb = torch.randn(64, 10, generator=gen), torch.randn(64, 12, generator=gen)
    torch.manual_seed(0)
    model = PairModel(Projection(10, 8), Projection(12, 8))
    model.loss(xa[:16], xb[:16]).backward()
    assert model.logit_scale.grad is not None and model.logit_scale.grad.abs() > 0
    assert all(p.grad is not None for p in model.tower_a.parameters())
    history = train_pair(model, xa, xb, TrainSpec(num_epochs=3, batch_size=16, lr=1e-2), progress=False)
    assert history["temperature"][-1] != pytest.approx(0.07, abs=1e-6), "tau must move from its initial 0.07"


def test_image_tower_is_deterministic_for_a_seed():
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3)
    a = embed(ImageTower(8).eval(), x)
    torch.manual_seed(3)
    b = embed(ImageTower(8).eval(), x)
    np.testing.assert_array_equal(a, b)


def test_load_or_train_space_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    first = spaces.load_or_train_space("image-text", RunContext("smoke"), overrides=SMALL, progress=False)
    cfg = make_config(spaces.SpaceConfig, "smoke", SMALL, seed=0, data_dir="")
    ckpt = spaces.run_dir(cfg, "image-text") / "model.safetensors"
    assert ckpt.exists(), "the trained towers are saved under runs/05_connect/"
    stamp = ckpt.stat().st_mtime_ns

    monkeypatch.setattr(spaces, "train_pair", _load_only)
    second = spaces.load_or_train_space("image-text", RunContext("smoke"), overrides=SMALL, progress=False)
    assert ckpt.stat().st_mtime_ns == stamp
    assert second["history"] == first["history"] and second["trained"] == first["trained"]
    assert second["vocab"].words == first["vocab"].words


def _load_only(model, xa, xb, spec, ckpt_dir, multi_b=False, stop_after_epoch=None, progress=True):
    """train_pair that refuses to run any epoch: with a finished checkpoint it only loads."""
    from c3lib import contrastive

    def no_step(*args):
        raise AssertionError("no training step may run: the finished checkpoint loads")
    model.loss = no_step  # the checkpoint is keyed by the data too, so the real pairs go through
    try:
        history = contrastive.train_pair(model, xa, xb, spec, ckpt_dir, multi_b, stop_after_epoch, progress)
    finally:
        del model.loss
    assert len(history["loss"]) == spec.num_epochs, "no epoch may be left to train"
    return history


def test_unknown_space_is_refused():
    with pytest.raises(ValueError, match="unknown space 'text-smell'; valid: image-text"):
        spaces.load_or_train_space("text-smell", RunContext("smoke"))
