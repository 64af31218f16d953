"""The CLIP recipe: heads, temperature at CLIP's clamp, stopping on validation, settings checked."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from c3lib import geometry, space_pool, spaces
from c3lib.config import RunContext, make_config
from c3lib.contrastive import PairModel, TrainSpec, embed, train_pair
from c3lib.encoders.towers import MLPHead, Projection


def _frozen_pairs(n: int = 600, seed: int = 0):
    """Two frozen 'towers' with a shared latent: features in a cone (a non-zero mean), as real features are."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 16, generator=g)
    a = z @ torch.randn(16, 64, generator=g) + 3.0 + 0.3 * torch.randn(n, 64, generator=g)
    b = z @ torch.randn(16, 48, generator=g) - 2.0 + 0.3 * torch.randn(n, 48, generator=g)
    return a, b


def _train(init_t: float, a, b, epochs: int = 40) -> tuple[float, float]:
    torch.manual_seed(0)
    model = PairModel(Projection(64, 32), Projection(48, 32), init_t)
    spec = TrainSpec(epochs, 100, 5e-3, 0.0, init_t, 0, decay_gains=False)
    train_pair(model, a, b, spec, progress=False)
    za, zb = embed(model.tower_a, a), embed(model.tower_b, b)
    return float(np.linalg.norm(geometry.centroid_gap(za, zb))), model.temperature()


def test_clip_temperature_keeps_a_larger_gap_than_tau_007():
    """Lemma 2 / Fig 5: a lower temperature leaves a larger stable region, so less of the initial gap closes."""
    a, b = _frozen_pairs()
    gap_hot, t_hot = _train(0.07, a, b)
    gap_cold, t_cold = _train(0.01, a, b)
    assert t_cold <= 0.0101 < t_hot  # the clamp holds tau at 0.01
    assert gap_cold > gap_hot + 0.1


def test_early_stopping_uses_validation_and_restores_the_best_epoch(tmp_path):
    a, b = _frozen_pairs(200)
    scores = iter([0.1, 0.5, 0.3, 0.2, 0.4, 0.9, 0.9])  # best at epoch 1, then 3 epochs (2, 3, 4) without a better one
    seen = []

    def validate(model):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scores)

    torch.manual_seed(0)
    model = PairModel(Projection(64, 8), Projection(48, 8))
    hist = train_pair(model, a, b, TrainSpec(7, 50, 1e-2, patience=3), tmp_path / "run", progress=False,
                      validate=validate)
    assert hist["best_epoch"] == 1 and hist["stopped_early"] and len(hist["loss"]) == 5
    assert all(torch.equal(v, seen[1][k]) for k, v in model.state_dict().items())  # the best epoch's weights
    again = PairModel(Projection(64, 8), Projection(48, 8))  # a finished run loads at its best, trains no more
    hist2 = train_pair(again, a, b, TrainSpec(7, 50, 1e-2, patience=3), tmp_path / "run", progress=False,
                       validate=lambda m: pytest.fail("a finished run must not train or validate again"))
    assert hist2 == hist and all(torch.equal(v, seen[1][k]) for k, v in again.state_dict().items())


def test_clip_settings_are_validated():
    with pytest.raises(ValueError, match="below the clamp"):
        TrainSpec(init_temperature=0.005)
    with pytest.raises(ValueError, match="depth 1, 2 or 4"):
        make_config(spaces.SpaceConfig, "smoke", {"clip_heads": ["3"]})
    with pytest.raises(ValueError, match="clip_select"):
        make_config(spaces.SpaceConfig, "smoke", {"clip_select": 0})
    with pytest.raises(ValueError, match="depth must be"):
        MLPHead(8, 4, depth=3)
    head = MLPHead(8, 4, depth=4, width=16, norm=True)
    assert head(torch.rand(5, 8)).shape == (5, 4)
    assert sum(isinstance(m, torch.nn.LayerNorm) for m in head.modules()) == 4


def test_clip_fields_do_not_move_the_ablation_spaces():
    base = make_config(spaces.SpaceConfig, "default")
    changed = make_config(spaces.SpaceConfig, "default", {"clip_lr": 1e-3})
    assert spaces.run_dir(base, "flickr8k-locked") == spaces.run_dir(changed, "flickr8k-locked")
    assert spaces.run_dir(base, "world-scratch") == spaces.run_dir(changed, "world-scratch")
    assert spaces.run_dir(base, "flickr8k-clip") != spaces.run_dir(changed, "flickr8k-clip")


