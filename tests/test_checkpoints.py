"""Space checkpoints: one unit sealed by a manifest; folders written before manifests still load."""

from __future__ import annotations

import json

import torch
from torch import nn

from c3lib.contrastive import PairModel, TrainSpec, train_pair


def _model() -> PairModel:
    torch.manual_seed(0)
    return PairModel(nn.Linear(4, 8), nn.Linear(4, 8))


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(64, 4, generator=g), torch.randn(64, 4, generator=g)


def test_checkpoint_is_one_sealed_unit_and_keeps_the_callers_files(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "vocab.json").write_text('["a", "b"]')
    train_pair(_model(), *_data(), TrainSpec(num_epochs=2, batch_size=16), folder, progress=False)
    meta = json.loads((folder / "manifest.json").read_text())
    assert set(meta["files"]) == {"model.safetensors", "state.pt", "spec.json", "vocab.json"} and meta["epoch"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary folder is left behind"


def test_a_checkpoint_written_before_manifests_still_loads(tmp_path):
    from safetensors.torch import save_file

    spec = TrainSpec(num_epochs=2, batch_size=16)
    full = _model()
    history = train_pair(full, *_data(), spec, progress=False)
    folder = tmp_path / "old"
    folder.mkdir()
    opt = torch.optim.AdamW(full.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(folder / "model.safetensors"))
    torch.save({"optimizer": opt.state_dict(), "epoch": 1, "history": history}, folder / "state.pt")
    loaded = _model()
    assert train_pair(loaded, *_data(), spec, folder, progress=False) == history
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), full.state_dict().values()))


def test_settings_added_later_enter_the_checkpoint_key_only_when_set():
    from dataclasses import asdict

    import torch

    from c3lib.cache import content_digest, key_of
    from c3lib.contrastive import TrainSpec, checkpoint_key

    xa, xb = torch.zeros(4, 3), torch.ones(4, 3)
    old = {k: v for k, v in asdict(TrainSpec()).items()
           if k not in ("max_logit_scale", "patience", "decay_gains", "device")}
    before = key_of({"checkpoint": "contrastive", "spec": old, "multi_b": False, "data": content_digest([xa, xb])})
    assert checkpoint_key(TrainSpec(), xa, xb, False) == before  # checkpoints written before them stay valid
    assert checkpoint_key(TrainSpec(patience=3), xa, xb, False) != before
    assert checkpoint_key(TrainSpec(decay_gains=False), xa, xb, False) != before
