"""The progress switch: C3_PROGRESS=0 silences every bar; unset, bars draw and count."""

from __future__ import annotations

import io

import pytest

from c3lib import progress as prog


@pytest.mark.parametrize("value, on", [(None, True), ("1", True), ("yes", True), ("0", False),
                                       ("off", False), (" FALSE ", False), ("no", False)])
def test_enabled_reads_the_switch(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv(prog.ENV, raising=False)
    else:
        monkeypatch.setenv(prog.ENV, value)
    assert prog.enabled() is on


def test_switched_off_bar_writes_nothing_but_still_iterates(monkeypatch):
    monkeypatch.setenv(prog.ENV, "0")
    out = io.StringIO()
    items = list(prog.progress(range(5), desc="steps", file=out))
    assert items == [0, 1, 2, 3, 4]
    assert out.getvalue() == ""


def test_switched_on_bar_draws_its_final_count(monkeypatch):
    monkeypatch.delenv(prog.ENV, raising=False)
    out = io.StringIO()
    assert sum(prog.progress(range(7), desc="steps", file=out)) == 21
    assert "steps" in out.getvalue() and "7/7" in out.getvalue()


def test_switch_on_keeps_a_callers_disable(monkeypatch):
    monkeypatch.setenv(prog.ENV, "1")
    out = io.StringIO()
    with prog.progress(total=3, file=out, disable=True) as bar:
        bar.update(3)
    assert out.getvalue() == ""


def test_manual_bar_off_accepts_updates(monkeypatch):
    monkeypatch.setenv(prog.ENV, "off")
    with prog.progress(total=10) as bar:
        bar.update(4)
        bar.set_postfix(loss=0.5)
    assert bar.disable
