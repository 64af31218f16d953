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
    first = spaces.load_or_train_space("world-scratch", RunContext("smoke"), overrides=SMALL, progress=False)
    cfg = make_config(spaces.SpaceConfig, "smoke", SMALL, seed=0, data_dir="")
    ckpt = spaces.run_dir(cfg, "world-scratch") / "model.safetensors"
    assert ckpt.exists(), "the trained towers are saved under runs/05_connect/"
    stamp = ckpt.stat().st_mtime_ns

    monkeypatch.setattr(spaces.recipes, "train_pair", _load_only)
    second = spaces.load_or_train_space("world-scratch", RunContext("smoke"), overrides=SMALL, progress=False)
    assert ckpt.stat().st_mtime_ns == stamp
    assert second["history"] == first["history"] and second["trained"] == first["trained"]
    assert second["vocab"].words == first["vocab"].words


def _load_only(model, xa, xb, spec, ckpt_dir, multi_b=False, stop_after_epoch=None, progress=True, **kwargs):
    """train_pair that refuses to run any epoch: with a finished checkpoint it only loads."""
    from c3lib import contrastive

    def no_step(*args):
        raise AssertionError("no training step may run: the finished checkpoint loads")
    model.loss = no_step  # the checkpoint is keyed by the data too, so the real pairs go through
    try:
        history = contrastive.train_pair(model, xa, xb, spec, ckpt_dir, multi_b, stop_after_epoch, progress, **kwargs)
    finally:
        del model.loss
    assert len(history["loss"]) == spec.num_epochs, "no epoch may be left to train"
    return history


def test_unknown_space_is_refused():
    with pytest.raises(ValueError, match="unknown space 'text-smell'; valid: world-clip"):
        spaces.load_or_train_space("text-smell", RunContext("smoke"))


# ---- a run folder is data: its config reads no file outside it and downloads nothing unasked ----------------
@pytest.mark.parametrize("name, spec", [
    ("efficientnet-projection", {"head": "{outside}"}), ("efficientnet-projection", {"head": "../outside.safetensors"}),
    ("efficientnet-head", {"head": "../../outside.safetensors", "dim": 4, "depth": 1, "width": 4, "norm": False}),
    ("world-image-tower", {"weights": "{outside}", "dim": 4, "image_size": 8}),
    ("openclip", {"model": "ViT-B-32", "weights": "../outside.safetensors"})])
def test_files_named_by_a_run_stay_inside_it(name, spec, tmp_path):
    from safetensors.numpy import save_file

    from c3lib.encoders.registry import embed_images

    save_file({"weight": np.ones((4, 1280), np.float32)}, str(tmp_path / "outside.safetensors"))
    run = tmp_path / "run"
    run.mkdir()
    spec = {k: v.format(outside=tmp_path / "outside.safetensors") if isinstance(v, str) else v
            for k, v in spec.items()}
    with pytest.raises(ValueError, match="outside the run folder"):
        embed_images([tmp_path / "x.png"], run, {"name": name, **spec})


def test_openclip_weights_download_only_when_allowed(tmp_path, monkeypatch):
    import urllib.request

    from c3lib.encoders.registry import embed_images

    attempts = []

    def no_network(url, *a, **k):
        attempts.append(url)
        raise OSError("offline")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("C3_WEIGHTS", str(tmp_path / "weights"))
    spec = {"name": "openclip", "model": "ViT-B-32", "weights": "openai"}
    with pytest.raises(RuntimeError, match="--allow-download"):
        embed_images([tmp_path / "x.png"], tmp_path, spec)
    assert attempts == []
    with pytest.raises(RuntimeError, match="could not download"):
        embed_images([tmp_path / "x.png"], tmp_path, spec, allow_download=True)
    assert len(attempts) == 1


def test_gpt2_tokenizers_load_local_files_only(tmp_path, monkeypatch):
    import transformers

    from c3lib import download
    from c3lib.tokenizer import CaptionTokenizer

    calls = []

    class Fake:
        eos_token_id = 0

        def __len__(self):
            return 50257

        def convert_tokens_to_ids(self, t):
            return 13

    def from_pretrained(name, **kw):
        calls.append((str(name), kw.get("local_files_only")))
        return Fake()
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_pretrained)
    pinned, fetches = tmp_path / "pinned-gpt2", []

    def ensure(model, allow_download=True):  # the pinned, checked folder of c3lib.download
        fetches.append((model, allow_download))
        return pinned
    monkeypatch.setattr(download, "ensure", ensure)
    with pytest.raises(FileNotFoundError, match="tokenizer"):
        CaptionTokenizer.load(tmp_path, "gpt2")  # a run without its tokenizer folder: no Hub lookup
    assert calls == []
    (tmp_path / "tokenizer").mkdir()
    CaptionTokenizer.load(tmp_path, "gpt2")
    assert fetches == []  # a saved run's tokenizer is its own folder, never the download
    CaptionTokenizer.gpt2()
    CaptionTokenizer.gpt2(allow_download=True)
    assert calls == [(str(tmp_path / "tokenizer"), True), (str(pinned), True), (str(pinned), True)]
    assert fetches == [("gpt2", False), ("gpt2", True)]  # fetched only when downloads are allowed
