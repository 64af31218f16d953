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
    assert "coco-clip" in cfg.spaces and cfg.seeds_of("coco-clip") == (0, 1, 2)
    monkeypatch.setattr(im, "inception_score_available", lambda: False)
    with pytest.raises(ModuleNotFoundError, match="torch-fidelity"):
        ch.run(cfg, progress=False)  # refused before any task is built or generator trained
    assert im.inception_score(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))[0] is None  # offline: None, never 0
