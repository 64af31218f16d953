"""The trained-run store: one folder per trained model, ``runs/<chapter>/<space>/<variant>/seed<k>/``.

Every chapter that trains something per (space, variant, seed) (decoders, generators, bound towers) keeps
it here, so a rerun with the same settings loads instead of training, and an interrupted chapter resumes
at the first model it had not finished. A run is keyed by a hash of everything that determines it (the
caller's ``key``); a run whose key differs is retrained.

A run is written as a unit: the model's files go into a temporary folder beside the target, then a
``manifest.json`` with the key and the SHA-256 of every file, then the folder is renamed into place. A run
is complete only when its manifest is there and every file matches it; a torn, truncated or missing file
means the run is retrained, with one warning that names the file. Every reader checks the seal: the store
before it loads (:func:`check_run`), a reader outside it, such as the evaluation command, with
:func:`verify_run`, which refuses a damaged run and warns about one without a manifest.

Concurrent saves of one trained run (:func:`train_or_load`): the first complete run renamed into place wins;
a writer that finds a complete run of the same key there drops its own (it holds the same model: the key
names everything it depends on), so a complete run is never replaced under its readers. A stale or damaged
run is moved aside, then replaced. Temporary folders left by killed writers are removed by the next save (:func:`c3lib.atomic.remove_stale`).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, TypeVar

from c3lib import distributed
from c3lib.atomic import disk_full, is_disk_full, remove_stale, temp_prefix, write_json
from c3lib.cache import file_sha256
from c3lib.paths import runs_dir

MANIFEST = "manifest.json"
T = TypeVar("T")


def run_path(chapter: str, space: str, variant: str, seed: int, root: Path | None = None) -> Path:
    """``runs/<chapter>/<space>/<variant>/seed<k>/`` (``root`` replaces ``runs/<chapter>``)."""
    return (root or runs_dir(chapter)) / space / variant / f"seed{seed}"


def _identity(folder: Path) -> tuple[int, int, int] | None:
    """What changes when a run folder is replaced by another (a rename puts another folder at its path)."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns


def check_run(folder: Path, key: str | None) -> str | None:
    """Why the run in ``folder`` cannot be used for ``key`` (``None`` when it is complete and current).
    ``key=None`` accepts any key (a reader that checks the files only). A run replaced while it was being
    checked is checked again, so a reader never reports a run as damaged because a writer swapped it."""
    why = None
    for _ in range(5):
        before = _identity(folder)
        why = _check_once(Path(folder), key)
        if why is None or _identity(folder) == before:
            return why
    return why


def _check_once(folder: Path, key: str | None) -> str | None:
    manifest = folder / MANIFEST
    if not manifest.exists():
        return f"{manifest} is missing" if folder.exists() else "not trained yet"
    try:
        meta = json.loads(manifest.read_text())
        files = meta["files"]
        items = list(files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return f"{manifest} is unreadable ({err})"
    if key is not None and meta.get("key") != key:
        return "its settings changed"
    for name, digest in items:
        path = folder / name
        if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
            return f"{manifest} names a file outside the run ({name!r})"
        if not path.exists():
            return f"{path} is missing"
        try:
            if file_sha256(path) != digest:
                return f"{path} is damaged (its SHA-256 does not match the manifest)"
        except OSError as err:
            return f"{path} could not be read ({err})"
    return None


def read_run(folder: Path, key: str | None, read: Callable[[Path], T]) -> tuple[T | None, str | None]:
    """``(read(folder), None)`` for a complete run of ``key`` (``None``: any key), else ``(None, why)``. The check
    and the read are one consistent view: when another process replaced the run in the meantime (a rename
    changes the folder at that path), both are done again, so no read mixes files of two runs."""
    why = "it was replaced while it was being read, again and again"
    for _ in range(5):
        before = _identity(folder)
        why = check_run(folder, key)
        if why is not None:
            return None, why
        try:
            value = read(Path(folder))
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            if _identity(folder) == before:
                return None, f"it could not be read ({type(err).__name__}: {err})"
            continue
        if _identity(folder) == before:
            return value, None
    return None, why


def verify_run(folder: Path) -> None:
    """Check the seal of a run before reading it from outside the store: a run whose manifest does not match
    its files (a flipped bit, a file copied from another run, an edit) is refused with a ValueError naming the
    file; a run without a manifest (saved by hand, not by the store) is read with a warning."""
    folder = Path(folder)
    if not (folder / MANIFEST).exists():
        warnings.warn(f"{folder} has no {MANIFEST}: it was not saved by the run store, so its files cannot be "
                      "checked against their SHA-256; reading it unchecked", RuntimeWarning, stacklevel=3)
        return
    why = check_run(folder, None)
    if why is not None:
        raise ValueError(f"refusing the run in {folder}: {why}. Rerun the chapter that trained it (it retrains "
                         "a damaged run), or restore the folder from a copy")


def save_run(folder: Path, key: str, write: Callable[[Path], None], info: dict | None = None,
             keep_same_key: bool = False) -> Path:
    """Write a run as a unit: ``write(tmp_folder)`` fills a fresh folder, the manifest seals it, and the
    folder is renamed onto ``folder``, replacing what is there. With ``keep_same_key`` (a trained model, which
    its key determines) a complete run of the same ``key`` found there, stored meanwhile by another process,
    is kept and this one dropped; without it (a checkpoint, rewritten every epoch under one key) it is replaced."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(folder.parent, folder.name)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(folder.name), dir=folder.parent))
    try:
        try:
            write(tmp)
            files = {p.relative_to(tmp).as_posix(): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
            write_json(tmp / MANIFEST, {"key": key, "files": files, **(info or {})})
        except (OSError, RuntimeError) as err:
            if is_disk_full(err, folder.parent):
                raise disk_full(folder, err) from err
            raise
        _place(tmp, folder, key if keep_same_key else None)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _place(tmp: Path, folder: Path, keep: str | None) -> None:
    """Rename the sealed ``tmp`` onto ``folder``; a complete run of the key ``keep`` already there wins."""
    for _ in range(20):
        try:
            os.rename(tmp, folder)  # atomic; refused while ``folder`` is a non-empty folder
            return
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        if keep is not None and check_run(folder, keep) is None:
            return  # another writer stored this very run first: keep it, readers may be reading it
        aside = Path(tempfile.mkdtemp(prefix=temp_prefix(folder.name), dir=folder.parent))
        try:
            os.rename(folder, aside)  # replaces the empty ``aside``
        except OSError as err:
            aside.rmdir()
            if err.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                raise
            continue
        shutil.rmtree(aside, ignore_errors=True)
    raise RuntimeError(f"could not store the run in {folder}: other processes kept replacing it")


def train_or_load(folder: Path, key: str, fit: Callable[[], T], write: Callable[[T, Path], None],
                  read: Callable[[Path], T], save: bool = True, info: dict | None = None) -> tuple[T, bool]:
    """The model stored in ``folder`` under ``key`` -> ``(model, loaded)``; trained with ``fit()`` and stored
    with ``write(model, folder)`` when absent, stale or damaged (``read(folder)`` loads it back)."""
    if save:
        model, why = read_run(folder, key, read)
        if why is None:
            return model, True
        if why not in ("not trained yet", "its settings changed"):
            warnings.warn(f"retraining the run in {folder}: {why}", RuntimeWarning, stacklevel=2)
    model = fit()
    if save and distributed.current().rank == 0:  # under torchrun every rank trained the same model
        save_run(folder, key, lambda tmp: write(model, tmp), info, keep_same_key=True)
    distributed.barrier()
    return model, False
