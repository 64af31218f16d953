"""Chapter 10's shift direction: orthogonal to the span of the embeddings, seeded."""

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


def _rows(scores, norms=(0.0, 0.2, 1.0, 2.0)):
    return [{"norm": n, "ROUGE-1": s} for n, s in zip(norms, scores)]


def test_claims_follow_the_sweep():
    from c3lib.chapters import ch10_gap_shift as ch

    held = ch.claims(_rows([80.0, 80.5, 40.0, 20.0]), "s")["s"]  # a rise of 0.5 is within one point
    assert held == {ch.MONOTONE: True, ch.FALLS: True, ch.PAPER_SIZE: True}
    small = ch.claims(_rows([40.0, 42.0, 39.0, 36.0]), "s")["s"]  # rises by 2, falls by 10 % (paper: 84 %)
    assert small == {ch.MONOTONE: False, ch.FALLS: True, ch.PAPER_SIZE: False}
    assert ch.claims(_rows([30.0, 30.0, 31.0, 31.0]), "s")["s"][ch.FALLS] is False
    unswept = ch.claims(_rows([50.0, 40.0], norms=(0.0, 1.0)), "s")["s"]
    assert unswept[ch.FALLS] is None and unswept[ch.PAPER_SIZE] is None and unswept[ch.MONOTONE] is True
    d = ch.rouge_drop(_rows([80.0, 80.5, 40.0, 20.0]))
    assert d["drop_ours"] == 0.75 and abs(d["drop_paper"] - (85.5 - 13.8) / 85.5) < 1e-12 and d["r1"] == 40.0


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
    assert paper[0]["relative"] == 1.0 and abs(paper[-1]["shift_in_gaps"] - 2.0 / 0.82) < 1e-12
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
