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
    import functools
    import shutil

    from c3lib.spaces import recipes

    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    cfg = make_config(spaces.SpaceConfig, "smoke", {"num_epochs": 3, "n_train": 128, "n_test": 32})
    full = spaces.train_space(cfg, "world-scratch")
    shutil.rmtree(tmp_path / "runs")
    with monkeypatch.context() as m:  # "crash" after the first epoch
        m.setattr(recipes, "train_pair", functools.partial(recipes.train_pair, stop_after_epoch=0))
        cut = spaces.train_space(cfg, "world-scratch")
    assert len(cut["history"]["loss"]) == 1
    resumed = spaces.train_space(cfg, "world-scratch")
    assert resumed["history"] == full["history"]
    assert resumed["trained"]["recall"] == full["trained"]["recall"]
    assert resumed["trained"]["gap"] == pytest.approx(full["trained"]["gap"], abs=0)


def test_training_learns_on_the_world(tmp_path, monkeypatch):
    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    cfg = make_config(spaces.SpaceConfig, "smoke", {"num_epochs": 6, "n_train": 512, "n_test": 64})
    rep = spaces.train_space(cfg, "audio-scratch")
    assert rep["history"]["loss"][-1] < rep["history"]["loss"][0]
    assert rep["trained"]["recall"]["a2b_R@5"] > 3 * rep["trained"]["recall"]["chance_R@5"]


def test_the_registry_names_every_space_once_with_a_recipe_and_its_own_settings():
    from c3lib.spaces import recipes

    fields = set(spaces.SpaceConfig.__dataclass_fields__)
    for name, rec in spaces.REGISTRY.items():
        assert rec.name == name and rec.recipe in recipes._TRAIN and rec.role in ("clip", "ablation"), name
        assert set(rec.fields) <= fields and len(rec.modalities) == 2, name
        assert (rec.recipe == "bound") == bool(rec.bound_to) and (not rec.bound_to or rec.bound_to in spaces.REGISTRY)
    assert spaces.CLIP_SPACES == ("world-clip", "flickr8k-clip")
    assert spaces.BOUND_SPACES == ("world-clip-audio", "world-clip-video")
    with pytest.raises(ValueError, match="unknown space 'image-text'; valid: world-clip"):
        spaces.space("image-text")
    with pytest.raises(ValueError, match="unknown space"):
        spaces.load_or_train_space("world")
    base = make_config(spaces.SpaceConfig, "default")
    for field, moved in (("num_epochs", {"world-scratch", "audio-scratch", "video-scratch"}),
                         ("scratch_max_epochs", {"world-clip-scratch", "world-clip-audio", "world-clip-video"}),
                         ("clip_heads", {"world-clip", "flickr8k-clip", "world-clip-audio", "world-clip-video"}),
                         ("clip_select", {"flickr8k-clip"}), ("video_size", {"video-scratch", "world-clip-video"})):
        value = ("1",) if field == "clip_heads" else getattr(base, field) + 1
        changed = make_config(spaces.SpaceConfig, "default", {field: value})
        got = {n for n in spaces.REGISTRY if spaces.run_dir(base, n) != spaces.run_dir(changed, n)}
        assert got == moved, field


def test_every_space_reports_its_test_pairs_at_initialisation_and_binding_freezes_the_image_head(tmp_path,
                                                                                               monkeypatch):
    """Chapter 05's claims need the test pairs at initialisation (every space's report records them, and they
    give its initial gap); a bound space trains its own tower against world-clip's image head, leaving that
    head as it was, and reports its modality against world-clip's text."""
    import os

    from c3lib import binding, space_pool

    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    root = os.environ.get("C3_DATA", "")
    with_data = bool(root) and os.path.isdir(root)
    cfg = make_config(spaces.SpaceConfig, "smoke", {"num_epochs": 1, "n_train": 64, "n_select": 32, "n_test": 32,
                                                    "flickr_epochs": 1, "scratch_max_epochs": 1, "max_epochs": 1,
                                                    "clip_heads": ["2-ln"]}, data_dir=root if with_data else "")
    names = [n for n in spaces.SPACES if spaces.space(n).data == "world" or with_data]
    reports, _ = space_pool.train_spaces(cfg, names, workers=1, progress=False)
    assert list(reports) == names
    for name, rep in reports.items():
        za, zb = rep["init_pairs"]
        assert za.shape == rep["test_pairs"][0].shape and zb.shape == rep["test_pairs"][1].shape, name
        assert not np.allclose(za, rep["test_pairs"][0]), f"{name}: the towers at init differ from the trained ones"
        assert rep["init"]["gap"] == pytest.approx(spaces.gap(za, zb)), name
    head = binding.weights_sha(reports["world-clip"]["model"].tower_a)
    again = spaces.train_space(cfg, "world-clip-audio", progress=False)  # loaded, with world-clip loaded under it
    assert binding.weights_sha(spaces.train_space(cfg, "world-clip", progress=False)["model"].tower_a) == head
    t = again["text_test"]
    assert 0 <= t["R@1"] <= 1 and t["chance_R@1"] == 1 / cfg.n_test and t["gap_length"] > 0
    assert again["history"] == reports["world-clip-audio"]["history"]
