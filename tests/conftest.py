"""Shared fixtures: the real data folder (skipped with a reason when absent) and a private results folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


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
