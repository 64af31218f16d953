"""Caption metrics: perfect captions score high, wrong ones low, SPICE is never a fake 0, bad input errors."""

from __future__ import annotations

import shutil

import pytest

from c3lib.metrics import caption_metrics, rouge1

REFS = [["a red circle on a dark background", "a small red disk"], ["a blue square left of a ring", "a navy box"],
        ["two yellow crosses", "a pair of golden plus signs"]]

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="METEOR and the PTB tokenizer need Java")


@needs_java
def test_perfect_beats_wrong_and_spice_is_unavailable_not_zero():
    good = caption_metrics([r[0] for r in REFS], REFS)
    bad = caption_metrics(["the cat sat", "zebra", "nothing at all"], REFS)
    assert good["BLEU-1"] > 90 and good["CIDEr"] > bad["CIDEr"] and good["METEOR"] > bad["METEOR"]
    assert good["ROUGE-L"] > 90 and bad["ROUGE-L"] < 30
    assert good["SPICE"] is None


def test_bad_inputs():
    with pytest.raises(ValueError, match="empty"):
        caption_metrics([], [])
    with pytest.raises(ValueError, match="2 predictions but 1"):
        caption_metrics(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="at least one reference"):
        caption_metrics(["a"], [[]])


def test_rouge1_exact():
    assert rouge1("a red circle", "a red circle") == 100.0
    assert rouge1("a red circle", "a blue square") == pytest.approx(100 / 3)
    assert rouge1("", "x") == 0.0
