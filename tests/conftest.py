"""Shared fixtures: the real data folder (skipped with a reason when absent) and a private results folder.

The tests leave the working tree as they found it: unless the environment already names them, the run store
(``C3_RUNS``), the embedding cache (``C3_CACHE``) and the results folder (``C3_RESULTS``) are temporary folders
for the whole session (chapters executed by papermill inherit them), removed at its end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STORES = ("C3_RUNS", "C3_CACHE", "C3_RESULTS")
_MADE: list[str] = []


def pytest_configure(config) -> None:
    for var in STORES:
        if not os.environ.get(var):
            os.environ[var] = tempfile.mkdtemp(prefix=f"c3-tests-{var[3:].lower()}-")
            _MADE.append(var)


def pytest_unconfigure(config) -> None:
    for var in _MADE:
        shutil.rmtree(os.environ.pop(var), ignore_errors=True)
    _MADE.clear()


@pytest.fixture(scope="session")
def data_root() -> Path:
    """``$C3_DATA`` (CI points it at ../shared/data); tests needing real data skip when it is absent."""
    root = os.environ.get("C3_DATA", "")
    if not root or not Path(root).is_dir():
        pytest.skip("real data absent: set C3_DATA to the shared data folder (modality-gap-features/, flickr8k/, "
                    "coco-caption-text/) to run this test")
    return Path(root)


@pytest.fixture
def results_tmp(tmp_path, monkeypatch) -> Path:
    """Redirect ``c3lib.results`` to a temporary folder so tests never touch book/results."""
    folder = tmp_path / "results"
    monkeypatch.setenv("C3_RESULTS", str(folder))
    return folder
