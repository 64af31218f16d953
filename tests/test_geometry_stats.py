"""Table 1 statistics (``c3lib.geometry.gap_statistics``): exact values on constructed spaces, bad inputs,
and the paper's numbers on the real pretrained CLIP features where the data folder is present."""

from __future__ import annotations

import numpy as np
import pytest

from c3lib.chapters import ch04_geometry_statistics as gapstats
from c3lib.config import make_config
from c3lib.geometry import gap_statistics


def _constructed(n=200, d=16, seed=0):
    """y on the first 4 dims, x = y + a constant gap on dim 10 plus noise on dim 11 only."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, d))
    y[:, :4] = rng.standard_normal((n, 4))
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    x = y.copy()
    x[:, 10] = 1.0
    x[:, 11] = rng.choice([-0.1, 0.1], n)
    return x, y


def test_exact_values_on_a_constructed_space():
    x, y = _constructed()
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    st = gap_statistics(x, y, group_size=50, seed=1)
    assert st.num_groups == 4 and st.samples["gap_length"].shape == (4,)
    assert st.samples["gap_direction"].shape == (6,)  # all pairs of 4 groups
    assert st.samples["orthogonality"].shape == (4 * 50 * 49 // 2,)
    assert st.samples["noise_mean"].shape == (16,)
    np.testing.assert_allclose(st.samples["noise_mean"], 0, atol=1e-15)
    # the rows of x have norms sqrt(1 + 1 + 0.01): the normalised gap is known in closed form per group
    assert st.mean("gap_direction") > 0.99
    assert st.centroid_gap == pytest.approx(np.linalg.norm(xn.mean(0) - y.mean(0)), abs=1e-12)
    assert st.noise_std.shape == (16,)


def test_image_differences_orthogonal_to_a_gap_outside_the_span():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((100, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    x, y = np.zeros((100, 8)), np.zeros((100, 8))
    x[:, :3], y[:, :3] = 0.6 * u, 0.6 * u  # unit rows: a shared span plus one constant per modality
    x[:, 7], y[:, 6] = 0.8, 0.8
    st = gap_statistics(x, y, group_size=25)
    np.testing.assert_allclose(st.samples["orthogonality"], 0, atol=1e-12)
    np.testing.assert_allclose(st.samples["gap_length"], 0.8 * np.sqrt(2), atol=1e-12)
    np.testing.assert_allclose(st.samples["gap_direction"], 1.0, atol=1e-12)  # the same gap in every group
    np.testing.assert_allclose(st.noise_std, 0, atol=1e-12)


def _within_group_noise_cosines(x, y, group_size, seed):
    """The biased estimator: cosines between the noises of one group, which sum to zero by construction."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    perm = np.random.default_rng(seed).permutation(len(x))
    idx = perm[: len(x) // group_size * group_size].reshape(-1, group_size)
    diff = x[idx] - y[idx]
    noise = diff - diff.mean(axis=1, keepdims=True)
    unit = noise / np.linalg.norm(noise, axis=2, keepdims=True)
    iu = np.triu_indices(group_size, k=1)
    return np.concatenate([(u @ u.T)[iu] for u in unit])


def test_noise_direction_compares_noises_of_different_groups():
    """Pure isotropic Gaussian noise has no preferred direction: the cosines between noises of different groups
    average 0, while those within a group average -1/(g - 1) (its noises sum to zero), whatever the noise."""
    rng = np.random.default_rng(3)
    n, d, g = 2000, 64, 10
    x, y = rng.standard_normal((n, d)), rng.standard_normal((n, d))  # no gap, no span: isotropic differences
    within = _within_group_noise_cosines(x, y, g, seed=0)
    assert within.mean() == pytest.approx(-1 / (g - 1), abs=0.01)
    st = gap_statistics(x, y, group_size=g, seed=0)
    assert abs(st.mean("noise_direction")) < 0.003, "the estimator is biased towards -1/(g - 1)"
    assert st.samples["noise_direction"].shape == (n // g * g * g,)  # every noise of a group against the next's
    assert st.std("noise_direction") == pytest.approx(1 / np.sqrt(d), rel=0.1)  # isotropic: 1/sqrt(d)
    np.testing.assert_allclose(st.per_group["noise_direction"].mean(), st.mean("noise_direction"), atol=1e-12)


def test_per_group_values_average_to_the_statistics():
    x, y = _constructed()
    st = gap_statistics(x, y, group_size=50, seed=1)
    assert {k: v.shape for k, v in st.per_group.items()} == dict.fromkeys(
        ("gap_length", "gap_direction", "orthogonality", "orthogonality_sq", "noise_direction"), (4,))
    for stat in ("gap_length", "gap_direction", "orthogonality", "noise_direction"):
        assert st.per_group[stat].mean() == pytest.approx(st.mean(stat), abs=1e-12), stat
    assert st.per_group["orthogonality_sq"].mean() == pytest.approx(np.mean(st.samples["orthogonality"] ** 2))
    two = gap_statistics(x[:100], y[:100], group_size=50, seed=1)
    assert two.per_group["noise_direction"].shape == (1,), "two groups make one comparison, not two copies"


def test_one_group_is_refused_not_nan():
    """One group has no pair of group gaps to compare: a clear error, never a NaN direction."""
    x, y = _constructed(n=59)
    with pytest.raises(ValueError, match="only one group of 30.*group_size <= 29"):
        gap_statistics(x, y, group_size=30)
    assert gap_statistics(x[:60 - 1], y[:59], group_size=29).num_groups == 2


def test_seed_changes_grouping_only():
    x, y = _constructed()
    a, b = gap_statistics(x, y, 50, seed=0), gap_statistics(x, y, 50, seed=1)
    assert a.centroid_gap == b.centroid_gap
    assert not np.allclose(np.sort(a.samples["gap_length"]), np.sort(b.samples["gap_length"]))


@pytest.mark.parametrize("case, match", [
    ("shape", "same shape"), ("nan", "NaN"), ("small", "fewer than one group"), ("zero", "zero vector"),
    ("group", "group_size"), ("constant", "no two distinct rows"),
])
def test_bad_inputs_raise_clearly(case, match):
    x, y = _constructed(n=60)
    kwargs = {"group_size": 20}
    if case == "shape":
        y = y[:, :8]
    elif case == "nan":
        x[3, 2] = np.nan
    elif case == "small":
        kwargs["group_size"] = 100
    elif case == "zero":
        y[5] = 0.0
    elif case == "group":
        kwargs["group_size"] = 1
    elif case == "constant":
        x[:] = x[0]
    with pytest.raises(ValueError, match=match):
        gap_statistics(x, y, **kwargs)


def _no_download(monkeypatch):
    from c3lib import download

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download weights")

    monkeypatch.setattr(download, "download_checked", refuse)


def test_paper_preset_explains_what_is_missing(tmp_path, monkeypatch):
    from c3lib.data.loaders import DataNotFoundError

    _no_download(monkeypatch)
    monkeypatch.delenv("C3_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="no data folder"):
        gapstats.all_spaces(make_config(gapstats.GeometryStatsConfig, "paper"))
    cfg = make_config(gapstats.GeometryStatsConfig, "paper", data_dir=str(tmp_path))
    with pytest.raises(DataNotFoundError) as err:
        gapstats.all_spaces(cfg)
    msg = str(err.value)
    assert str(tmp_path / "coco-karpathy" / "dataset_coco.json") in msg  # names the missing path...
    assert "Karpathy" in msg and "train2014" in msg and "cocodataset.org" in msg  # ...and how to get it


def _fake_karpathy(root, splits=("train", "restval", "val", "test", "train", "restval")):
    """A tiny Karpathy-format copy: one generated image per entry, two captions each."""
    import json

    from PIL import Image

    rng = np.random.default_rng(0)
    entries = []
    for i, split in enumerate(splits):
        sub = "val2014" if split != "train" else "train2014"
        name = f"COCO_{sub}_{i:012d}.jpg"
        folder = root / "coco-karpathy" / "images" / sub
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40 + i, 48, 3), dtype=np.uint8)).save(folder / name)
        entries.append({"filepath": sub, "filename": name, "imgid": i, "cocoid": 1000 + i, "split": split,
                        "sentences": [{"raw": f" A picture number {i}. ", "tokens": ["a"]},
                                      {"raw": f"Another caption {i}.", "tokens": ["b"]}]})
    (root / "coco-karpathy" / "dataset_coco.json").write_text(json.dumps({"images": entries, "dataset": "coco"}))
    return entries


