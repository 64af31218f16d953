"""Where the project keeps what it writes: one place that knows the folders.

Everything is relative to :func:`home`: ``$C3_HOME`` when set, else the checkout when ``c3lib`` runs from one
(``make setup``'s editable install, or ``PYTHONPATH``), else the current working folder (a plain
``pip install``: nothing is written into site-packages).

* ``runs/``: trained spaces, decoders and generators (``$C3_RUNS`` overrides), one folder per chapter;
* ``.cache/embeddings``: frozen-encoder embeddings (``$C3_CACHE`` overrides);
* ``book/results`` in a checkout, ``results`` elsewhere: each chapter's results JSON (``$C3_RESULTS``
  overrides; the tests point it elsewhere);
* ``$C3_WEIGHTS`` (default ``~/.cache/c3book/weights``): the ``paper`` preset's downloads, shared by every
  checkout (:mod:`c3lib.download`).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def in_checkout() -> bool:
    """Whether ``c3lib`` is imported from a checkout of the book (not from an installed copy)."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir()


def home() -> Path:
    """``$C3_HOME``, else the checkout, else the current working folder."""
    env = os.environ.get("C3_HOME")
    if env:
        return Path(env)
    return REPO_ROOT if in_checkout() else Path.cwd()


def runs_dir(chapter: str | None = None) -> Path:
    """``runs/`` (or ``$C3_RUNS``), or its sub-folder for one chapter, e.g. ``runs_dir("06_captioning")``."""
    root = Path(os.environ.get("C3_RUNS") or home() / "runs")
    return root / chapter if chapter else root


def cache_dir() -> Path:
    """The embedding cache, ``.cache/embeddings`` (or ``$C3_CACHE``)."""
    return Path(os.environ.get("C3_CACHE") or home() / ".cache" / "embeddings")


def results_dir() -> Path:
    """``book/results`` of the checkout, ``results/`` of any other home (or ``$C3_RESULTS``): one
    ``NN_topic.json`` per chapter."""
    if os.environ.get("C3_RESULTS"):
        return Path(os.environ["C3_RESULTS"])
    return home() / "book" / "results" if home() == REPO_ROOT and in_checkout() else home() / "results"


def weights_dir() -> Path:
    """Downloaded pretrained weights: ``$C3_WEIGHTS``, else ``~/.cache/c3book/weights``."""
    return Path(os.environ.get("C3_WEIGHTS") or Path.home() / ".cache" / "c3book" / "weights")