def test_world_clip_scratch_smoke_trains_at_the_clamp_and_stops_on_validation(tmp_path, monkeypatch):
    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    cfg = make_config(spaces.SpaceConfig, "smoke", {"scratch_max_epochs": 3, "patience": 1})
    rep = spaces.train_space(cfg, "world-clip-scratch", progress=False)
    h = rep["history"]
    assert len(h["val"]) == len(h["loss"]) >= 1 and rep["temperature"] <= 0.0101
    assert rep["val_score"] == max(h["val"]) and rep["test_pairs"][0].shape == (cfg.n_test, cfg.clip_dim)


def test_flickr8k_clip_task_chooses_a_head_and_its_encoder_round_trips(data_root, tmp_path, monkeypatch):
    """The smoke flickr8k-clip space picks its head by validation score; the evaluation command's encoder,
    rebuilt from the saved spec and weights, embeds the test photos exactly as the task did."""
    from c3lib import decoders, tasks
    from c3lib.encoders.registry import embed_images

    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    space = spaces.load_or_train_space("flickr8k-clip", RunContext("smoke", 0, str(data_root)), progress=False)
    cands = space["candidates"]
    assert set(cands) == set(space["config"].clip_heads)
    assert space["val_score"] == max(c["val_score"] for c in cands.values()) == cands[space["head"]]["val_score"]
    assert space["n_train"] + space["n_select"] == space["config"].clip_flickr_train
    task = tasks.build_task("flickr8k-clip", RunContext("smoke", 0, str(data_root)), 200, 20, 8, progress=False)
    assert task.name == "flickr8k-clip" and task.encoder["name"] in ("efficientnet-head", "efficientnet-projection")
    assert task.test_emb.shape == (8, space["config"].clip_dim)
    decoders._write_encoder(task, tmp_path)
    again = embed_images(task.test_paths, tmp_path, task.encoder)
    np.testing.assert_allclose(again, task.test_emb, rtol=1e-4, atol=1e-5)


def test_world_clip_reads_frozen_features_and_its_task_encoder_round_trips(tmp_path, monkeypatch):
    """world-clip: heads over cached EfficientNet-Lite0 features of the renders and MiniLM features of the
    captions, a head chosen on validation; the evaluation command's encoder, rebuilt from the saved spec and
    weights, embeds the written test renders as the task did."""
    from c3lib import decoders, tasks
    from c3lib.encoders.registry import embed_images

    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    ctx = RunContext("smoke", 0, "")
    space = spaces.load_or_train_space("world-clip", ctx, progress=False)
    assert set(space["candidates"]) == set(space["config"].clip_heads) and space["temperature"] <= 0.0101
    assert space["val_score"] == max(c["val_score"] for c in space["candidates"].values())
    task = tasks.build_task("world-clip", ctx, 200, 20, 8, progress=False)
    assert task.encoder["name"] == "efficientnet-head" and task.test_emb.shape == (8, space["config"].clip_dim)
    folder = tasks.write_flickr_folder(task, tmp_path / "imgs")
    decoders._write_encoder(task, tmp_path)
    again = embed_images(sorted((folder / "images").iterdir()), tmp_path, task.encoder)
    np.testing.assert_allclose(again, task.test_emb, rtol=1e-3, atol=1e-4)


def _pairs(shift: float, seed: int, n: int = 200, d: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Paired rows sharing a random base; ``shift`` moves every x along the first axis (0: no gap)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, d))
    x, y = base + 0.3 * rng.standard_normal((n, d)), base + 0.3 * rng.standard_normal((n, d))
    x[:, 0] += shift
    return x, y


def test_chapter05_gap_scores_have_no_sampling_floor():
    from c3lib.chapters.ch05_connect.measures import gap_scores

    x, y = _pairs(0.0, 1)
    centroid = np.linalg.norm(geometry.centroid_gap(x, y))
    scores = gap_scores(x, y, 0)
    se = scores.std() / np.sqrt(len(scores))
    assert centroid > 4 * se and abs(scores.mean()) < 2 * se, \
        "no gap: the centroid distance is well above the noise, the cross-fitted scores average to zero"
    x, y = _pairs(3.0, 2)
    assert gap_scores(x, y, 0).mean() == pytest.approx(np.linalg.norm(geometry.centroid_gap(x, y)), rel=0.02)


