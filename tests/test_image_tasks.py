"""Chapter 08's paper setting, ``coco-clip``, end to end on a fake Karpathy copy without downloads
(random-init ViT-B-32 stands in for CLIP ``openai``), and the guards that keep it off smoke and default."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c3lib import image_metrics as im
from c3lib import image_tasks
from c3lib.chapters import ch08_text_to_image as ch
from c3lib.config import ConfigError, RunContext, make_config


def _stand_in_clip(monkeypatch, loads: list):
    from c3lib.encoders import openclip as oc

    real_load = oc.load_openclip

    def stand_in(name, weights=None, seed=0, allow_download=False):
        assert (name, weights, allow_download) == ("ViT-B-32", "openai", True)
        loads.append(name)
        return real_load(name, None, seed=0)

    monkeypatch.setattr(oc, "load_openclip", stand_in)


def test_coco_task_on_a_fake_karpathy_copy(tmp_path, monkeypatch):
    from test_geometry_stats import _fake_karpathy, _no_download

    _no_download(monkeypatch)
    _fake_karpathy(tmp_path)  # train+restval: entries 0, 1, 4, 5; val + test: 2, 3
    monkeypatch.setenv("C3_CACHE", str(tmp_path / "cache"))
    loads = []
    _stand_in_clip(monkeypatch, loads)
    with pytest.raises(ValueError, match="paper preset only"):
        image_tasks.build_task("coco-clip", RunContext("default", 0, str(tmp_path)), 0, 1, 16)
    with pytest.raises(ValueError, match="needs 4 Karpathy val"):
        image_tasks.build_task("coco-clip", RunContext("paper", 0, str(tmp_path)), 0, 2, 16)
    task = image_tasks.build_task("coco-clip", RunContext("paper", 0, str(tmp_path)), 0, 1, 16)
    assert task["img_train"].shape == (4, 512) and task["txt_train"].shape == (8, 512)  # 2 captions an image
    assert task["images_train"].shape == (4, 3, 16, 16) and task["images_train"].dtype == torch.uint8
    assert task["images_test"].shape == (2, 3, 16, 16) and task["img_test"].shape == (1, 512)
    assert task["prompts"][0] in ("A picture number 2.", "Another caption 2.") and task["txt_test"].shape == (1, 512)
    assert 0 < task["space_gap"] < 2
    feats = image_tasks.tower_features(task, task["images_test"])
    assert feats.shape == (2, 512) and np.isfinite(feats).all()
    assert not np.allclose(feats[0], feats[1]), "two different photos gave the same CLIP features"
    from c3lib.encoders import openclip as oc

    def refuse(*args, **kwargs):
        raise AssertionError("an embedding was computed again")

    monkeypatch.setattr(oc, "encode_images", refuse)
    monkeypatch.setattr(oc, "encode_texts", refuse)
    again = image_tasks.build_task("coco-clip", RunContext("paper", 0, str(tmp_path)), 0, 1, 16)  # every embedding cached
    assert np.array_equal(again["img_train"], task["img_train"]) and again["prompts"] == task["prompts"]


def test_coco_clip_is_the_paper_presets_and_its_inception_score_needs_torch_fidelity(monkeypatch):
    with pytest.raises(ConfigError, match="preset 'paper' only"):
        make_config(ch.TextToImageConfig, "default", {"spaces": ["coco-clip"]})
    cfg = make_config(ch.TextToImageConfig, "paper")
    assert "coco-clip" in cfg.spaces and cfg.seeds == (0, 1, 2)
    monkeypatch.setattr(im, "inception_score_available", lambda: False)
    with pytest.raises(ModuleNotFoundError, match="torch-fidelity"):
        ch.run(cfg, progress=False)  # refused before any task is built or generator trained
    assert im.inception_score(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))[0] is None  # offline: None, never 0


class _Loaded(Exception):
    """Raised by the stand-in space loader once it has recorded the context it was given."""


@pytest.mark.parametrize("preset", ["smoke", "default", "paper"])
def test_a_task_reads_the_spaces_of_its_own_preset(monkeypatch, preset):
    asked = []

    def record(name, ctx, *args, **kwargs):
        asked.append((name, ctx.preset))
        raise _Loaded

    monkeypatch.setattr(image_tasks, "load_or_train_space", record)
    for space in image_tasks.SPACES:
        if space in image_tasks.PAPER_ONLY:
            continue
        with pytest.raises(_Loaded):
            image_tasks.build_task(space, RunContext(preset, 0, ""), 0, 8, 16)
    assert asked == [(s, preset) for s in image_tasks.SPACES if s not in image_tasks.PAPER_ONLY]


def test_an_unknown_space_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="valid: world-clip, world-clip-scratch"):
        image_tasks.build_task("world-clip-2", RunContext("smoke"))


KEYS = {"img_train", "txt_train", "images_train", "attrs_train", "img_val", "images_val", "attrs_val", "img_test",
        "txt_test", "images_test", "attrs_test", "prompts", "tower_module", "tower_input", "space_gap"}


def _rows(images: torch.Tensor) -> set[bytes]:
    return {x.numpy().tobytes() for x in images}


def _check_shapes(task: dict, n_eval: int, size: int, attrs: bool = True) -> None:
    n, d = task["img_train"].shape
    assert task["txt_train"].shape == (5 * n, d)
    assert task["images_train"].shape == (n, 3, size, size) and task["images_train"].dtype == torch.uint8
    assert task["img_val"].shape == task["img_test"].shape == task["txt_test"].shape == (n_eval, d)
    assert task["images_val"].shape == (n_eval, 3, size, size) and task["images_val"].dtype == torch.uint8
    assert task["images_test"].shape == (2 * n_eval, 3, size, size) and len(task["prompts"]) == n_eval
    if attrs:
        assert (len(task["attrs_train"]), len(task["attrs_val"]), len(task["attrs_test"])) == (n, n_eval, 2 * n_eval)
    for key in ("img_train", "txt_train", "img_val", "img_test", "txt_test"):
        assert np.isfinite(task[key]).all(), key
    # validation images are held out from training and are not test images
    assert not _rows(task["images_val"]) & _rows(task["images_test"])
    assert not _rows(task["images_val"]) & _rows(task["images_train"])


def test_world_clip_task_embeds_the_cached_renders_and_validates_off_the_test_split():
    """The smoke world-clip space (trained on first use): every key of the world tasks, val scenes from the val
    split, and the space's image encoder on the task's own 32 px renders (the smoke render size) giving back
    the task's test embeddings."""
    ctx = RunContext("smoke", 0, "")
    render = image_tasks.load_or_train_space("world-clip", ctx, progress=False)["config"].image_size
    task = image_tasks.build_task("world-clip", ctx, 0, 8, render)
    assert set(task) == KEYS | {"text_module"} and task["tower_input"] == image_tasks.FROZEN_INPUT
    _check_shapes(task, 8, render)
    assert len(task["img_train"]) == 256 and all(task["prompts"]) and 0 < task["space_gap"] < 2
    feats = image_tasks.tower_features(task, task["images_test"][:4])
    np.testing.assert_allclose(feats, task["img_test"][:4], rtol=1e-4, atol=1e-5)
    small = image_tasks.build_task("world-clip", ctx, 100, 8, render // 2)  # renders resized; the first 100 scenes
    _check_shapes(small, 8, render // 2)
    assert np.array_equal(small["img_train"], task["img_train"][:100]) and small["prompts"] == task["prompts"]
    feats = image_tasks.tower_features(small, small["images_test"][:4])
    assert feats.shape == (4, task["img_test"].shape[1]) and np.isfinite(feats).all()


@pytest.mark.parametrize("space", ["world-clip-scratch", "world-scratch"])
def test_world_tasks_from_random_init_have_validation_scenes(space):
    task = image_tasks.build_task(space, RunContext("smoke", 0, ""), 0, 8, 16)
    assert set(task) == KEYS
    _check_shapes(task, 8, 16)


def test_flickr_task_validates_on_the_photos_the_space_held_out(data_root):
    task = image_tasks.build_task("flickr8k-clip", RunContext("smoke", 0, str(data_root)), 0, 8, 16)
    assert set(task) == (KEYS - {"attrs_train", "attrs_val", "attrs_test"}) | {"text_module"}
    _check_shapes(task, 8, 16, attrs=False)
    cfg = image_tasks.load_or_train_space("flickr8k-clip", RunContext("smoke", 0, str(data_root)),
                                          progress=False)["config"]
    assert len(task["img_train"]) == cfg.clip_flickr_train - cfg.clip_select  # the held-out photos are not trained on
    with pytest.raises(ValueError, match="clip_select"):
        image_tasks.build_task("flickr8k-clip", RunContext("smoke", 0, str(data_root)), 0, cfg.clip_select + 1, 16)
