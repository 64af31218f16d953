"""Atomic writes: a result, cache or checkpoint is either complete on disk or absent.

Everything is written to a temporary file in the destination folder, flushed, fsynced and renamed over
the target, so an interrupted run never leaves a half-written file behind. A temporary file is named after
its target and the process writing it (``.NAME.c3-HOST-PID.XXXXXXXX.tmp``): one left by a killed process is
removed by the next write of the same target (:func:`remove_stale`), and a live writer's is never touched.
A write that fails because the disk is full (or a file-size limit is reached) raises :class:`DiskFullError`,
naming the path; the previous file is kept.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

STALE_AGE_S = 3600  # a temporary file in the older format (no process in its name) this old is a leftover
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class DiskFullError(OSError):
    """A write failed for lack of space (or a file-size limit); the message names the path."""


def host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32]


def temp_prefix(name: str) -> str:
    """Prefix of this process's temporary names for the target ``name``: ``.NAME.c3-HOST-PID.``."""
    return f".{name}.c3-{host_tag()}-{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: Path, name: str) -> list[Path]:
    """Remove the temporary files and folders that killed writers of ``folder / name`` left behind.

    Removed: ``.NAME.c3-HOST-PID.*`` of a process of this host that no longer runs, and the older unnamed
    forms (``.NAME.XXXXXXXX.tmp``, ``.NAME.XXXXXXXX``, ``.NAME.old``) once they are an hour old. Anything
    else (another host's writer, a live one, a checkpoint such as ``.NAME.resume``) is left alone."""
    ours = re.compile(rf"\.{re.escape(name)}\.c3-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)\.[a-z0-9_]{{8}}(\.tmp)?")
    older = re.compile(rf"\.{re.escape(name)}\.([a-z0-9_]{{8}}(\.tmp)?|old)")
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    now = time.time()
    for path in entries:
        m = ours.fullmatch(path.name)
        try:
            stale = (m is not None and m["host"] == host_tag() and not _alive(int(m["pid"]))) or (
                older.fullmatch(path.name) is not None and now - path.lstat().st_mtime > STALE_AGE_S)
            if not stale:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        except OSError:
            continue
    return removed


def is_disk_full(err: BaseException, folder: Path) -> bool:
    """Whether ``err`` (from writing into ``folder``) means the disk is full or a file-size limit was hit.

    Libraries report it in their own words (numpy: "N requested and M written"; torch: "unexpected pos"), so
    beyond the errno a failed write is checked by writing one MiB beside it."""
    for e in (err, err.__cause__, err.__context__):
        if isinstance(e, OSError) and e.errno in _FULL:
            return True
    if not isinstance(err, (OSError, RuntimeError)):
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=temp_prefix("space-probe"), suffix=".tmp", dir=folder)
    except OSError as e:
        return e.errno in _FULL
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"\0" * (1 << 20))
            fh.flush()
            os.fsync(fh.fileno())
        return False
    except OSError as e:
        return e.errno in _FULL
    finally:
        Path(probe).unlink(missing_ok=True)


def disk_full(path: Path, err: BaseException) -> DiskFullError:
    return DiskFullError(errno.ENOSPC, f"no space left to write {path} ({type(err).__name__}: {err}); the previous "
                                       f"version, if any, is kept: free space (or raise the file-size limit) and rerun")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
        except (OSError, RuntimeError) as err:
            if is_disk_full(err, path.parent):
                raise disk_full(path, err) from err
            raise
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NaN is refused: it is not JSON)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")
