"""An on-disk embedding cache keyed by what produced the embeddings.

The key is a hash of a description (model, weights, data, preprocessing, any version that matters), so a
change to any of them is a different entry. Entries are ``.npy`` files written atomically, each with a
SHA-256 beside it; an entry whose bytes do not match (a torn copy, a bad disk), or whose file or hash is
missing, is rebuilt with one warning naming the file, never trusted.
The folder is ``$C3_CACHE``, else ``.cache/embeddings`` in the repository.
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from c3lib.atomic import atomic_path, write_text
from c3lib.paths import cache_dir


def key_of(description: dict[str, Any]) -> str:
    """A short, stable hash of a JSON-able description."""
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks (caches, run stores and checkpoints all use this one)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached(name: str, description: dict[str, Any], compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Return the array for ``description`` from the cache, computing and storing it when absent or corrupt."""
    folder = cache_dir()
    path = folder / f"{name}-{key_of(description)}.npy"
    check = path.with_suffix(".sha256")
    if path.exists() or check.exists():
        why = f"{check} is missing" if not check.exists() else f"{path} is missing" if not path.exists() else None
        if why is None:
            try:
                if file_sha256(path) == check.read_text().strip():
                    return np.load(path, allow_pickle=False)
                why = f"{path} is damaged (its SHA-256 does not match {check.name})"
            except (OSError, ValueError) as err:
                why = f"{path} could not be read ({type(err).__name__}: {err})"
        warnings.warn(f"recomputing the cached {name!r}: {why}", RuntimeWarning, stacklevel=2)
    arr = np.asarray(compute())
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
    write_text(check, file_sha256(path))
    write_text(path.with_suffix(".json"), json.dumps(description, sort_keys=True, default=str, indent=1))
    return arr


def content_digest(obj: Any) -> str:
    """SHA-256 of the full contents of arrays, strings, numbers and (nested) lists/tuples/dicts of them:
    every byte and every row counts, so two inputs share a digest only when they are equal."""
    h = hashlib.sha256()

    def feed(x: Any) -> None:
        if isinstance(x, np.ndarray) or hasattr(x, "detach"):
            arr = np.ascontiguousarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
            h.update(f"array{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
        elif isinstance(x, (list, tuple)):
            h.update(f"list{len(x)}[".encode())
            for v in x:
                feed(v)
            h.update(b"]")
        elif isinstance(x, dict):
            h.update(f"dict{len(x)}{{".encode())
            for k in sorted(x, key=str):
                feed(str(k))
                feed(x[k])
            h.update(b"}")
        else:
            text = json.dumps(x, default=str)
            h.update(f"{type(x).__name__}{len(text)}:{text}".encode())

    feed(obj)
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    return file_sha256(Path(path))


def inputs_digest(inputs: Sequence[Any]) -> str:
    """Digest of what an encoder reads, in order: a file's bytes (not its name or folder), or the text itself."""
    parts = []
    for x in inputs:
        if isinstance(x, Path):
            st = x.stat()
            parts.append(("file", _file_digest(str(x.resolve()), st.st_mtime_ns, st.st_size)))
        else:
            parts.append(x)
    return content_digest(parts)


def embeddings(name: str, model: str, inputs: Sequence[Any], compute: Callable[[], np.ndarray],
               code: int = 1, **settings: Any) -> np.ndarray:
    """The one embedding-cache call every chapter uses: ``compute()`` cached under ``name``, keyed by the
    encoder ``model``, every preprocessing setting, the encoder code's version and the inputs' contents
    (image file bytes, caption texts), so another data folder or one changed caption is another entry."""
    return cached(name, {"model": model, "settings": settings, "code": code, "n": len(inputs),
                         "inputs": inputs_digest(inputs)}, compute)
