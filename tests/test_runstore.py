"""The trained-run store: keyed, written as a unit, damage retrains with one warning naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from c3lib import runstore
from c3lib.cache import content_digest


def _store(folder, key, calls, value=1.0):
    def fit():
        calls.append(1)
        return np.full(4, value)

    def write(arr, tmp):
        np.save(tmp / "w.npy", arr)
        (tmp / "meta.txt").write_text("ok")

    return runstore.train_or_load(folder, key, fit, write, lambda f: np.load(f / "w.npy"))


def test_trains_once_then_loads_and_a_new_key_retrains(tmp_path):
    calls: list = []
    folder = runstore.run_path("99_test", "space", "C3", 0, tmp_path)
    assert folder == tmp_path / "space" / "C3" / "seed0"
    _, loaded = _store(folder, "k1", calls)
    assert not loaded and calls == [1]
    manifest = json.loads((folder / runstore.MANIFEST).read_text())
    assert manifest["key"] == "k1" and set(manifest["files"]) == {"w.npy", "meta.txt"}
    _, loaded = _store(folder, "k1", calls)
    assert loaded and calls == [1]
    _, loaded = _store(folder, "k2", calls)  # another setting: retrained, quietly
    assert not loaded and calls == [1, 1]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


@pytest.mark.parametrize("damage", ["truncate", "delete", "manifest"])
def test_damaged_runs_are_retrained_with_a_warning_naming_the_file(tmp_path, damage):
    calls: list = []
    folder = tmp_path / "run"
    _store(folder, "k", calls)
    target = {"truncate": folder / "w.npy", "delete": folder / "meta.txt", "manifest": folder / runstore.MANIFEST}[damage]
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:10])
    elif damage == "delete":
        target.unlink()
    else:
        target.write_text("{not json")
    with pytest.warns(RuntimeWarning, match=target.name):
        arr, loaded = _store(folder, "k", calls)
    assert not loaded and calls == [1, 1] and runstore.check_run(folder, "k") is None
    np.testing.assert_array_equal(arr, np.full(4, 1.0))


def test_a_failed_write_leaves_the_old_run_in_place(tmp_path):
    calls: list = []
    folder = tmp_path / "run"
    _store(folder, "k", calls, value=1.0)

    def broken(arr, tmp):
        (tmp / "half.npy").write_bytes(b"x")
        raise KeyboardInterrupt  # a kill in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        runstore.save_run(folder, "k2", lambda tmp: broken(None, tmp))
    assert runstore.check_run(folder, "k") is None  # the previous complete run is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_content_digest_sees_every_row_and_caption():
    emb = np.arange(120.0).reshape(40, 3)
    caps = [f"caption {i}" for i in range(40)]
    base = content_digest([emb, caps])
    changed_row = emb.copy()
    changed_row[30, 1] += 1e-9
    assert content_digest([changed_row, caps]) != base
    assert content_digest([emb, caps[:19] + ["another"] + caps[20:]]) != base
    assert content_digest([emb.astype(np.float32), caps]) != base  # dtype counts
    assert content_digest([emb.reshape(3, 40), caps]) != base  # shape counts
    assert content_digest([emb.copy(), list(caps)]) == base


def test_a_trained_run_of_the_same_key_stored_meanwhile_is_kept(tmp_path):
    """Two processes train the same run: the first stored wins, the second keeps it (same key, same model)."""
    folder = tmp_path / "run"
    runstore.save_run(folder, "k", lambda t: (t / "w.txt").write_text("first"), keep_same_key=True)
    runstore.save_run(folder, "k", lambda t: (t / "w.txt").write_text("second"), keep_same_key=True)
    assert (folder / "w.txt").read_text() == "first"
    runstore.save_run(folder, "k2", lambda t: (t / "w.txt").write_text("other key"), keep_same_key=True)
    assert (folder / "w.txt").read_text() == "other key"
    runstore.save_run(folder, "k2", lambda t: (t / "w.txt").write_text("checkpoint"))  # a checkpoint replaces
    assert (folder / "w.txt").read_text() == "checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_temporaries_of_killed_writers_are_removed_on_the_next_save(tmp_path):
    import os
    import subprocess
    import sys

    from c3lib.atomic import host_tag, write_text

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tag = f"c3-{host_tag()}-{dead.pid}"
    stale = [f".w.txt.{tag}.abcd1234.tmp", f".seed0.{tag}.abcd1234", ".w.txt.abcd1234.tmp", ".seed0.abcd1234",
             ".seed0.old"]
    live = [f".w.txt.c3-{host_tag()}-{os.getpid()}.abcd1234.tmp", ".seed0.resume", ".w.txt.efgh5678.tmp",
            f".seed0.c3-otherhost-{dead.pid}.abcd1234"]
    for name in stale + live:
        p = tmp_path / name
        p.write_text("x") if name.endswith(".tmp") else p.mkdir()
        if name != ".w.txt.efgh5678.tmp":  # an older-form temporary removed only once it is an hour old
            os.utime(p, (1e9, 1e9))
    write_text(tmp_path / "w.txt", "new")
    runstore.save_run(tmp_path / "seed0", "k", lambda t: (t / "a").write_text("a"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(live + ["w.txt", "seed0"])


def test_verify_run_refuses_damage_and_warns_without_a_manifest(tmp_path):
    folder = runstore.save_run(tmp_path / "run", "k", lambda t: (t / "w.txt").write_text("ok"))
    runstore.verify_run(folder)
    (folder / "w.txt").write_text("no")
    with pytest.raises(ValueError, match=r"refusing the run .*w\.txt is damaged"):
        runstore.verify_run(folder)
    (folder / runstore.MANIFEST).unlink()
    with pytest.warns(RuntimeWarning, match="no manifest.json"):
        runstore.verify_run(folder)


def test_the_tests_write_their_runs_caches_and_results_outside_the_working_tree():
    """conftest points the stores at temporary folders, and chapters run by papermill inherit them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from c3lib.paths import REPO_ROOT, cache_dir, results_dir, runs_dir

    code = "from c3lib.paths import *; print(runs_dir(), cache_dir(), results_dir())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}).stdout.split()
    for folder in [runs_dir(), cache_dir(), results_dir(), *map(Path, child)]:
        assert not Path(folder).resolve().is_relative_to(REPO_ROOT.resolve()), folder
