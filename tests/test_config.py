"""Parameters: presets, unknown keys and wrong types are refused with the valid choices listed."""

from __future__ import annotations

import pytest

from c3lib.chapters.ch01_dimensional_collapse import CollapseConfig
from c3lib.config import ConfigError, make_config


def test_presets_apply_their_values():
    assert make_config(CollapseConfig, "smoke").n_pairs == CollapseConfig.PRESETS["smoke"]["n_pairs"]
    assert make_config(CollapseConfig, "default").n_pairs == CollapseConfig().n_pairs
    assert make_config(CollapseConfig, "paper").clip_weights == "openai"


def test_overrides_beat_presets_and_ints_become_floats():
    cfg = make_config(CollapseConfig, "smoke", {"n_pairs": 7, "threshold": 1}, seed=3)
    assert (cfg.n_pairs, cfg.seed, cfg.threshold) == (7, 3, 1.0)
    assert isinstance(cfg.threshold, float)


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown preset 'fast'.*smoke, default, paper"):
        make_config(CollapseConfig, "fast")


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) 'n_pair'.*valid keys:.*n_pairs"):
        make_config(CollapseConfig, "default", {"n_pair": 10})


@pytest.mark.parametrize("key,value", [("n_pairs", "10"), ("n_pairs", 2.5), ("towers", 1), ("seed", True),
                                       ("threshold", "high")])
def test_wrong_type_is_refused(key, value):
    with pytest.raises(ConfigError, match=key):
        make_config(CollapseConfig, "default", {key: value})


def test_config_is_frozen():
    cfg = make_config(CollapseConfig, "smoke")
    with pytest.raises(Exception):
        cfg.seed = 1  # type: ignore[misc]


def test_nested_configs_take_their_own_presets_and_nested_overrides():
    from c3lib.chapters.ch06_captioning import CaptioningConfig
    from c3lib.trainer import TrainConfig

    smoke = make_config(CaptioningConfig, "smoke")
    assert smoke.setup.decoder == TrainConfig(**TrainConfig.PRESETS["smoke"])  # the decoder's own smoke preset
    assert smoke.setup.world_train_captions == 400 and smoke.tasks == ("world-clip",)
    cfg = make_config(CaptioningConfig, "default", {"setup": {"decoder": {"lr": 1e-3}, "n_test_images": 50}})
    assert cfg.setup.decoder.lr == 1e-3 and cfg.setup.decoder.num_epochs == 40 and cfg.setup.n_test_images == 50
    with pytest.raises(ConfigError, match=r"'setup\.decoder\.lrr'.*valid keys:.*\blr\b"):
        make_config(CaptioningConfig, "default", {"setup": {"decoder": {"lrr": 1}}})
    with pytest.raises(ConfigError, match="'setup' must be a mapping"):
        make_config(CaptioningConfig, "default", {"setup": 3})


def test_nested_chapter_config_shares_the_chapters_seed_and_data():
    from c3lib.chapters.ch05_connect import ConnectConfig

    cfg = make_config(ConnectConfig, "smoke", seed=4, data_dir="/d")
    assert cfg.space.seed == 4 and cfg.space.data_dir == "/d" and cfg.space.preset == "smoke"
    assert cfg.space.n_train == 256  # the spaces' own smoke preset


def test_the_preset_cannot_be_overridden_silently():
    with pytest.raises(ConfigError, match="set by the 'preset' parameter"):
        make_config(CollapseConfig, "default", {"preset": "paper"})
