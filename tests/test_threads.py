"""One thread count per process, set in one place (c3lib.threads)."""

from __future__ import annotations

import pytest
import torch

from c3lib import threads
from c3lib.results import Timer


def test_default_is_one_thread_and_timer_applies_it(monkeypatch):
    monkeypatch.delenv("C3_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert Timer().threads == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("C3_THREADS", "2")
        assert threads.configure() == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_bad_thread_counts_are_refused(raw, monkeypatch):
    monkeypatch.setenv("C3_THREADS", raw)
    with pytest.raises(ValueError, match="C3_THREADS must be a whole number >= 1"):
        threads.count()


def test_kernels_start_with_the_same_count(monkeypatch):
    monkeypatch.setenv("C3_THREADS", "3")
    env = threads.kernel_env()
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["C3_THREADS"] == "3"
