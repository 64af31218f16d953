"""The trained-run store: one folder per trained model, ``runs/<chapter>/<space>/<variant>/seed<k>/``.

Every chapter that trains something per (space, variant, seed) (decoders, generators, bound towers) keeps
it here, so a rerun with the same settings loads instead of training, and an interrupted chapter resumes
at the first model it had not finished. A run is keyed by a hash of everything that determines it (the
caller's ``key``); a run whose key differs is retrained.

A run is written as a unit: the model's files go into a temporary folder beside the target, then a
``manifest.json`` with the key and the SHA-256 of every file, then the folder is renamed into place. A run
is complete only when its manifest is there and every file matches it; a torn, truncated or missing file
means the run is retrained, with one warning that names the file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, TypeVar

from c3lib import distributed
from c3lib.atomic import write_json
from c3lib.cache import file_sha256
from c3lib.paths import runs_dir

MANIFEST = "manifest.json"
T = TypeVar("T")


def run_path(chapter: str, space: str, variant: str, seed: int, root: Path | None = None) -> Path:
    """``runs/<chapter>/<space>/<variant>/seed<k>/`` (``root`` replaces ``runs/<chapter>``)."""
    return (root or runs_dir(chapter)) / space / variant / f"seed{seed}"


def check_run(folder: Path, key: str) -> str | None:
    """Why the run in ``folder`` cannot be used for ``key`` (``None`` when it is complete and current)."""
    manifest = Path(folder) / MANIFEST
    if not manifest.exists():
        return f"{manifest} is missing" if Path(folder).exists() else "not trained yet"
    try:
        meta = json.loads(manifest.read_text())
        files = meta["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{manifest} is unreadable ({err})"
    if meta.get("key") != key:
        return "its settings changed"
    for name, digest in files.items():
        path = Path(folder) / name
        if not path.exists():
            return f"{path} is missing"
        if file_sha256(path) != digest:
            return f"{path} is damaged (its SHA-256 does not match the manifest)"
    return None


def save_run(folder: Path, key: str, write: Callable[[Path], None], info: dict | None = None) -> Path:
    """Write a run as a unit: ``write(tmp_folder)`` fills a fresh folder, the manifest seals it, and the
    folder is renamed onto ``folder`` (an older run there is replaced)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write(tmp)
        files = {p.relative_to(tmp).as_posix(): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        write_json(tmp / MANIFEST, {"key": key, "files": files, **(info or {})})
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def train_or_load(folder: Path, key: str, fit: Callable[[], T], write: Callable[[T, Path], None],
                  read: Callable[[Path], T], save: bool = True, info: dict | None = None) -> tuple[T, bool]:
    """The model stored in ``folder`` under ``key`` -> ``(model, loaded)``; trained with ``fit()`` and stored
    with ``write(model, folder)`` when absent, stale or damaged (``read(folder)`` loads it back)."""
    if save:
        why = check_run(folder, key)
        if why is None:
            try:
                return read(Path(folder)), True
            except (OSError, ValueError, KeyError, RuntimeError) as err:
                why = f"it could not be read ({type(err).__name__}: {err})"
        if why not in ("not trained yet", "its settings changed"):
            warnings.warn(f"retraining the run in {folder}: {why}", RuntimeWarning, stacklevel=2)
    model = fit()
    if save and distributed.current().rank == 0:  # under torchrun every rank trained the same model
        save_run(folder, key, lambda tmp: write(model, tmp), info)
    distributed.barrier()
    return model, False
