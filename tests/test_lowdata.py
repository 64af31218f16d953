"""Chapter 07's low-data fine-tuning: nested seeded subsets, fine-tuning on image embeddings, bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from c3lib import paper
from c3lib.chapters import ch07_low_data as lowdata
from c3lib.transform import C3Transform
from c3lib.metrics import TABLE_METRICS as METRICS
from c3lib.config import make_config
from c3lib.trainer import TrainConfig, encode_captions, fit_captioner, text_loss

CAPS = ["a dog runs on the grass .", "a man rides a red bike .", "two children play in the water .",
        "a cat sleeps on a sofa .", "a girl jumps into a pool .", "a brown dog swims ."]
TINY = TrainConfig(num_epochs=30, batch_size=6, warmup_steps=2, patience=1000, n_layer=1, n_embd=32, n_head=2,
                   lr=3e-3)


def test_subsets_are_nested_and_deterministic_per_seed():
    sets = {f: lowdata.fraction_subset(1000, f, seed=3) for f in (1, 5, 25, 100)}
    assert [len(s) for s in sets.values()] == [10, 50, 250, 1000]
    for small, big in ((1, 5), (5, 25), (25, 100)):
        assert set(sets[small]) <= set(sets[big])
    assert len(set(sets[100])) == 1000
    np.testing.assert_array_equal(lowdata.fraction_subset(1000, 5, seed=3), sets[5])
    assert set(lowdata.fraction_subset(1000, 5, seed=4)) != set(sets[5])  # seed-dependent
    assert len(lowdata.fraction_subset(30, 1, seed=0)) == 1  # never empty


@pytest.mark.parametrize("bad", [0, -5, 100.5, float("nan"), True, "5"])
def test_fraction_outside_range_is_rejected(bad):
    with pytest.raises(ValueError, match=r"fraction must be a percentage in \(0, 100\]"):
        lowdata.fraction_subset(100, bad, seed=0)


def test_run_rejects_bad_fraction_before_any_work():
    with pytest.raises(ValueError, match=r"'fractions' of LowDataConfig must be in \(0, 100\], got 150.0"):
        make_config(lowdata.LowDataConfig, "smoke", {"fractions": [5, 150]})  # the config refuses it first
    cfg = dataclasses.replace(make_config(lowdata.LowDataConfig, "smoke"), fractions=(5.0, 150.0))
    with pytest.raises(ValueError, match="got 150.0"):
        lowdata.run(cfg, progress=False)


def test_validation_images_are_disjoint_from_the_pool():
    pool, val = lowdata.split_images(50, 8, seed=1)
    assert len(val) == 8 and len(pool) == 42 and not set(pool) & set(val)
    assert sorted(set(pool) | set(val)) == list(range(50))
    with pytest.raises(ValueError, match="n_val_images"):
        lowdata.split_images(5, 5, seed=0)


def test_flatten_and_cycle_pairs():
    emb = np.arange(6.0).reshape(3, 2)
    x, caps = lowdata.flatten_pairs(emb, [["a", "b"], ["c"], ["d", "e"]])
    assert caps == list("abcde") and x[:, 0].tolist() == [0, 0, 2, 4, 4]
    xc, cc = lowdata.cycled(x, caps, 12)
    assert len(cc) == 12 and cc[:5] == caps and cc[5:10] == caps and (xc[5] == x[0]).all()
    assert lowdata.cycled(x, caps, 2)[1] == caps  # never shortened


@pytest.fixture(scope="module")
def pretrained_and_images():
    """A tiny decoder trained on 'text' embeddings; 'images' are the same points shifted by a constant gap."""
    rng = np.random.default_rng(0)
    txt = rng.normal(size=(len(CAPS), 16))
    img = txt + 3.0 * np.eye(16)[0] + 0.3 * rng.normal(size=txt.shape)
    cap = fit_captioner(txt, CAPS, C3Transform.variant("C3", noise_std=0.05), TINY, target_emb=img)
    return cap, img


def _image_loss(cap, img):
    x = torch.as_tensor(cap.transform.transform(img, modality="target", train=False), dtype=torch.float32)
    return text_loss(cap.model, x, encode_captions(cap.tokenizer, CAPS), cap.tokenizer.pad_id, 64)


def test_finetune_on_images_reduces_their_loss_and_leaves_the_pretrained_alone(pretrained_and_images):
    cap, img = pretrained_and_images
    before = {k: v.clone() for k, v in cap.model.state_dict().items()}
    loss_pre = _image_loss(cap, img)
    log: list = []
    tuned = lowdata.finetune(cap, img, CAPS, TrainConfig(**{**TINY.__dict__, "num_epochs": 5}), min_steps=20,
                             log=log)
    assert len(log) == 5 and log[-1]["train_loss"] < log[0]["train_loss"]
    assert _image_loss(tuned, img) < loss_pre
    assert all(torch.equal(v, cap.model.state_dict()[k]) for k, v in before.items())


def test_supervised_from_scratch_reduces_loss():
    img = np.random.default_rng(2).normal(size=(len(CAPS), 16))
    log: list = []
    cap = lowdata.supervised(img, CAPS, TINY, val=(img, CAPS), min_steps=240, log=log)  # 8 steps an epoch
    assert log[-1]["train_loss"] < log[0]["train_loss"] / 2 and log[-1]["val_loss"] < log[0]["val_loss"]
    assert cap.tokenizer.vocab_size < 40  # learnt from these pairs' captions only
    assert cap.caption_raw(img, "source") == [c.replace(" .", ".") for c in CAPS]


def test_bad_pairs_get_clear_errors(pretrained_and_images):
    cap, img = pretrained_and_images
    with pytest.raises(ValueError, match="dim 8 but the pre-trained captioner expects dim 16"):
        lowdata.finetune(cap, img[:, :8], CAPS, TINY)
    nan = img.copy()
    nan[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lowdata.finetune(cap, nan, CAPS, TINY)
    with pytest.raises(ValueError, match="NaN"):
        lowdata.supervised(nan, CAPS, TINY)
    with pytest.raises(ValueError, match="caption list is empty"):
        lowdata.finetune(cap, img[:0], [], TINY)
    with pytest.raises(ValueError, match="caption list is empty"):
        lowdata.supervised(img, [], TINY)
    with pytest.raises(ValueError, match="one \\(n, d\\) image embedding per caption"):
        lowdata.supervised(img, CAPS[:3], TINY)


def test_paper_table5_is_complete_and_shows_the_claim():
    for f, rows in paper.TABLE5.items():
        assert set(rows) == set(lowdata.METHODS) and all(len(v) == len(METRICS) for v in rows.values())
    cider = lambda f, m: lowdata.paper_value(f, m, "CIDEr")  # noqa: E731
    assert cider(1, "C3") - cider(1, "ClipCap") > cider(100, "C3") - cider(100, "ClipCap")
    assert cider(0, "C3") == 93.3 and cider(0, "ClipCap") is None


def test_pool_size_and_validation_stay_disjoint():
    pool, val = lowdata.split_images(50, 8, seed=1, n_pool=20)
    assert len(pool) == 20 and len(val) == 8 and not set(pool) & set(val)
    np.testing.assert_array_equal(val, lowdata.split_images(50, 8, seed=1)[1])  # same validation images


def test_early_stopping_keeps_the_pretrained_decoder_when_no_epoch_helps(pretrained_and_images):
    cap, img = pretrained_and_images
    frozen = TrainConfig(**{**TINY.__dict__, "num_epochs": 2, "lr": 0.0})
    assert lowdata.finetune(cap, img, CAPS, frozen, val=(img, CAPS)) is cap
    tuned = lowdata.finetune(cap, img, CAPS, TrainConfig(**{**TINY.__dict__, "num_epochs": 5}), val=(img, CAPS),
                             min_steps=20)
    assert tuned is not cap and lowdata.pair_loss(tuned, img, CAPS) < lowdata.pair_loss(cap, img, CAPS)


def _runs(scores, kept=()):
    """Run rows: (fraction, method) -> one per-item CIDEr array per seed."""
    return [{"fraction": f, "method": m, "seed": s, "items": {"CIDEr": list(x)}, "kept_pretrained": (f, m) in kept}
            for (f, m), per in scores.items() for s, x in enumerate(per)]


BASE = np.random.default_rng(0).uniform(0, 40, size=50)  # per-image difficulty: cancels when paired
WOBBLE = np.tile([3.0, -3.0], 25)  # mean 0, large per image: an ordering inside the noise


def _seeds(shift, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return [BASE + shift + rng.normal(0, 0.3, 50) for _ in range(k)]


def test_claims_are_paired_verdicts_over_items_and_seeds():
    scores = {(1.0, "ClipCap"): _seeds(0), (1.0, "C3"): _seeds(8, seed=1), (1.0, "C2-corrupt"): _seeds(7, seed=2),
              (1.0, "C1"): _seeds(1, seed=3), (1.0, "C2-collapse"): _seeds(1, seed=4),
              (100.0, "ClipCap"): _seeds(0, 1), (100.0, "C3"): _seeds(1, 1, seed=5)}
    found = lowdata.claims(_runs(scores), (1.0, 100.0), "space A")
    got = {v.key: v for v in found}
    assert set(got) == {"v_beats", "v_shrinks", "v_corrupt"} and {v.space for v in found} == {"space A"}
    assert got["v_beats"].verdict == "held" and got["v_beats"].effect == pytest.approx(8, abs=0.2)
    assert got["v_beats"].n == 50 and got["v_beats"].seeds == 3
    assert got["v_shrinks"].verdict == "held" and got["v_shrinks"].effect == pytest.approx(7, abs=0.5)
    assert got["v_corrupt"].verdict == "held"


def test_an_ordering_inside_the_noise_is_within_noise_and_a_reversed_one_not_held():
    scores = {(1.0, "ClipCap"): _seeds(0), (1.0, "C3"): _seeds(0.3, seed=1), (1.0, "C2-corrupt"): _seeds(0.3, seed=1),
              (1.0, "C1"): _seeds(-5, seed=3), (5.0, "ClipCap"): _seeds(0), (5.0, "C3"): _seeds(-4, seed=6),
              (100.0, "ClipCap"): _seeds(0, 1), (100.0, "C3"): _seeds(2, 1, seed=5)}
    scores[1.0, "C2-collapse"] = [x + 0.3 + WOBBLE for x in scores[1.0, "C3"]]  # collapse "leads" by 0.3 ± 3
    got = {v.key: v for v in lowdata.claims(_runs(scores), (1.0, 5.0, 100.0), "s")}
    assert got["v_corrupt"].verdict == "within noise" and got["v_corrupt"].effect == pytest.approx(-0.3, abs=1e-9)
    assert got["v_beats"].verdict == "held"  # 0.3 over ClipCap with seed noise 0.3/sqrt(50): resolved
    assert got["v_beats_5"].verdict == "not held" and got["v_beats_5"].high < 0
    assert got["v_shrinks"].verdict == "not held"  # 0.3 at 1 % against 2 at 100 %: the advantage grows


def test_claims_say_what_the_run_cannot_test():
    one = {(1.0, "ClipCap"): _seeds(0, 1), (1.0, "C3"): _seeds(2, 1)}
    got = {v.key: v for v in lowdata.claims(_runs(one), (1.0,), "s")}
    assert got["v_shrinks"].verdict == "not enough data" and got["v_corrupt"].verdict == "not run at this preset"
    assert got["v_beats"].seeds == 1 and "one seed" in got["v_beats"].method
    no_clipcap = {k: v for k, v in one.items() if k[1] != "ClipCap"}
    got = {v.key: v for v in lowdata.claims(_runs(no_clipcap), (1.0, 100.0), "s")}
    assert got["v_beats"].verdict == got["v_shrinks"].verdict == "not run at this preset"


def test_kept_counts_and_mean_advantage():
    runs = [{"fraction": 1.0, "method": "C3", "kept_pretrained": True},
            {"fraction": 1.0, "method": "C1", "kept_pretrained": False},
            {"fraction": 100.0, "method": "C3", "kept_pretrained": True},
            {"fraction": 1.0, "method": "ClipCap", "kept_pretrained": False},
            {"fraction": 0.0, "method": "C3", "kept_pretrained": False}]
    assert lowdata.kept_pretrained(runs) == {"1": 1, "100": 1}
    summary = [{"fraction": f, "method": m, "CIDEr": c} for f, m, c in
               ((1.0, "ClipCap", 10.0), (1.0, "C3", 18.0), (100.0, "ClipCap", 30.0), (100.0, "C3", 31.0))]
    assert lowdata.mean_advantage(summary, (1.0, 100.0)) == {"1": 8.0, "100": 1.0}
