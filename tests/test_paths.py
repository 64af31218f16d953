"""Where runs, the cache and results go: the checkout, ``$C3_HOME``, or (an installed copy) the working folder,
never site-packages."""

from __future__ import annotations

from c3lib import paths


def _clear(monkeypatch):
    for var in ("C3_HOME", "C3_RUNS", "C3_CACHE", "C3_RESULTS", "C3_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)


def test_a_checkout_keeps_its_folders(monkeypatch):
    _clear(monkeypatch)
    assert paths.in_checkout() and paths.home() == paths.REPO_ROOT
    assert paths.runs_dir("05_connect") == paths.REPO_ROOT / "runs" / "05_connect"
    assert paths.cache_dir() == paths.REPO_ROOT / ".cache" / "embeddings"
    assert paths.results_dir() == paths.REPO_ROOT / "book" / "results"


def test_an_installed_copy_writes_into_the_working_folder(tmp_path, monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "site-packages")  # what a non-editable install sees
    monkeypatch.chdir(tmp_path)
    assert not paths.in_checkout() and paths.home() == tmp_path
    assert paths.runs_dir() == tmp_path / "runs" and paths.results_dir() == tmp_path / "results"
    assert paths.cache_dir() == tmp_path / ".cache" / "embeddings"


def test_c3_home_and_the_single_overrides(tmp_path, monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setenv("C3_HOME", str(tmp_path / "home"))
    assert paths.runs_dir() == tmp_path / "home" / "runs" and paths.results_dir() == tmp_path / "home" / "results"
    monkeypatch.setenv("C3_RESULTS", str(tmp_path / "r"))
    monkeypatch.setenv("C3_WEIGHTS", str(tmp_path / "w"))
    assert paths.results_dir() == tmp_path / "r" and paths.weights_dir() == tmp_path / "w"