def test_karpathy_loader_reads_train_and_restval(tmp_path):
    from c3lib.data.loaders import DataNotFoundError, load_coco_karpathy

    _fake_karpathy(tmp_path)
    pairs = load_coco_karpathy(tmp_path)  # default: train + restval, in the file's order
    assert [p.name for p in pairs.image_paths] == [f"COCO_{s}_{i:012d}.jpg" for i, s in
                                                   ((0, "train2014"), (1, "val2014"), (4, "train2014"), (5, "val2014"))]
    assert all(p.exists() for p in pairs.image_paths)
    assert pairs.captions[0] == ["A picture number 0.", "Another caption 0."]
    assert [c[0] for c in load_coco_karpathy(tmp_path, ("train",)).captions] == ["A picture number 0.",
                                                                                  "A picture number 4."]
    assert len(load_coco_karpathy(tmp_path, ("test",)).image_paths) == 1
    assert len(load_coco_karpathy(tmp_path, limit=3).image_paths) == 3
    with pytest.raises(ValueError, match="subset"):
        load_coco_karpathy(tmp_path, ("training",))
    gone = tmp_path / "coco-karpathy" / "images" / "val2014" / f"COCO_val2014_{1:012d}.jpg"
    gone.unlink()
    with pytest.raises(DataNotFoundError, match="1 of 4 image"):
        load_coco_karpathy(tmp_path)