def test_chapter05_claims_follow_the_measured_pairs():
    from c3lib.chapters.ch05_connect import verdicts
    from c3lib.chapters.ch05_connect.setting import ConnectConfig
    from c3lib.verdict import HELD, NOT_HELD, NOT_RUN

    cfg = make_config(ConnectConfig, "smoke", {"spaces": ["world-scratch", "audio-scratch", "video-scratch",
                                                          "flickr8k-clip", "world-clip"]})
    trained = {"world-scratch": _pairs(3.0, 3), "audio-scratch": _pairs(0.0, 4), "video-scratch": _pairs(3.0, 5),
               "flickr8k-clip": _pairs(3.0, 6)}
    inits = {"world-scratch": _pairs(3.0, 7), "audio-scratch": _pairs(3.0, 8), "video-scratch": _pairs(0.0, 9),
             "flickr8k-clip": _pairs(3.0, 10)}
    reports = {s: {"test_pairs": p, "init_pairs": inits[s]} for s, p in trained.items()}
    table = {"flickr8k-clip": {"temperature": 0.07}}  # twice the target's bound: the targets cannot hold
    sweep = {"flickr8k-clip tau0=0.07": {"init_temperature": 0.07}, "flickr8k-clip tau0=0.01": {"init_temperature": 0.01}}
    sweep_pairs = {"flickr8k-clip tau0=0.07": _pairs(0.5, 11), "flickr8k-clip tau0=0.01": _pairs(3.0, 12)}
    got = {v.key: v for v in verdicts.claims(cfg, reports, table, sweep, sweep_pairs)}
    assert got["v_born_world_scratch"].verdict == got["v_kept_world_scratch"].verdict == HELD
    assert got["v_born_world_scratch"].n == 200 and got["v_born_world_scratch"].seeds == 1
    assert got["v_kept_audio_scratch"].verdict == NOT_HELD, "the gap closed in training"
    assert got["v_born_video_scratch"].verdict != HELD, "no gap at initialisation"
    assert got["v_fig5_flickr8k_clip"].verdict == HELD and got["v_targets_flickr8k_clip"].verdict == NOT_HELD
    assert "learned τ" in got["v_targets_flickr8k_clip"].statistic, "the target shown is the one missed"
    assert got["v_born_world_clip"].verdict == got["v_fig5_world_clip"].verdict == NOT_RUN, "not trained"
    reversed_pairs = {k: sweep_pairs[other] for k, other in zip(sweep_pairs, reversed(list(sweep_pairs)))}
    again = {v.key: v for v in verdicts.claims(cfg, reports, table, sweep, reversed_pairs)}
    assert again["v_fig5_flickr8k_clip"].verdict == NOT_HELD


def test_spaces_train_the_same_bits_in_a_pool_of_two_and_in_process(tmp_path, monkeypatch):
    """Chapter 05 trains its spaces (and flickr8k-clip's candidate heads, with data) as pool jobs: 2 spawned
    workers give the reports one process gives, bit for bit, and the same head is chosen."""
    root = os.environ.get("C3_DATA", "")
    with_data = bool(root) and os.path.isdir(root)
    cfg = make_config(spaces.SpaceConfig, "smoke", {"num_epochs": 2, "n_train": 128, "n_test": 32,
                                                    "scratch_max_epochs": 2}, data_dir=root)
    names = ["world-scratch", "world-clip-scratch", "world-clip", "world-clip-audio"] + (["flickr8k-clip"]
                                                                                      if with_data else [])
    out, sweeps = {}, {}
    for workers in (1, 2):
        monkeypatch.setenv("C3_RUNS", str(tmp_path / f"runs{workers}"))
        out[workers], sweeps[workers] = space_pool.train_spaces(cfg, names, workers=workers, progress=False,
                                                                sweep={"world-clip": (0.07,)})
    assert list(sweeps[1]) == [("world-clip", 0.07)] and sweeps[1][("world-clip", 0.07)]["head"] == out[1]["world-clip"]["head"]
    assert sweeps[1][("world-clip", 0.07)]["history"] == sweeps[2][("world-clip", 0.07)]["history"]
    for name in names:
        a, b = out[1][name], out[2][name]
        assert a["history"] == b["history"] and a.get("head") == b.get("head"), name
        assert all(np.array_equal(x, y) for x, y in zip(a["test_pairs"], b["test_pairs"])), name
        sa, sb = a["model"].state_dict(), b["model"].state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), name
    assert list((tmp_path / "runs2").rglob("*.safetensors")), "the pooled run trained, it did not load run 1"
