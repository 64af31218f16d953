"""Faults: a killed training process resumes to identical numbers; a damaged file heals on the next run.

Marked ``faults`` (run them with ``pytest -m faults``): each kill test starts real training subprocesses
(``tests/fault_worker.py``), SIGKILLs one as soon as the checkpoint of a given epoch is on disk (so the
kill lands in the middle of the next epoch), restarts it, and compares the final weights and history
with an uninterrupted run's, exactly. The damage tests truncate or delete each kind of file the project
writes and check that the next run warns once, naming the file, and recomputes the same numbers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import fault_worker as fw  # noqa: E402


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1", "C3_PROGRESS": "0"}


def _run(kind: str, workdir: Path, result: Path) -> dict:
    subprocess.run([sys.executable, str(REPO / "tests" / "fault_worker.py"), kind, str(workdir), str(result)],
                   check=True, env=_env(), timeout=600)
    return json.loads(result.read_text())


def _checkpoint_epoch(kind: str, workdir: Path) -> int:
    folder = (workdir / "space" if kind == "space" else
              next(iter(workdir.glob("synthetic/C3/.seed0.resume")), workdir / "none"))
    try:
        return json.loads((folder / "manifest.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return -1


def _kill_after(kind: str, workdir: Path, epoch: int, result: Path) -> int:
    """Start the worker and SIGKILL it once the checkpoint of ``epoch`` is sealed; the last sealed epoch."""
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "fault_worker.py"), kind, str(workdir),
                             str(result)], env=_env())
    try:
        deadline = time.monotonic() + 300
        while _checkpoint_epoch(kind, workdir) < epoch:
            assert proc.poll() is None, f"the {kind} worker ended before epoch {epoch} was checkpointed"
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not result.exists(), "the worker was not killed mid-run"
    return _checkpoint_epoch(kind, workdir)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("full")
    return {kind: _run(kind, root / kind, root / f"{kind}.json") for kind in ("decoder", "space")}


@pytest.mark.parametrize("kind", ["decoder", "space"])
@pytest.mark.parametrize("kill_epoch", [0, 2, 4])
def test_killed_training_resumes_to_identical_numbers(kind, kill_epoch, uninterrupted, tmp_path):
    work, result = tmp_path / "work", tmp_path / "r.json"
    sealed = _kill_after(kind, work, kill_epoch, result)
    assert kill_epoch <= sealed < 5, "the kill must land before the end of training"
    resumed = _run(kind, work, result)
    assert resumed["log"] == uninterrupted[kind]["log"]
    assert resumed["weights"] == uninterrupted[kind]["weights"]
    if kind == "decoder":
        assert not (work / "synthetic" / "C3" / ".seed0.resume").exists(), "the checkpoint goes once the run is stored"


# ---- damage that heals -------------------------------------------------------------------------------------------
def _damage(path: Path, how: str) -> None:
    if how == "truncate":
        path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])
    else:
        path.unlink()


def _one_warning_naming(record, name: str) -> None:
    ours = [w for w in record if issubclass(w.category, RuntimeWarning)]
    assert len(ours) == 1 and name in str(ours[0].message), [str(w.message) for w in ours]


@pytest.mark.parametrize("how", ["truncate", "delete"])
def test_damaged_decoder_run_files_retrain_to_the_same_numbers(how, tmp_path):
    from c3lib.decoders import run_path, train_or_load
    from c3lib.runstore import check_run

    task, cfg = fw.synthetic_task(120), fw.decoder_config()
    cap, log = train_or_load(task, "C3", 0, cfg, 0.1, root=tmp_path)
    folder, weights = run_path(task.run_name, "C3", 0, tmp_path), fw.digest(cap.model.state_dict())
    for name in ("model.safetensors", "tokenizer.json", "config.json", "transform.json", "train_log.json",
                 "manifest.json"):
        _damage(folder / name, how)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            again, log2 = train_or_load(task, "C3", 0, cfg, 0.1, root=tmp_path)
        _one_warning_naming(record, name)
        assert fw.digest(again.model.state_dict()) == weights and log2 == log
        meta = json.loads((folder / "manifest.json").read_text())
        assert check_run(folder, meta["key"]) is None, f"{name}: the healed run is complete"


def test_damaged_decoder_checkpoint_restarts_and_ends_the_same(tmp_path):
    from c3lib import trainer

    task, cfg = fw.synthetic_task(120), fw.decoder_config()
    args = (task.train_emb, task.train_targets, trainer.C3Transform.variant("C3"), cfg, task.val_emb, task.val_targets)
    full = trainer.fit_captioner(*args, target_emb=task.unpaired_emb)
    ckpt = tmp_path / "ckpt"
    short = trainer.dataclasses.replace(cfg, num_epochs=2)  # leaves a checkpoint of epoch 1 behind, then damage it
    trainer.fit_captioner(*args[:3], short, *args[4:], target_emb=task.unpaired_emb, resume_dir=ckpt, resume_key="k2")
    meta = json.loads((ckpt / "manifest.json").read_text())
    meta["key"] = "k"
    (ckpt / "manifest.json").write_text(json.dumps(meta))  # now a checkpoint of the full run's key ...
    _damage(ckpt / "state.pt", "truncate")  # ... whose state is torn
    with pytest.warns(RuntimeWarning, match="state.pt"):
        healed = trainer.fit_captioner(*args, target_emb=task.unpaired_emb, resume_dir=ckpt, resume_key="k")
    assert fw.digest(healed.model.state_dict()) == fw.digest(full.model.state_dict())


@pytest.mark.parametrize("name", ["model.safetensors", "state.pt", "spec.json", "manifest.json"])
def test_damaged_space_checkpoint_restarts_and_ends_the_same(name, tmp_path):
    from c3lib.contrastive import TrainSpec, train_pair

    xa, xb = (t[:300] for t in fw.space_data())
    spec = TrainSpec(num_epochs=3, batch_size=16, lr=2e-3)
    ref = fw.space_model()
    full = train_pair(ref, xa, xb, spec, progress=False)
    model = fw.space_model()
    train_pair(model, xa, xb, spec, tmp_path / "ck", stop_after_epoch=0, progress=False)
    _damage(tmp_path / "ck" / name, "truncate")
    model = fw.space_model()
    with pytest.warns(RuntimeWarning, match=name):
        history = train_pair(model, xa, xb, spec, tmp_path / "ck", progress=False)
    assert history == full and fw.digest(model.state_dict()) == fw.digest(ref.state_dict())


@pytest.mark.parametrize("suffix", [".npy", ".sha256"])
@pytest.mark.parametrize("how", ["truncate", "delete"])
def test_damaged_cache_entries_are_recomputed_with_a_warning(suffix, how, tmp_path, monkeypatch):
    from c3lib import cache

    monkeypatch.setenv("C3_CACHE", str(tmp_path))
    arr = np.arange(1000.0).reshape(100, 10)
    cache.cached("e", {"k": 1}, lambda: arr)
    (entry,) = tmp_path.glob(f"e-*{suffix}")
    _damage(entry, how)
    with pytest.warns(RuntimeWarning, match=entry.name):
        again = cache.cached("e", {"k": 1}, lambda: arr)
    np.testing.assert_array_equal(again, arr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(cache.cached("e", {"k": 1}, lambda: arr * 0), arr), "healed: a hit"


def test_damaged_simulation_checkpoint_restarts(tmp_path):
    from c3lib import simulation as sim

    space = sim.synthetic_pairs(n=20, d=16, img_dims=3, txt_dims=4, seed=0)
    full = sim.optimise(space, 40, log_every=10, progress=False)
    sim.optimise(sim.synthetic_pairs(n=20, d=16, img_dims=3, txt_dims=4, seed=0), 40, log_every=10, progress=False,
                 checkpoint_dir=tmp_path, checkpoint_every=20)
    _damage(tmp_path / "state.pt", "truncate")
    with pytest.warns(RuntimeWarning, match="state.pt"):
        again = sim.optimise(sim.synthetic_pairs(n=20, d=16, img_dims=3, txt_dims=4, seed=0), 40, log_every=10,
                             progress=False, checkpoint_dir=tmp_path, checkpoint_every=20)
    assert np.array_equal(np.asarray(full[0]), np.asarray(again[0]))
