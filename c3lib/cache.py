"""An on-disk embedding cache keyed by what produced the embeddings.

The key is a hash of a description (model, weights, data, preprocessing, any version that matters), so a
change to any of them is a different entry. Entries are ``.npy`` files written atomically, each with a
SHA-256 beside it; an entry whose bytes do not match (a torn copy, a bad disk) is rebuilt, never trusted.
The folder is ``$C3_CACHE``, else ``.cache/embeddings`` in the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .atomic import atomic_path, write_text
from .results import REPO_ROOT


def cache_dir() -> Path:
    return Path(os.environ.get("C3_CACHE") or REPO_ROOT / ".cache" / "embeddings")


def key_of(description: dict[str, Any]) -> str:
    """A short, stable hash of a JSON-able description."""
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached(name: str, description: dict[str, Any], compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Return the array for ``description`` from the cache, computing and storing it when absent or corrupt."""
    folder = cache_dir()
    path = folder / f"{name}-{key_of(description)}.npy"
    check = path.with_suffix(".sha256")
    if path.exists() and check.exists():
        try:
            if _sha256(path) == check.read_text().strip():
                return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass  # unreadable: rebuilt below
    arr = np.asarray(compute())
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
    write_text(check, _sha256(path))
    write_text(path.with_suffix(".json"), json.dumps(description, sort_keys=True, default=str, indent=1))
    return arr
