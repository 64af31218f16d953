"""Caption metrics: exact values on constructed captions, SPICE never 0, clear errors."""

from __future__ import annotations

import pytest

from c3lib.metrics import caption_metrics, format_metrics, rouge1, tokenize


def test_tokenize():
    assert tokenize("A Dog, running.") == "a dog running"


def test_perfect_and_disjoint_captions():
    refs = [["a dog runs on the grass .", "a brown dog runs"], ["a man rides a red bike ."]]
    perfect = caption_metrics(["A dog runs on the grass.", "a man rides a red bike"], refs)
    assert perfect["BLEU-1"] == pytest.approx(100.0, abs=1e-6)
    assert perfect["ROUGE-L"] == pytest.approx(100.0, abs=1e-6)
    assert perfect["ROUGE-1"] == pytest.approx(100.0)
    assert perfect["METEOR"] > 90
    assert perfect["SPICE"] is None  # unavailable, never 0
    bad = caption_metrics(["zebra xylophone", "quantum"], refs, meteor=False)
    assert bad["BLEU-1"] < 1e-6 and bad["ROUGE-L"] == 0 and bad["CIDEr"] == 0
    assert "METEOR" not in bad
    assert "SPICE unavailable" in format_metrics(bad)


def test_rouge1_exact():
    # pred {a, dog, runs}, ref {a, dog, sleeps, here}: overlap 2, P 2/3, R 2/4 -> F1 4/7
    assert rouge1(["a dog runs"], [["a dog sleeps here"]]) == pytest.approx(100 * 4 / 7)


def test_empty_inputs_raise():
    with pytest.raises(ValueError, match="prediction list is empty"):
        caption_metrics([], [])
    with pytest.raises(ValueError, match="2 predictions but 1"):
        caption_metrics(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="no reference caption"):
        caption_metrics(["a"], [[]])


def test_meteor_without_java_says_what_to_install(monkeypatch):
    from c3lib import metrics

    monkeypatch.setattr(metrics, "_METEOR", None)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match=r"no `java` is on the PATH.*openjdk.*--no-meteor"):
        caption_metrics(["a dog runs"], [["a dog runs"]])
    assert "METEOR" not in caption_metrics(["a dog runs"], [["a dog runs"]], meteor=False)
