"""Chapter 10: the shift direction (orthogonal to the span of the embeddings, seeded), the paired claims on
constructed per-item scores, the page's sentences, the live panel and the sweep in gap units."""

from __future__ import annotations

import numpy as np

from c3lib.chapters.ch10_gap_shift import orthogonal_direction
from c3lib.data.standins import bag_of_words_captions


def test_direction_is_orthogonal_to_the_span():
    rng = np.random.default_rng(0)
    emb = np.zeros((200, 10))
    emb[:, :3] = rng.normal(size=(200, 3))
    c, diag = orthogonal_direction(emb, np.random.default_rng(1))
    assert np.linalg.norm(c) == np.float64(1.0) or abs(np.linalg.norm(c) - 1) < 1e-12
    assert np.abs(c[:3]).max() < 1e-10 and diag["span_dims"] <= 3
    assert diag["variance_fraction_along_c"] < 1e-20
    c2, _ = orthogonal_direction(emb, np.random.default_rng(1))
    np.testing.assert_array_equal(c, c2)


def test_full_rank_falls_back_to_least_variance_direction():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(500, 4)) * np.array([10.0, 5.0, 2.0, 0.01])
    c, diag = orthogonal_direction(emb, rng, var_kept=1.0)
    assert abs(abs(c[3]) - 1) < 1e-3 and diag["variance_fraction_along_c"] < 1e-5


def test_bag_of_words_captions_shapes():
    caps, emb = bag_of_words_captions(5, 8, np.random.default_rng(0))
    assert len(caps) == 5 and emb.shape == (5, 8) and all(c.endswith(" .") for c in caps)


def _items(means, n: int = 100, spread: float = 5.0, seed: int = 0) -> list[np.ndarray]:
    """Per-item ROUGE-1 at each ||c|| with the given means: one difficulty per caption shared by every ||c||
    (paired), plus independent noise."""
    rng = np.random.default_rng(seed)
    hard = rng.normal(0, 20, size=n)
    out = []
    for m in means:
        noise = rng.normal(0, spread, size=n)
        out.append(m + hard - hard.mean() + noise - noise.mean())
    return out


def _words(found):
    return {v.key: v.verdict for v in found}


def test_the_papers_own_sweep_holds_every_claim():
    from c3lib import paper
    from c3lib.chapters import ch10_gap_shift as ch

    norms = list(paper.TABLE6)
    found, steps = ch.claims(norms, _items([v[0] for v in paper.TABLE6.values()], spread=2.0), "s")
    assert _words(found) == {"v_falls": "held", "v_monotone": "held", "v_size": "within noise"}  # the paper's own size
    assert len(steps) == len(norms) - 1 and all(v.verdict == "held" for v in steps)
    falls = found[0]
    assert abs(falls.effect - (85.5 - 13.8)) < 1e-9 and falls.n == 100 and falls.seeds == 1
    assert abs(found[2].effect) < 1e-9  # (1 - share) * 85.5 - 13.8 = 0: the paper's drop sits on the bound
    assert abs(ch.paper_share() - (85.5 - 13.8) / 85.5) < 1e-12


def test_claims_follow_the_sweep():
    from c3lib.chapters import ch10_gap_shift as ch

    norms = (0.0, 0.2, 1.0, 2.0)
    big = _words(ch.claims(norms, _items([80.0, 60.0, 30.0, 5.0]), "s")[0])
    assert big == {"v_falls": "held", "v_monotone": "held", "v_size": "held"}  # loses 94 % (paper: 84 %)
    small, steps = ch.claims(norms, _items([40.0, 40.5, 39.0, 36.0]), "s")  # a step up of 0.5, a 10 % drop
    assert _words(small)["v_falls"] == "held" and _words(small)["v_size"] == "not held"
    assert _words(small)["v_monotone"] == "within noise" and steps[0].verdict == "within noise"
    rises = _words(ch.claims(norms, _items([30.0, 30.0, 40.0, 41.0]), "s")[0])
    assert rises == {"v_falls": "not held", "v_monotone": "not held", "v_size": "not held"}
    flat = ch.claims((0.0, 0.2), [np.full(10, 50.0), np.full(10, 50.0)], "s")[0]
    assert _words(flat)["v_monotone"] == "not held" and flat[1].interval() == "+0 [+0, +0]"  # no change is no fall
    unswept = _words(ch.claims((0.0, 1.0), _items([50.0, 40.0]), "s")[0])
    assert unswept["v_falls"] == unswept["v_size"] == "not run at this preset" and unswept["v_monotone"] == "held"
    one = _words(ch.claims((0.0,), _items([50.0]), "s")[0])
    assert one["v_monotone"] == "not enough data"


