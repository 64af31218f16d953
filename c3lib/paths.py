"""Where the project keeps what it writes: one place that knows the folders.

* ``runs/``: trained spaces, decoders and generators (``$C3_RUNS`` overrides), one folder per chapter;
* ``.cache/embeddings``: frozen-encoder embeddings (``$C3_CACHE`` overrides);
* ``book/results``: each chapter's results JSON (``$C3_RESULTS`` overrides; the tests point it elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def runs_dir(chapter: str | None = None) -> Path:
    """``runs/`` (or ``$C3_RUNS``), or its sub-folder for one chapter, e.g. ``runs_dir("06_captioning")``."""
    root = Path(os.environ.get("C3_RUNS") or REPO_ROOT / "runs")
    return root / chapter if chapter else root


def cache_dir() -> Path:
    """The embedding cache, ``.cache/embeddings`` (or ``$C3_CACHE``)."""
    return Path(os.environ.get("C3_CACHE") or REPO_ROOT / ".cache" / "embeddings")


def results_dir() -> Path:
    """``book/results`` (or ``$C3_RESULTS``): one ``NN_topic.json`` per chapter."""
    return Path(os.environ.get("C3_RESULTS") or REPO_ROOT / "book" / "results")
