"""Results files: atomic, JSON-clean, and the committed default results hold the paper's key numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from c3lib import atomic, results
from c3lib.config import ChapterConfig, make_config

REPO = Path(__file__).resolve().parent.parent


def test_save_writes_everything(results_tmp):
    cfg = make_config(ChapterConfig, "smoke", data_dir="/somewhere")
    path = results.save("00_test", cfg, {"a": np.float32(0.5), "v": np.arange(3)}, {"a": 0.4}, results.Timer(),
                        [results.row("a", 0.4, 0.5)])
    rec = json.loads(path.read_text())
    assert rec["metrics"] == {"a": 0.5, "v": [0, 1, 2]}
    assert rec["comparison"] == [{"quantity": "a", "paper": 0.4, "ours": 0.5, "note": ""}]
    assert "data_dir" not in rec["params"] and rec["versions"]["numpy"] == np.__version__


def test_nan_becomes_null_not_invalid_json():
    assert results.to_jsonable({"x": float("nan"), "y": np.float64("inf")}) == {"x": None, "y": None}


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "r.json"
    atomic.write_json(target, {"ok": 1})
    with pytest.raises(ValueError):
        atomic.write_json(target, {"bad": float("nan")})  # refused before the rename
    assert json.loads(target.read_text()) == {"ok": 1}
    assert list(tmp_path.iterdir()) == [target], "no temporary file may be left behind"


def test_committed_chapter01_results_match_the_paper_and_the_data(data_root):
    """Regression: the committed default results hold 25 / 230, and recomputing from the data agrees."""
    from c3lib.chapters.ch01_dimensional_collapse import CollapseConfig, precomputed_spaces

    rec = results.load("01_dimensional_collapse", REPO / "book" / "results")
    assert rec["preset"] == "default"
    committed = rec["metrics"]["precomputed"]["clip_random"]
    assert (committed["effective_dim_image"], committed["effective_dim_text"]) == (25, 230)
    fresh = precomputed_spaces(make_config(CollapseConfig, "default", data_dir=str(data_root)))
    for name, rep in fresh.items():
        for key in ("effective_dim_image", "effective_dim_text", "gap"):
            assert rec["metrics"]["precomputed"][name][key] == pytest.approx(rep[key], rel=1e-9)


def test_differences_finds_changed_numbers_and_skips_timings():
    a = {"metrics": {"runs": [{"CIDEr": 17.1, "seed": 0}], "world_items_per_second": {"image": 900.0}},
         "wall_time_s": 10.0}
    b = {"metrics": {"runs": [{"CIDEr": 17.2, "seed": 0}], "world_items_per_second": {"image": 100.0}},
         "wall_time_s": 99.0}
    assert results.differences(a, a) == []
    assert results.differences(a, b) == [".metrics.runs[0].CIDEr: 17.1 != 17.2"]
    assert results.differences(a, b, rel_tol=0.01) == []
    c = {"metrics": {"runs": [{"CIDEr": 17.1, "seed": 0}, {"CIDEr": 1.0}]}}
    assert results.differences(a["metrics"], c["metrics"]) == [".runs: 1 items != 2"]
    assert results.differences({"x": 1}, {"y": 1}) == [".x: only in first", ".y: only in second"]


def test_saved_params_hold_no_data_dir_at_any_depth(results_tmp):
    from c3lib.chapters.ch05_connect import ConnectConfig
    from c3lib.config import make_config

    cfg = make_config(ConnectConfig, "smoke", data_dir="/somewhere/private")
    rec = results.load("05_connect", results.save("05_connect", cfg, {}, {}, results.Timer()).parent)
    assert "/somewhere/private" not in json.dumps(rec) and rec["params"]["space"]["n_train"] == 256
