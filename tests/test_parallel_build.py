"""The parallel book build: dependencies read from the source, the pool's order and failure, results
independent of the thread count, and DDP training equal to one process (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from c3lib import chapter_deps, distributed, parallel, results
from c3lib.book import chapters, execute

REPO = Path(__file__).resolve().parent.parent


def test_dependencies_are_read_from_the_imports():
    needs = chapter_deps.needs()
    assert needs["06"] == ["05"]  # decoders -> tasks -> spaces, which holds runs/05_connect
    assert needs["07"] == needs["09"] == needs["11"] == ["05", "06"]  # decoders holds 06_captioning's store
    assert needs["08"] == needs["10"] == ["05"]  # 10 reads flickr8k-clip's text tower (spaces, inside run)
    assert needs["01"] == needs["03"] == needs["05"] == []
    assert needs["99"] == sorted(set(needs) - {"99"})  # the results page runs last


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_a_new_import_adds_a_dependency(tmp_path):
    """A scratch repository: chapter 03 reaching a store-holding block through another block needs 01."""
    nb = {"cells": [{"cell_type": "code", "source": "from c3lib.chapters import ch{} as ch\n"}]}
    for stem in ("01_a", "02_b", "03_c"):
        _write(tmp_path / "notebooks" / f"{stem}.ipynb", json.dumps(nb).replace("{}", stem))
        _write(tmp_path / "c3lib" / "chapters" / f"ch{stem}.py", "import numpy\n")
    _write(tmp_path / "c3lib" / "store.py", 'STORE = "01_a"\n')
    _write(tmp_path / "c3lib" / "middle.py", "def f():\n    from c3lib import store\n")
    assert chapter_deps.needs(tmp_path) == {"01": [], "02": [], "03": []}
    _write(tmp_path / "c3lib" / "chapters" / "ch03_c.py", "from c3lib.middle import f\n")
    assert chapter_deps.needs(tmp_path)["03"] == ["01"]


def _sleepy(num: str, report) -> None:
    """A fake chapter: records its start and end, fails for chapter 13, hangs for chapter 14."""
    folder = Path(os.environ["PAR_TEST_DIR"])
    (folder / f"{num}.start").write_text(str(time.time()))
    report(1, 2)
    if num == "13":
        raise ValueError("chapter 13 is broken")
    if num == "01":  # waits (up to 30 s) until chapter 03 has started: in a pool running both at once 03
        deadline = time.time() + 30  # starts before 01 ends however slowly workers start; a serial one times out
        while not (folder / "03.start").exists() and time.time() < deadline:
            time.sleep(0.05)
    time.sleep(60 if num == "14" else 0.5)
    (folder / f"{num}.end").write_text(str(time.time()))


def test_the_pool_waits_for_what_a_chapter_needs(tmp_path, monkeypatch):
    monkeypatch.setenv("PAR_TEST_DIR", str(tmp_path))
    needs = {"01": [], "02": ["01"], "03": [], "04": ["02", "03"]}
    done = parallel.run_chapters(list(needs), needs, 2, _sleepy)
    assert sorted(done) == ["01", "02", "03", "04"]
    t = {p.name: float(p.read_text()) for p in tmp_path.iterdir()}
    assert t["02.start"] >= t["01.end"] and t["04.start"] >= max(t["02.end"], t["03.end"])
    assert t["03.start"] < t["01.end"]  # independent chapters ran side by side


def test_a_failure_stops_the_build_with_its_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("PAR_TEST_DIR", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(parallel.ChapterFailed) as err:
        parallel.run_chapters(["13", "14", "15"], {"15": ["13"]}, 2, _sleepy)
    assert err.value.num == "13" and "chapter 13 is broken" in err.value.trace
    assert time.perf_counter() - t0 < 30  # chapter 14 (a minute) was ended, not waited for
    assert not (tmp_path / "15.start").exists()


def test_a_chapters_own_pool_gets_the_books_jobs(tmp_path, monkeypatch):
    env = parallel.worker_env(1, str(tmp_path), workers=2)
    assert env["C3_WORKERS"] == "2" and env["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("C3_WORKERS", "3")
    assert parallel.default_workers() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("C3_WORKERS", bad)
        with pytest.raises(ValueError, match="C3_WORKERS"):
            parallel.default_workers()
    monkeypatch.delenv("C3_WORKERS")
    assert parallel.default_workers() == len(os.sched_getaffinity(0))


def test_shards_of_a_global_batch_cover_it_once():
    idx = np.arange(17)
    parts = [distributed.shard(idx, distributed.Dist(r, 3)) for r in range(3)]
    assert np.array_equal(np.concatenate(parts), idx) and [len(p) for p in parts] == [6, 6, 5]
    assert distributed.shard(idx, distributed.Dist()) is idx


@pytest.mark.slow
def test_a_chapter_gives_the_same_numbers_at_1_and_2_threads(tmp_path, monkeypatch):
    """Chapter 10 at smoke, executed as a book worker with 1 and with 2 torch/BLAS threads: bitwise equal.

    (At the default preset the chapters' matrix products and convolution gradients are large enough for
    torch to split them over threads, and their last bits then depend on the thread count: that is why the
    book runs every chapter with ``--threads 1`` whatever ``--jobs`` is.)"""
    nb = chapters(["10"])[0]
    records = {}
    for threads in (1, 2):
        monkeypatch.setenv("C3_RUNS", str(tmp_path / f"runs{threads}"))
        monkeypatch.setenv("C3_RESULTS", str(tmp_path / f"results{threads}"))
        execute(nb, tmp_path / f"out{threads}", "smoke", threads=threads)
        records[threads] = results.load(nb.stem, tmp_path / f"results{threads}")
    assert records[1]["metrics"]["epochs_trained"] > 0 and records[1]["metrics"]["rows"], "nothing was trained"
    assert results.differences(records[1]["metrics"], records[2]["metrics"]) == []


def _ddp_run(out: Path, procs: int) -> dict:
    script = str(REPO / "tests" / "ddp_decoder_run.py")
    cmd = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}", script]
           if procs > 1 else [sys.executable, script]) + [str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    subprocess.run(cmd, check=True, env=env, cwd=REPO, timeout=600)
    return json.loads(out.read_text())


@pytest.mark.slow
def test_two_gloo_processes_follow_the_single_process_loss_curve(tmp_path):
    """torchrun, 2 gloo processes on CPU, global batch 32 (16 a rank) vs one process with batch 32: the
    per-epoch training and validation losses agree to 1e-6 relative (rounding: the rows of a batch are
    summed in a different order), the weights to 1e-6."""
    one, two = _ddp_run(tmp_path / "one.json", 1), _ddp_run(tmp_path / "two.json", 2)
    assert (one["world"], two["world"]) == (1, 2)
    assert len(one["log"]) == len(two["log"]) == 3
    for a, b in zip(one["log"], two["log"]):
        for k in ("train_loss", "val_loss"):
            assert abs(a[k] - b[k]) <= 1e-6 * abs(a[k]), (k, a[k], b[k])
    assert one["log"][0]["train_loss"] > one["log"][-1]["train_loss"]  # it learned something
    assert np.abs(np.array(one["weights_head"]) - np.array(two["weights_head"])).max() <= 1e-6


def _scaled(x):
    return x * int(os.environ["_C3_TEST_SCALE"])


def _set_scale(k):
    os.environ["_C3_TEST_SCALE"] = str(k)


def test_pool_map_keeps_job_order_and_runs_the_initializer_everywhere(monkeypatch):
    monkeypatch.delenv("_C3_TEST_SCALE", raising=False)  # the in-process run sets it; monkeypatch undoes it
    jobs = [(i,) for i in range(6)]
    assert parallel.pool_map(_scaled, jobs, 2, _set_scale, (3,)) == [0, 3, 6, 9, 12, 15]
    assert parallel.pool_map(_scaled, jobs, 1, _set_scale, (2,)) == [0, 2, 4, 6, 8, 10]
