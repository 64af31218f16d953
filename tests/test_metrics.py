"""Caption metrics: PTB tokens as COCOEvalCap's, exact values on constructed captions, SPICE never 0, clear errors."""

from __future__ import annotations

import pytest

from c3lib.metrics import caption_metrics, caption_scores, format_metrics, ptb_tokenize, rouge1, tokenize


def test_tokenize():
    assert tokenize("A Dog, running.") == "a dog running"
    assert tokenize("A dog's red T-shirt.") == "a dog 's red t-shirt"  # PTB splits the clitic, keeps the hyphen
    assert tokenize("He didn't (really).") == "he did n't -lrb- really -rrb-"  # COCOEvalCap keeps bracket tokens


TRICKY = ["A dog's T-shirt.", 'He said "hi" (twice) to Mr. Smith, didn\'t he?', "Café naïve -- 3.5 km/h, 50% $5!",
          "一只狗在草地上跑", "...", "", "cannot gonna u.s.a. e-mail http://x.com/a"]


def test_tokens_are_pycocoevalcap_ptbtokenizers():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    gts = {0: [{"caption": c} for c in TRICKY[:4]], 1: [{"caption": c} for c in TRICKY[4:]]}
    res = {0: [{"caption": "A man's hat-stand."}], 1: [{"caption": "two (2) cats, sleeping"}]}
    want_gts, want_res = PTBTokenizer().tokenize(gts), PTBTokenizer().tokenize(res)  # COCOEvalCap's two calls
    assert ptb_tokenize(gts) == want_gts
    both = ptb_tokenize({**{("gts", k): v for k, v in gts.items()}, **{("res", k): v for k, v in res.items()}})
    assert both == {**{("gts", k): v for k, v in want_gts.items()}, **{("res", k): v for k, v in want_res.items()}}


def test_scores_compare_ptb_tokens():
    # a regex split makes "t-shirt" "t shirt" and "dog's" "dog s": these pairs would score 100
    hyphen = caption_metrics(["a man in a t-shirt"], [["a man in a t shirt"]], meteor=False)
    assert hyphen["BLEU-1"] < 100 - 1e-6 and hyphen["BLEU-4"] < 100 - 1e-6 and hyphen["ROUGE-L"] < 100
    # pred {the, dog, 's, ball}, ref {the, dog, s, ball}: overlap 3 of 4 each way -> F1 3/4
    assert rouge1(["the dog's ball"], [["the dog s ball"]]) == pytest.approx(75.0)
    same = caption_metrics(["A man in a T-shirt.", "the dog's ball"], [["a man in a t-shirt"], ["The dog's ball!"]],
                           meteor=False)
    assert same["BLEU-4"] == pytest.approx(100.0, abs=1e-5) and same["ROUGE-1"] == pytest.approx(100.0)


def test_one_java_start_per_scoring_call(monkeypatch):
    import subprocess

    calls = []
    run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or run(*a, **k))
    caption_scores(["a dog", "two cats", ""], [["a dog runs", "a dog"], ["cats"], ["a bird"]], meteor=False)
    assert len(calls) == 1
    rouge1(["a dog", "two cats"], [["a dog runs"], ["cats"]])
    assert len(calls) == 2


def test_line_breaks_inside_captions_keep_items_aligned():
    refs = [["a dog runs on the grass"], ["two cats sleep on a bed"], ["a man rides a bike"]]
    broken = ["a dog\nruns on\r\nthe grass", "two\rcats\u2028sleep\x0con a\x0bbed", "a man\x85rides a bike\n"]
    m, items = caption_scores(broken, refs, meteor=False)
    assert m["BLEU-4"] == pytest.approx(100.0, abs=1e-5)
    assert items["ROUGE-L"] == pytest.approx([100.0] * 3) and items["ROUGE-1"] == pytest.approx([100.0] * 3)
    assert ptb_tokenize({0: [{"caption": broken[1]}]}) == {0: ["two cats sleep on a bed"]}


def test_empty_prediction_scores_and_punctuation_only_references_are_left_out():
    m, items = caption_scores(["", "!?", "a dog"], [["a cat"], ["a cat"], ["a dog", "...", " "]], meteor=False)
    assert items["ROUGE-1"] == pytest.approx([0.0, 0.0, 100.0]) and items["ROUGE-L"] == pytest.approx([0, 0, 100.0])
    assert all(v is None or v >= 0 for v in m.values())
    with pytest.raises(ValueError, match=r"no reference caption.*index 1: \['\.\.\.', '!'\]"):
        caption_metrics(["a dog", "a cat"], [["a dog"], ["...", "!"]], meteor=False)
    with pytest.raises(ValueError, match="index 0"):
        rouge1(["a"], [["-- ;", "\n"]])  # a bracket would stay, as "-lrb-"


def test_java_giving_back_the_wrong_lines_is_an_error(monkeypatch):
    import subprocess

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, b"a dog\nend\n", b""))
    with pytest.raises(RuntimeError, match="2 lines back for 3 sent"):
        ptb_tokenize({0: [{"caption": "a dog"}, {"caption": "a cat"}]})
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, b"", b"Error: no jar"))
    with pytest.raises(RuntimeError, match="exit status 1.*no jar"):
        ptb_tokenize({0: [{"caption": "a dog"}]})


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


def test_without_java_says_what_to_install(monkeypatch):
    from c3lib import metrics

    monkeypatch.setattr(metrics, "_METEOR", None)
    monkeypatch.setenv("PATH", "/nonexistent")
    for score in (lambda: caption_metrics(["a dog runs"], [["a dog runs"]]),
                  lambda: caption_metrics(["a dog runs"], [["a dog runs"]], meteor=False),  # PTB tokens need Java
                  lambda: rouge1(["a dog runs"], [["a dog runs"]]), lambda: tokenize("a dog")):
        with pytest.raises(RuntimeError, match=r"no `java` is on the PATH: install a Java runtime.*openjdk"):
            score()
