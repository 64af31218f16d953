"""Parameters: presets, unknown keys and wrong types are refused with the valid choices listed."""

from __future__ import annotations

import pytest

from c3lib.collapse import CollapseConfig
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
