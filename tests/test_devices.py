"""``device="auto"``: cuda where torch sees a GPU, else cpu, resolved once where a config is built, so that on a
machine without a GPU every run key is the one it was before the device became a setting."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from c3lib import contrastive, decoders, devices, results
from c3lib.cache import key_of
from c3lib.config import build
from c3lib.tasks import CrossModalTask
from c3lib.trainer import TrainConfig

# Keys computed by the code before devices were resolved (TrainConfig.device was "cpu", TrainSpec had no
# device). They change only when a key's recipe changes on purpose (e.g. decoders.CODE_VERSION), never with
# the device on a CPU machine.
KEYS_BEFORE = {
    "decoder-smoke": "2fb193b94c1eca44efc1",
    "decoder-default": "18b3e31718dfcc73e58d",
    "decoder-paper": "c6305e3a5f65ea285056",
    "space-default": "9fd43a3f6a483b0e1886",
    "space-clip": "401392f5084a59d1686f",
    "bind-spec": "a91ab66a778c475433e2",
}


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.delenv(devices.ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def a_gpu(monkeypatch):
    monkeypatch.delenv(devices.ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_auto_is_cuda_with_a_gpu_and_cpu_without(no_gpu, monkeypatch):
    assert devices.resolve() == devices.resolve("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve("auto") == "cuda"
    assert devices.resolve("cpu") == "cpu" and devices.resolve("cuda:1") == "cuda:1"  # explicit wins


def test_c3_device_overrides_auto_only(a_gpu, monkeypatch):
    monkeypatch.setenv(devices.ENV_VAR, "cpu")
    assert devices.resolve("auto") == "cpu"  # a GPU machine kept on the CPU
    assert devices.resolve("cuda") == "cuda"
    monkeypatch.setenv(devices.ENV_VAR, "tpu")
    with pytest.raises(ValueError, match="valid: auto, cpu, cuda"):
        devices.resolve("auto")


def test_configs_resolve_auto_where_they_are_built(a_gpu, monkeypatch):
    assert TrainConfig().device == "cuda" and build(TrainConfig, "paper").device == "cuda"
    assert contrastive.TrainSpec().device == "cuda"
    assert devices.key_entry() == {"device": "cuda"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert TrainConfig().device == "cpu" and contrastive.TrainSpec().device == "cpu"
    assert devices.key_entry() == {}
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        TrainConfig(device="gpu")


def _keys() -> dict[str, str]:
    rng = np.random.default_rng(0)
    task = CrossModalTask(name="world", train_emb=rng.normal(size=(40, 8)), train_targets=[f"c {i}" for i in range(40)],
                          val_emb=rng.normal(size=(10, 8)), val_targets=[f"v {i}" for i in range(10)],
                          unpaired_emb=rng.normal(size=(12, 8)), test_emb=rng.normal(size=(3, 8)),
                          test_refs=[["x"]] * 3, test_ids=["0", "1", "2"])
    out = {f"decoder-{p}": decoders.train_key(task, "C3", build(TrainConfig, p), 0.1)
           for p in ("smoke", "default", "paper")}
    g = torch.Generator().manual_seed(0)
    xa, xb = torch.randn(32, 6, generator=g), torch.randn(32, 6, generator=g)
    out["space-default"] = contrastive.checkpoint_key(contrastive.TrainSpec(), xa, xb, False)
    clip = contrastive.TrainSpec(5, 16, 1e-3, 0.1, 0.01, 2, patience=3, decay_gains=False)
    out["space-clip"] = contrastive.checkpoint_key(clip, xa, xb, True)
    out["bind-spec"] = key_of({"spec": contrastive.TrainSpec(4, 16, 2e-3, seed=1).key_settings()})
    return out


def test_default_cpu_keys_equal_the_keys_before_devices(no_gpu):
    assert _keys() == KEYS_BEFORE


def test_a_gpu_changes_the_keys(a_gpu):
    """A model trained on a GPU differs in its last bits: it is stored apart from the CPU one."""
    gpu = _keys()
    assert all(gpu[k] != KEYS_BEFORE[k] for k in KEYS_BEFORE)
    assert "device" not in contrastive.TrainSpec(device="cpu").key_settings()
    assert contrastive.TrainSpec().key_settings()["device"] == "cuda"


def test_results_record_the_device(no_gpu, tmp_path, monkeypatch):
    monkeypatch.setenv("C3_RESULTS", str(tmp_path))
    path = results.save("00_demo", {"preset": "smoke"}, {"x": 1.0}, {}, results.Timer())
    assert json.loads(path.read_text())["device"] == {"device": "cpu", "name": None}
