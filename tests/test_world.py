"""The procedural world: determinism, disjoint splits, captions consistent with their scenes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from c3lib.data import world
from c3lib.data import render as wr


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes():
    def make(seed):
        s = world.sample_scenes(40, "train", seed)
        return _digest(wr.render_images(s, 32, seed), wr.render_audio(s), wr.render_video(s, 16, 4, seed=seed)), \
            world.captions(s, seed)
    assert make(3) == make(3)
    assert make(3)[0] != make(4)[0]


def test_splits_are_disjoint_and_sized():
    keys = {split: set(world.sample_scenes(600, split, 0).keys()) for split in world.SPLITS}
    assert keys["train"].isdisjoint(keys["val"]) and keys["train"].isdisjoint(keys["test"])
    assert keys["val"].isdisjoint(keys["test"])
    assert len(world.sample_scenes(123, "val", 1)) == 123


@pytest.mark.parametrize("seed", range(12))
def test_every_caption_is_true_of_its_scene(seed):
    scenes = world.sample_scenes(60, "train", seed)
    caps = world.captions(scenes, seed)
    for i, five in enumerate(caps):
        att = scenes.attributes(i)
        assert len(five) == 5
        for cap in five:
            score = world.score_caption(cap, att)
            assert score["precision"] == 1.0, (cap, att)
            shapes = {o["shape"] for o in att["objects"]}
            assert shapes <= {v for k, v in world.mentioned(cap) if k == "shape"}, (cap, att)


def test_captions_vary_like_paraphrases():
    caps = world.captions(world.sample_scenes(200, "train", 0), 0)
    distinct = np.mean([len(set(c)) for c in caps])
    assert distinct >= 3.5, f"five captions of a scene should mostly differ, got {distinct:.2f} distinct"


def test_score_caption_exact_values():
    att = {"objects": [{"shape": "circle", "colour": "red", "size": "small"},
                       {"shape": "square", "colour": "blue", "size": "large"}], "relation": "left of"}
    assert world.score_caption("a red circle left of a blue square", att) == {"precision": 1.0, "recall": 5 / 7}
    assert world.score_caption("a blue box to the right of a tiny crimson disk", att)["precision"] == 1.0
    assert world.score_caption("a green circle", att) == {"precision": 0.5, "recall": 1 / 7}
    assert world.score_caption("nothing here", att) == {"precision": 0.0, "recall": 0.0}


def test_renders_encode_attributes():
    scenes = world.sample_scenes(300, "train", 5)
    img = wr.render_images(scenes, 32)
    # the pixel colour at a one-object scene's centre is that object's colour
    one = np.flatnonzero((scenes.n_objects == 1) & (scenes.shape[:, 0] != world.SHAPES.index("ring")))[:20]
    for i in one:
        x, y = (scenes.position[i, 0] * 32).astype(int)
        np.testing.assert_allclose(img[i, y, x] / 255, wr.RGB[scenes.colour[i, 0]], atol=0.02)
    spec = wr.log_spectrogram(wr.render_audio(scenes))
    assert spec.shape[0] == 300 and np.isfinite(spec).all()
    # the loudest frequency bin of a one-object sine tone (circle) sits at its colour's pitch
    circ = np.flatnonzero((scenes.n_objects == 1) & (scenes.shape[:, 0] == 0))[:5]
    for i in circ:
        peak_hz = spec[i].max(0).argmax() * 8000 / 256
        assert abs(peak_hz - wr.PITCH_HZ[scenes.colour[i, 0]]) < 8000 / 256


def test_bad_split_and_size():
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        world.sample_scenes(3, "dev")
    with pytest.raises(ValueError, match="n must be"):
        world.sample_scenes(0)