def test_the_page_says_falls_only_when_the_drop_is_held():
    from c3lib.chapters import ch10_gap_shift as ch

    def sentence(means):
        norms = (0.0, 1.0, 2.0)
        items = _items(means)
        found, steps = ch.claims(norms, items, "s")
        rows = [{"norm": r, "ROUGE-1": float(np.mean(x))} for r, x in zip(norms, items)]
        out = {"rows": rows, "n_train": 10, "encoder": "e", "train_log": [], "n_test": 100, "gap_length": None,
               "direction": {"span_dims": 3, "dim": 8, "variance_fraction_along_c": 0.0}, "along_gap": None}
        return ch.page(out, found, steps, ch.normalised(rows, None), ch.paper_normalised(), "s")[1]

    held = sentence([80.0, 40.0, 4.0])
    assert held["sweep_sentence"].startswith("ROUGE-1 **falls** from 80.0") and "every step" in held["sweep_sentence"]
    assert "the drop is at least the paper's" in held["size_sentence"]
    noise = sentence([40.0, 40.2, 39.9])
    assert "**within the noise**" in noise["sweep_sentence"] and "falls**" not in noise["sweep_sentence"]
    assert "within the noise of this run" not in noise["size_sentence"] and "smaller than" in noise["size_sentence"]
    up = sentence([30.0, 35.0, 40.0])
    assert "**does not fall**" in up["sweep_sentence"] and "does not fall at every step" in up["sweep_sentence"]


class _Reader:
    """A stand-in decoder that says what it sees along axis 0: the panel must shift before decoding."""

    def caption(self, x, guard=True):
        assert guard is False
        return ["a red cube" if row[0] < 0.5 else "noise noise" for row in x]


def test_shift_panel_decodes_shifted_embeddings():
    from c3lib.chapters import ch10_gap_shift as ch

    emb = np.zeros((8, 4))
    emb[:, 1] = 2.0  # normalised to e_1: axis 0 holds only the shift
    refs = ["a red cube"] * 8
    c = np.array([1.0, 0.0, 0.0, 0.0])
    clean = ch.shift_panel(_Reader(), emb, refs, c, 0.0, k=3)
    assert clean["captions"] == ["a red cube"] * 3 and clean["ROUGE-1"] > 99
    moved = ch.shift_panel(_Reader(), emb, refs, c, 1.0, k=3)
    assert moved["captions"] == ["noise noise"] * 3 and moved["ROUGE-1"] < 1


def test_normalised_sensitivity_is_in_gap_units_and_shares_of_the_unshifted_score():
    from c3lib.chapters import ch10_gap_shift as ch

    rows = [{"norm": 0.0, "ROUGE-1": 40.0}, {"norm": 0.5, "ROUGE-1": 30.0}, {"norm": 1.0, "ROUGE-1": 10.0}]
    out = ch.normalised(rows, gap_length=0.5)
    assert [r["shift_in_gaps"] for r in out] == [0.0, 1.0, 2.0]
    assert [r["relative"] for r in out] == [1.0, 0.75, 0.25]
    paper = ch.paper_normalised()
    assert paper[0]["relative"] == 1.0 and abs(paper[-1]["shift_in_gaps"] - 2.0 / 0.83) < 1e-12  # Table 1's gap
    assert all(r["shift_in_gaps"] != r["shift_in_gaps"] for r in ch.normalised(rows, None))  # NaN: no gap known


def test_a_space_needs_text_with_minilm_features():
    import pytest

    from c3lib.chapters import ch10_gap_shift as ch
    from c3lib.config import make_config

    with pytest.raises(ValueError, match="bag-of-words"):
        make_config(ch.GapShiftConfig, "smoke", {"space": "flickr8k-clip"})


def test_span_share_is_one_inside_the_span_and_zero_orthogonal_to_it():
    import numpy as np

    from c3lib.chapters import ch10_gap_shift as ch

    rng = np.random.default_rng(0)
    emb = np.zeros((200, 8))
    emb[:, :3] = rng.normal(size=(200, 3))  # the span: the first three axes
    assert abs(ch.span_share(emb, np.eye(8)[1]) - 1.0) < 1e-9
    assert ch.span_share(emb, np.eye(8)[5]) < 1e-9
    assert abs(ch.span_share(emb, np.eye(8)[0] + np.eye(8)[6]) - 0.5) < 1e-9
