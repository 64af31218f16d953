"""Every number of c3lib.paper is printed in the paper as we quote it."""

from pathlib import Path

import pytest

from c3lib import paper

PAPER_MD = Path(__file__).resolve().parents[2] / "shared" / "paper" / "c3-paper.md"


@pytest.mark.skipif(not PAPER_MD.exists(), reason=f"the paper's text is not at {PAPER_MD}")
def test_every_quoted_number_appears_in_the_paper():
    text = PAPER_MD.read_text(encoding="utf-8")
    quoted = list(paper.quotes())
    assert len(quoted) > 200
    missing = [(where, t) for where, t in quoted if t not in text]
    assert not missing, missing


def test_derived_numbers_follow_their_sources():
    assert paper.CLIPCAP_SUPERVISED_CIDER == 106.6
    assert paper.GAP_COST == pytest.approx(1 - 13.0 / 106.6)
    assert paper.GAP_LENGTH == 0.83
    assert paper.table_row(paper.TABLE2, "C3", "CIDEr") == 93.3
    assert paper.TABLE7["span-only"][4] == 22.8
