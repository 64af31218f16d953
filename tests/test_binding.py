"""Binding a modality to a frozen image tower (c3lib.binding): it lands in that tower's space, the image
tower is left untouched, bad inputs are refused, and the same seed gives the same tower."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from c3lib import binding, spaces
from c3lib.config import make_config
from c3lib.contrastive import TrainSpec, embed, retrieval_recall
from c3lib.data import world

DIM = 32


def _items(ccfg, split: str, n: int, modalities: tuple[str, ...]) -> dict:
    """``n`` world scenes of ``split`` as images (what the image towers read) and as each modality."""
    scenes = world.sample_scenes(n, split, ccfg.seed)
    return {m: spaces.modality_input(ccfg, m, scenes, split) for m in ("image", *modalities)}


@pytest.fixture(scope="module")
def world_items():
    torch.set_num_threads(1)
    ccfg = make_config(spaces.SpaceConfig, "smoke", {"image_size": 16, "video_size": 16, "n_frames": 4})
    return {"ccfg": ccfg, "train": _items(ccfg, "train", 384, ("audio", "video")),
            "val": _items(ccfg, "val", 64, ("audio", "video")), "test": _items(ccfg, "test", 100, ("audio",))}


def _tower(seed: int) -> torch.nn.Module:
    """A frozen image tower whose embeddings differ across images without training (a random-init CNN's
    all point one way, cosine 0.99999: nothing can be bound to it): pooled pixels through a random map."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(),
                                   torch.nn.Linear(48, DIM), torch.nn.BatchNorm1d(DIM)).eval()


SPEC = TrainSpec(num_epochs=12, batch_size=32, lr=3e-3, seed=0)


def test_audio_lands_in_the_space_of_the_image_tower_it_was_bound_to(world_items):
    bound_to, other = _tower(1), _tower(2)
    before = binding.weights_sha(bound_to)
    tr, va, te = world_items["train"], world_items["val"], world_items["test"]
    b = binding.bind("audio", bound_to, tr["audio"], tr["image"], va["audio"], va["image"], DIM, SPEC)
    assert binding.weights_sha(bound_to) == before, "binding must leave the image tower (and its BN stats) as is"
    aud = embed(b.tower, te["audio"])
    chance = 5 / len(aud)
    r_bound = retrieval_recall(aud, embed(bound_to, te["image"]), ks=(5,))["a2b_R@5"]
    r_other = retrieval_recall(aud, embed(other, te["image"]), ks=(5,))["a2b_R@5"]
    # bound: audio finds its scene's image through the tower it was trained against; another tower: chance
    assert r_bound > 4 * chance, r_bound
    assert r_other < 2.5 * chance, r_other
    assert 0 <= b.best_epoch < SPEC.num_epochs and len(b.history["val"]) == SPEC.num_epochs  # no patience: all
    assert b.val_score == max(b.history["val"]) == b.history["val"][b.best_epoch], "the best epoch on validation"


def test_same_seed_same_tower_and_the_run_store_reloads(world_items, tmp_path):
    tr, va = world_items["train"], world_items["val"]
    spec = TrainSpec(num_epochs=2, batch_size=32, lr=3e-3, seed=3)
    img = _tower(1)
    a, loaded_a = binding.load_or_bind("video", img, tr, va, DIM, spec, tmp_path / "v", {"w": 1})
    b = binding.bind("video", img, tr["video"], tr["image"], va["video"], va["image"], DIM, spec)
    for k, v in a.tower.state_dict().items():
        torch.testing.assert_close(v, b.tower.state_dict()[k], rtol=0, atol=0)
    c, loaded_c = binding.load_or_bind("video", img, tr, va, DIM, spec, tmp_path / "v", {"w": 1})
    assert (loaded_a, loaded_c) == (False, True)
    np.testing.assert_array_equal(embed(a.tower, va["video"]), embed(c.tower, va["video"]))
    manifest = json.loads((tmp_path / "v" / "manifest.json").read_text())
    assert manifest["image_tower_sha256"] == binding.weights_sha(img)
    _, loaded_d = binding.load_or_bind("video", _tower(5), tr, va, DIM, spec, tmp_path / "v", {"w": 1})
    assert not loaded_d, "another image tower must bind anew"


def test_bad_audio_is_refused():
    good = np.zeros((2, binding.CLIP_SAMPLES), np.float32)
    assert binding.audio_inputs(good, binding.SAMPLE_RATE).shape[0] == 2
    with pytest.raises(ValueError, match="8000 Hz"):
        binding.audio_inputs(good, 16000)
    with pytest.raises(ValueError, match="must hold 4000 samples"):
        binding.audio_inputs(good[:, :3000], binding.SAMPLE_RATE)
    with pytest.raises(ValueError, match="mono clips"):
        binding.audio_inputs(good[0], binding.SAMPLE_RATE)
    with pytest.raises(ValueError, match="NaN"):
        binding.audio_inputs(np.full_like(good, np.nan), binding.SAMPLE_RATE)


def test_bad_video_is_refused():
    good = np.zeros((2, 4, 16, 16, 3), np.uint8)
    assert binding.video_inputs(good, 4, 16).shape == (2, 4, 3, 16, 16)
    for bad in (good[:, :3], good[:, :, :8], good[..., :1], good[0]):
        with pytest.raises(ValueError, match=r"\(n, 4, 16, 16, 3\)"):
            binding.video_inputs(bad, 4, 16)
    with pytest.raises(ValueError, match="uint8"):
        binding.video_inputs(good.astype(np.float32), 4, 16)


def test_against_text_on_constructed_embeddings():
    rng = np.random.default_rng(0)
    txt = np.pad(rng.normal(size=(200, 15)), ((0, 0), (0, 1)))  # the text spans dims 0..14
    gap = np.eye(16)[15] * 2.0  # a constant gap orthogonal to the text's span, as the paper finds
    near = txt + 0.01 * rng.normal(size=txt.shape) + gap  # aligned up to the gap
    far = rng.normal(size=txt.shape)  # unrelated
    out = binding.against_text({"near": near, "far": far}, txt)
    assert out["near"]["R@1"] == 1.0 and out["near"]["chance_R@1"] == 1 / 200
    assert out["far"]["R@5"] < 0.1
    assert out["near"]["gap_length"] > 0.3 and out["near"]["table1"]["num_groups"] == 2
    with pytest.raises(ValueError, match="do not pair"):
        binding.against_text({"x": near[:10]}, txt)


def test_unknown_modality_is_refused():
    with pytest.raises(ValueError, match="valid: audio, video"):
        binding.new_tower("thermal", DIM)
