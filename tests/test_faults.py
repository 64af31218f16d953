"""Faults: a killed training process resumes to identical numbers; a damaged file heals on the next run.

Marked ``faults`` (run them with ``pytest -m faults``): each kill test starts real training subprocesses
(``tests/fault_worker.py``), SIGKILLs one as soon as the checkpoint of a given epoch is on disk (so the
kill lands in the middle of the next epoch), restarts it, and compares the final weights and history
with an uninterrupted run's, exactly. The damage tests truncate or delete each kind of file the project
writes and check that the next run warns once, naming the file, and recomputes the same numbers.

The store tests race processes saving one run while a reader polls it (``tests/store_worker.py``), SIGKILL a
writer in the middle of an atomic write, fill the disk (a file-size limit the kernel enforces as it would a
full disk), flip bits in the simulation's checkpoint and hand the safe loader a checkpoint it must refuse.
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
import store_worker as sw  # noqa: E402


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


# ---- the store under concurrency, kills, a full disk and hostile files ------------------------------------------

def test_concurrent_saves_of_one_key_one_wins_and_readers_never_see_half_a_run(tmp_path):
    result = sw.race(writers=6, rounds=2, root=tmp_path)
    print("race:", json.dumps(result))
    assert result["failed_saves"] == 0, "every concurrent save must succeed (the loser keeps the winner's run)"
    assert result["incomplete"] == 0 and result["mixed"] == 0, result["reasons"]
    assert result["complete"] > 0 and result["final"] is None and result["leftover_temporaries"] == []


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    from c3lib.atomic import write_text

    target = tmp_path / "result.json"
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "store_worker.py"), "hold", str(target)],
                            env=_env(), stdout=subprocess.PIPE, text=True)
    tmp = Path(proc.stdout.readline().strip())
    assert tmp.exists() and tmp.parent == tmp_path
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert tmp.exists(), "SIGKILL leaves the temporary file behind"
    write_text(target, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


FULL_DISK = """
import resource, signal, sys
import numpy as np, torch
from c3lib import cache, runstore
from c3lib.atomic import write_json
kind, folder = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
if kind == "cache":
    cache.cached("big", {"k": 1}, lambda: np.zeros(1 << 16))
elif kind == "run":
    runstore.save_run(folder + "/run", "k2", lambda t: torch.save({"w": torch.zeros(1 << 15)}, t / "state.pt"))
else:
    write_json(folder + "/result.json", {"x": "y" * (1 << 17)})
"""


@pytest.mark.parametrize("kind, name", [("cache", "big-"), ("run", "run"), ("json", "result.json")])
def test_a_full_disk_is_a_clear_error_naming_the_path_and_the_old_data_stays(kind, name, tmp_path):
    """The kernel refuses writes past a file-size limit (EFBIG) as a full disk refuses them (ENOSPC)."""
    from c3lib import cache, runstore
    from c3lib.atomic import write_json

    env = {**_env(), "C3_CACHE": str(tmp_path)}
    old = {"cache": lambda: cache.cached("big", {"k": 1}, lambda: np.ones(4)),  # an older, smaller entry
           "run": lambda: runstore.save_run(tmp_path / "run", "k1", lambda t: (t / "w.txt").write_text("old")),
           "json": lambda: write_json(tmp_path / "result.json", {"x": "old"})}
    os.environ["C3_CACHE"], saved = str(tmp_path), os.environ.get("C3_CACHE")
    try:
        old[kind]()
        if kind == "cache":  # the entry's description changed its data but not its key: a recompute is due
            (tmp_path / f"big-{cache.key_of({'k': 1})}.npy").write_bytes(b"torn")
        before = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        proc = subprocess.run([sys.executable, "-c", FULL_DISK, kind, str(tmp_path)], env=env, capture_output=True,
                              text=True, timeout=300)
    finally:
        os.environ["C3_CACHE"] = saved if saved is not None else ""
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and last.startswith("c3lib.atomic.DiskFullError") and "no space left" in last, last
    assert name in last
    after = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before, "the previous data must be kept, and no temporary file left"


@pytest.mark.parametrize("trial", range(4))
def test_a_flipped_bit_in_the_simulation_checkpoint_is_detected_and_discarded(trial, tmp_path):
    from test_bad_inputs import _flip_tensor

    from c3lib import simulation as sim

    def space():
        return sim.synthetic_pairs(n=20, d=16, img_dims=3, txt_dims=4, seed=trial)
    full = sim.optimise(space(), 40, log_every=10, progress=False)
    with pytest.raises(KeyboardInterrupt):
        sim.optimise(space(), 40, log_every=10, progress=False, checkpoint_dir=tmp_path, checkpoint_every=20,
                     on_step=lambda s: (_ for _ in ()).throw(KeyboardInterrupt()) if s == 25 else None)
    _flip_tensor(tmp_path / "state.pt", bit=trial)
    with pytest.warns(RuntimeWarning, match="state.pt .*do not match"):
        again = sim.optimise(space(), 40, log_every=10, progress=False, checkpoint_dir=tmp_path, checkpoint_every=20)
    assert np.array_equal(np.asarray(full[0]), np.asarray(again[0])) and full[2].loss == again[2].loss


class Hostile:
    """An object the safe loader refuses to build (unpickling it could run code)."""


def test_a_checkpoint_the_safe_loader_refuses_is_discarded_with_a_warning(tmp_path):
    import torch
    from torch import nn

    from c3lib import resume, runstore
    from c3lib.contrastive import PairModel, load_checkpoint

    evil = {"epoch": 3, "x": Hostile()}
    runstore.save_run(tmp_path / "r", "k", lambda t: torch.save(evil, t / resume.STATE))  # a valid manifest
    with pytest.warns(RuntimeWarning, match="state.pt could not be read .*UnpicklingError"):
        assert resume.load(tmp_path / "r", "k") is None
    runstore.save_run(tmp_path / "c", "k", lambda t: (torch.save(evil, t / "state.pt"),
                                                      torch.save({}, t / "model.safetensors")))
    with pytest.warns(RuntimeWarning, match="UnpicklingError"):
        assert load_checkpoint(PairModel(nn.Linear(2, 2), nn.Linear(2, 2)), tmp_path / "c", "k") is None
