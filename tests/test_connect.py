"""Connect: the CLIP loss, retrieval recall, towers' shapes, and resuming an interrupted training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c3lib import spaces
from c3lib.config import make_config
from c3lib.contrastive import clip_loss, retrieval_recall
from c3lib.encoders.towers import AudioTower, ImageTower, TextTower, VideoTower
from c3lib.tokenizer import Vocab


def test_clip_loss_is_low_for_matched_pairs_and_symmetric():
    z = torch.eye(8)
    assert clip_loss(z, z, 100.0) < 1e-3
    a, b = torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), torch.randn(8, 4)
    assert torch.isclose(clip_loss(a, b, 10.0), clip_loss(b, a, 10.0))
    assert clip_loss(z, z.roll(1, 0), 100.0) > 10  # every pair mismatched


def test_retrieval_recall_exact():
    za = np.eye(4)
    zb = np.eye(4)[[0, 1, 3, 2]]  # items 2 and 3 swapped
    r = retrieval_recall(za, zb, ks=(1, 2))
    assert r["a2b_R@1"] == 0.5 and r["b2a_R@1"] == 0.5 and r["chance_R@1"] == 0.25
    assert r["a2b_R@2"] == 0.5  # a swapped item's partner only ties the others: ties count against


def test_tower_shapes():
    vocab = Vocab.build(["a red circle", "a blue square left of a ring"])
    assert TextTower(len(vocab.words), 8)(vocab.encode(["a red ring", "zebra"])).shape == (2, 8)
    assert vocab.encode(["zebra"])[0, 0].item() == 1  # unknown word
    assert ImageTower(8)(torch.rand(3, 3, 32, 32)).shape == (3, 8)
    assert AudioTower(129, 8)(torch.rand(3, 30, 129)).shape == (3, 8)
    assert VideoTower(8)(torch.rand(2, 4, 3, 16, 16)).shape == (2, 8)


def test_interrupted_training_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    cfg = make_config(spaces.SpaceConfig, "smoke", {"num_epochs": 3, "n_train": 128, "n_test": 32})
    full = spaces.train_space(cfg, "image-text")
    import shutil

    shutil.rmtree(tmp_path / "runs")
    cut = spaces.train_space(cfg, "image-text", stop_after_epoch=0)  # "crash" after the first epoch
    assert len(cut["history"]["loss"]) == 1
    resumed = spaces.train_space(cfg, "image-text")
    assert resumed["history"] == full["history"]
    assert resumed["trained"]["recall"] == full["trained"]["recall"]
    assert resumed["trained"]["gap"] == pytest.approx(full["trained"]["gap"], abs=0)


def test_training_learns_on_the_world(tmp_path, monkeypatch):
    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    cfg = make_config(spaces.SpaceConfig, "smoke", {"num_epochs": 6, "n_train": 512, "n_test": 64})
    rep = spaces.train_space(cfg, "audio-image")
    assert rep["history"]["loss"][-1] < rep["history"]["loss"][0]
    assert rep["trained"]["recall"]["a2b_R@5"] > 3 * rep["trained"]["recall"]["chance_R@5"]


def test_chapter05_rebuilds_each_space_at_initialisation(tmp_path, monkeypatch):
    """Chapter 05's claims need the test pairs at initialisation: its rebuilt towers give the gap each space
    recorded before training (every world space; the Flickr8k spaces with data), and a recorded gap they do
    not reproduce stops the chapter."""
    import os

    from c3lib import space_pool
    from c3lib.chapters.ch05_connect import initial

    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    root = os.environ.get("C3_DATA", "")
    with_data = bool(root) and os.path.isdir(root)
    cfg = make_config(spaces.SpaceConfig, "smoke", {"num_epochs": 1, "n_train": 64, "n_test": 32, "flickr_epochs": 1,
                                                    "world_clip_max_epochs": 1, "clip_max_epochs": 1,
                                                    "clip_heads": ["2-ln"]}, data_dir=root if with_data else "")
    names = ["image-text", "audio-image", "video-image", "world-clip"] + (["flickr8k-locked", "flickr8k-clip"]
                                                                          if with_data else [])
    reports = space_pool.train_spaces(cfg, names, workers=1, progress=False)
    for name, rep in reports.items():
        za, zb = initial.init_pairs(cfg, rep)
        assert za.shape == rep["test_pairs"][0].shape and zb.shape == rep["test_pairs"][1].shape, name
        assert not np.allclose(za, rep["test_pairs"][0]), f"{name}: the towers at init differ from the trained ones"
    bad = {**reports["image-text"], "init": {**reports["image-text"]["init"], "gap": 0.5}}
    with pytest.raises(RuntimeError, match="rebuilt at initialisation"):
        initial.init_pairs(cfg, bad)
