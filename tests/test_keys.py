"""Keys that cannot go stale: change any one ingredient of a stored result and its key changes.

Covers the decoder run key (:func:`c3lib.decoders.train_key`), the space checkpoint key
(:func:`c3lib.contrastive.checkpoint_key`) and the embedding cache (:func:`c3lib.cache.embeddings`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from c3lib import cache, contrastive, decoders
from c3lib.tasks import CrossModalTask
from c3lib.trainer import TrainConfig


def _task() -> CrossModalTask:
    rng = np.random.default_rng(0)
    return CrossModalTask(name="world", train_emb=rng.normal(size=(40, 8)), train_targets=[f"c {i}" for i in range(40)],
                          val_emb=rng.normal(size=(10, 8)), val_targets=[f"v {i}" for i in range(10)],
                          unpaired_emb=rng.normal(size=(12, 8)), test_emb=rng.normal(size=(3, 8)),
                          test_refs=[["x"]] * 3, test_ids=["0", "1", "2"])


def _edit_array(name: str, row: int):
    def edit(task):
        arr = getattr(task, name).copy()
        arr[row, 3] = np.nextafter(arr[row, 3], np.inf)  # the smallest change a float can take
        return dataclasses.replace(task, **{name: arr})
    return edit


def _edit_list(name: str, item: int):
    def edit(task):
        items = list(getattr(task, name))
        items[item] = items[item] + "!"
        return dataclasses.replace(task, **{name: items})
    return edit


TASK_EDITS = {
    "train embedding row 30": _edit_array("train_emb", 30),
    "validation embedding row 9": _edit_array("val_emb", 9),
    "unpaired embedding row 11": _edit_array("unpaired_emb", 11),
    "train caption 20": _edit_list("train_targets", 20),
    "validation caption 7": _edit_list("val_targets", 7),
    "task name": lambda t: dataclasses.replace(t, name="flickr8k"),
    "embedding dtype": lambda t: dataclasses.replace(t, train_emb=t.train_emb.astype(np.float32)),
    "one fewer validation row": lambda t: dataclasses.replace(t, val_emb=t.val_emb[:-1], val_targets=t.val_targets[:-1]),
}


@pytest.mark.parametrize("ingredient", list(TASK_EDITS))
def test_decoder_key_changes_with_every_input(ingredient):
    task, cfg = _task(), TrainConfig()
    assert decoders.train_key(TASK_EDITS[ingredient](task), "C3", cfg, 0.1) != decoders.train_key(task, "C3", cfg, 0.1)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(TrainConfig)])
def test_decoder_key_changes_with_every_setting(field):
    cfg = TrainConfig()
    value = getattr(cfg, field)
    other = ("cuda" if field == "device" else value + "x" if isinstance(value, str) else (not value) if isinstance(value, bool)
             else value + 1 if isinstance(value, int) else value * 1.5 + 1e-3)
    task = _task()
    assert decoders.train_key(task, "C3", dataclasses.replace(cfg, **{field: other}), 0.1) != \
        decoders.train_key(task, "C3", cfg, 0.1)


def test_decoder_key_changes_with_variant_noise_and_code_version(monkeypatch):
    task, cfg = _task(), TrainConfig()
    base = decoders.train_key(task, "C3", cfg, 0.1)
    assert decoders.train_key(task, "C2-corrupt", cfg, 0.1) != base
    assert decoders.train_key(task, "C3", cfg, 0.1 + 1e-12) != base
    monkeypatch.setattr(decoders, "CODE_VERSION", decoders.CODE_VERSION + 1)
    assert decoders.train_key(task, "C3", cfg, 0.1) != base
    monkeypatch.undo()
    assert decoders.train_key(_task(), "C3", TrainConfig(), 0.1) == base, "and the same inputs give the same key"


def test_space_checkpoint_key_changes_with_data_and_settings():
    xa, xb = torch.zeros(6, 3), torch.ones(6, 3)
    spec = contrastive.TrainSpec()
    base = contrastive.checkpoint_key(spec, xa, xb, False)
    xa2 = xa.clone()
    xa2[5, 2] = 1e-30
    assert contrastive.checkpoint_key(spec, xa2, xb, False) != base
    assert contrastive.checkpoint_key(spec, xa, xb[:5], False) != base
    assert contrastive.checkpoint_key(spec, xa, xb, True) != base
    for f in dataclasses.fields(spec):
        v = getattr(spec, f.name)
        changed = dataclasses.replace(spec, **{f.name: "cuda" if f.name == "device" else v + 1 if isinstance(v, int)
                                               else v * 2})
        assert contrastive.checkpoint_key(changed, xa, xb, False) != base, f.name
    assert contrastive.checkpoint_key(spec, xa.clone(), xb.clone(), False) == base


def test_embedding_cache_key_changes_with_model_settings_code_and_file_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("C3_CACHE", str(tmp_path / "cache"))
    for folder, content in (("a", b"one"), ("b", b"two")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "img.png").write_bytes(content)
    calls = []

    def get(inputs, model="m", code=1, **settings):
        return cache.embeddings("e", model, inputs, lambda: calls.append(1) or np.zeros((len(inputs), 2)), code=code,
                                **({"size": 224} | settings))
    get([tmp_path / "a" / "img.png"])
    for variant in ({"inputs": [tmp_path / "b" / "img.png"]}, {"model": "m2"}, {"code": 2}, {"size": 225},
                    {"inputs": ["a caption"]}, {"inputs": ["a caption", "a caption"]}):
        before = len(calls)
        get(**{"inputs": [tmp_path / "a" / "img.png"], **variant})
        assert len(calls) == before + 1, f"{variant}: a new entry, computed"
    before = len(calls)
    get([tmp_path / "a" / "img.png"])
    assert len(calls) == before, "the same inputs and settings: a hit"