def test_paper_space_encodes_and_caches_the_karpathy_pairs(tmp_path, monkeypatch):
    """The paper path end to end on the fake layout, with random-init weights standing in for 'openai'."""
    from c3lib.encoders import openclip as oc

    _no_download(monkeypatch)
    _fake_karpathy(tmp_path)
    monkeypatch.setenv("C3_CACHE", str(tmp_path / "cache"))
    real_load, loads = oc.load_openclip, []

    def stand_in(name, weights=None, seed=0, allow_download=False):
        assert (name, weights, allow_download) == ("ViT-B-32", "openai", True)  # what the paper path asks for
        loads.append(name)
        return real_load(name, None, seed=0)

    monkeypatch.setattr(oc, "load_openclip", stand_in)
    cfg = make_config(gapstats.GeometryStatsConfig, "paper", {"spaces": [], "openclip_pairs": 0,
                                                              "small_group_size": 2, "batch_size": 3},
                      data_dir=str(tmp_path))
    out = gapstats.all_spaces(cfg, progress=False)
    rep = out["clip_coco_karpathy"]
    assert list(out) == ["clip_coco_karpathy"] and rep["n"] == 4 and rep["group_size"] == 2
    assert "Karpathy train + restval" in rep["label"] and loads == ["ViT-B-32"]
    again = gapstats.all_spaces(cfg, progress=False)  # cached: the model is not even loaded
    assert loads == ["ViT-B-32"]
    assert again["clip_coco_karpathy"]["gap_length_mean"] == rep["gap_length_mean"]


def test_pretrained_clip_matches_table_1(data_root):
    from c3lib.data.loaders import load_pair_features

    st = gap_statistics(*load_pair_features(data_root, "clip"), group_size=100, seed=0)
    assert st.mean("gap_length") == pytest.approx(0.83, abs=0.04)
    assert st.mean("gap_direction") > 0.97
    assert abs(st.mean("orthogonality")) < 0.01 and 0.04 < st.std("orthogonality") < 0.09
    assert abs(st.mean("noise_direction")) < 0.02 and 0.07 < st.std("noise_direction") < 0.14


def test_small_spaces_get_smaller_groups(data_root):
    cfg = make_config(gapstats.GeometryStatsConfig, "default", data_dir=str(data_root))
    assert gapstats.group_size_for(cfg, 500) == 100
    assert gapstats.group_size_for(cfg, 99) == cfg.small_group_size
