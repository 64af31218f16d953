"""The book's pages read as a book: glue helpers, claim verdicts, the dashboard, and the live panels' fast paths.

Chapter verdicts (``chNN.claims``) are checked on constructed inputs that must come out held and not held;
the notebooks of chapters 01-04 and 07-10 are checked to open with a Claim, close with a Verdict and cite only figures
they name.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest
import torch

from c3lib import report, verdict
from c3lib.geometry import gap_statistics
from c3lib.chapters import ch01_dimensional_collapse as ch01
from c3lib.chapters import ch02_gap_survives_optimisation as ch02
from c3lib.chapters import ch03_alignment_noise_temperature as ch03
from c3lib.chapters import ch04_geometry_statistics as ch04

REPO = Path(__file__).resolve().parent.parent
PAGES = ["01_dimensional_collapse", "02_gap_survives_optimisation", "03_alignment_noise_temperature",
         "04_geometry_statistics"]
PAGES += ["07_low_data", "08_text_to_image", "09_other_modalities", "10_gap_shift"]
PAGES += ["06_captioning"]
PAGES += ["05_connect"]


def test_plain_turns_numpy_scalars_into_values_glue_can_read_back():
    assert repr(report.plain(np.float64(0.5))) == "0.5" and type(report.plain(np.int64(3))) is int
    assert report.plain(np.bool_(True)) is True and report.plain("held") == "held"


def _claims():
    held = verdict.exact(0.5, "c1", "gap", verdict.above(0), space="space A", key="v_c1")
    lost = verdict.difference([[1.0, 2.0, 3.0], [1.5, 2.0, 3.5]], [[5.0, 6.0, 7.0], [5.5, 6.0, 7.0]], "c2",
                              "CIDEr, C3 − C1", space="space A")
    skipped = verdict.not_run("c3", "CIDEr, C3 − C1", space="space B")
    return [held, lost, skipped]


def test_verdict_table_gives_effect_interval_size_and_word():
    rows = report.verdict_markdown(_claims()).splitlines()
    assert rows[0].startswith("| space | claim | statistic | effect [95 % interval] | n · seeds | verdict |")
    assert rows[2] == "| space A | c1 | gap > 0 | +0.5 (exact) | — · — | **held** |"
    assert rows[3].startswith("| space A | c2 | CIDEr, C3 − C1 > 0 | -3.92 [") and rows[3].endswith("| 3 · 2 | not held |")
    assert rows[4] == f"| space B | c3 | CIDEr, C3 − C1 | — | — · — | {verdict.NOT_RUN} |"
    assert "No claim" in report.verdict_markdown([])


def test_claim_rows_read_the_verdicts_back_from_a_results_record():
    record = {"metrics": {"claims": [v.to_dict() for v in _claims()]}}
    assert report.claim_rows(record) == _claims()
    assert report.claim_rows({}) == [] and report.claim_rows({"metrics": {}}) == []


def test_dashboard_counts_and_links_each_chapter():
    records = {"01_a": {"preset": "smoke", "wall_time_s": 1.5, "comparison": [{"quantity": "q", "paper": 1, "ours": 2}],
                        "metrics": {"claims": [v.to_dict() for v in _claims()]}},
               "07_b": {"preset": "default", "wall_time_s": 2.0, "metrics": {"claims": [_claims()[0].to_dict()]}}}
    chapters, claims = report.dashboard(records)
    assert list(chapters["held"]) == [1, 1] and list(chapters["not held"]) == [1, 0]
    assert list(chapters[verdict.NOT_RUN]) == [1, 0]
    assert chapters["chapter"][0] == '<a href="01_a.html">01_a</a>'
    assert list(claims.verdict) == ["held", "not held", verdict.NOT_RUN, "held"]
    assert list(claims.space) == ["space A", "space A", "space B", "space A"]
    assert claims["effect [95 % interval]"][0] == "+0.5 (exact)"
    counts = report.dashboard_counts(records)
    assert counts["n_claims"] == 3 and counts["n_held"] == 2 and counts["n_not_held"] == 1
    assert counts["n_chapters"] == 2 and counts["absent"] == "02, 03, 04, 05, 06, 08, 09, 10, 11"


def test_live_follows_the_book_switch(monkeypatch):
    monkeypatch.setenv(report.BOOK_ENV, "1")
    assert not report.live()
    assert report.panel(lambda **kw: None, {"tau": (0.0, 1.0, 0.1, 0.5)}) is None
    monkeypatch.delenv(report.BOOK_ENV)
    assert report.live()
    assert report.defaults({"tau": (0.0, 1.0, 0.1, 0.5), "sigma": (0, 1, 0.1, 0.2)}) == {"tau": 0.5, "sigma": 0.2}


def _space(img: int, txt: int, cone: float, d: int = 512, n: int = 500) -> dict:
    rng = np.random.default_rng(0)
    items = cone + 0.05 * rng.standard_normal(n)
    return {"n": n, "effective_dim_image": img, "effective_dim_text": txt, "d_image": d, "d_text": d,
            "cone_items_image": items, "cone_items_text": items}


def test_ch01_claims_decide_collapse_cone_and_depth():
    mlp_falls = {"layer": [0, 5, 10], "effective_dim": [500, 300, 100]}
    got = {(v.space, v.claim): v for v in ch01.claims({"clip_random": _space(25, 230, 0.7)}, _space(300, 260, 0.0),
                                                      mlp_falls)}
    assert [(v.key, v.verdict) for v in got.values()] == [
        ("v_clip_collapse", verdict.HELD), ("v_clip_cone", verdict.HELD), ("v_ours_collapse", verdict.NOT_HELD),
        ("v_cone", verdict.WITHIN_NOISE), ("v_depth", verdict.HELD)]
    clip = got[(ch01.SPACE_CLIP, ch01.COLLAPSE)]
    assert clip.effect == pytest.approx(255 / 512) and clip.low == clip.high and clip.n is None  # exact
    cone = got[(ch01.SPACE_CLIP, ch01.CONE)]
    assert cone.n == 500 and cone.low < 0.7 < cone.high
    assert ch01.depth_claim({"layer": [0, 5, 10], "effective_dim": [5, 6, 4]}).verdict == verdict.NOT_HELD, "a rise"
    assert ch01.depth_claim({"layer": [0, 5, 10], "effective_dim": [5, 5, 5]}).verdict == verdict.NOT_HELD, "flat"
    assert ch01.depth_claim({"layer": [0], "effective_dim": [5]}).verdict == verdict.NOT_ENOUGH
    few = ch01.collapse_claim(_space(20, 20, 0.5, n=24), ch01.SPACE_OURS, "k")
    assert few.verdict == verdict.NOT_ENOUGH and "n − 1 = 23" in few.method, "24 pairs cannot fill 512 dims"
    absent = {v.key: v.verdict for v in ch01.claims({}, _space(1, 1, 0.9), mlp_falls)}
    assert absent["v_clip_collapse"] == absent["v_clip_cone"] == verdict.NOT_RUN, "no COCO space without data"


def _ch02_inputs(outside=1e-16, var_after=0.001, ineff_after=0.8, predicted=0.79, span_last=0.05, shared_eff=0.05,
                 shared_var=0.001, shared_ineff=0.9):
    """The measures ch02's claims read, constructed: the defaults satisfy every claim."""
    trace = SimpleNamespace(grad_ineffective_outside=[0.0, outside], grad_ineffective=[0.2, 0.01],
                            gap_in_span=[0.6, span_last], gap=[1.2, 0.9])
    m = {"before": {"gap_ineffective": 1.0}, "after": {"gap_ineffective": ineff_after},
         "sphere": {"shrink_measured": ineff_after - 1.0, "predicted_after": predicted, "measured_after": ineff_after}}
    shared = {"before": {"gap_ineffective": 1.0},
              "after": {"gap": 1.0, "gap_effective": shared_eff, "gap_ineffective": shared_ineff}}

    def share(v):
        return {"image_before": 0.0, "text_before": 0.0, "image_after": v / 2, "text_after": v}
    return trace, m, shared, {"own_blocks": share(var_after), "shared": share(shared_var)}


def test_ch02_claims_follow_the_measured_gaps():
    from c3lib.chapters.ch02_gap_survives_optimisation import verdicts

    cfg = ch02.GapSurvivesConfig()
    held = verdicts.claims(cfg, *_ch02_inputs())
    assert [v.key for v in held] == ["v_no_gradient", "v_variance_zero", "v_gap_kept", "v_sphere", "v_gap_outside",
                                     "v_aligned", "v_variance_zero_shared", "v_gap_kept_shared"]
    assert all(v.verdict == verdict.HELD for v in held), [v for v in held if v.verdict != verdict.HELD]
    assert {v.space for v in held} == {cfg.blocks_space(), cfg.shared_space()}
    assert held[1].effect == 0.001, "the larger modality's variance share is the statistic"
    assert held[3].effect == pytest.approx(1 - 0.01 / 0.2), "the sphere accounts for all but 0.01 of a 0.2 shrink"
    bad = verdicts.claims(cfg, *_ch02_inputs(outside=1e-9, var_after=0.05, ineff_after=0.3, predicted=1.0,
                                             span_last=0.3, shared_eff=0.3, shared_var=0.02, shared_ineff=0.4))
    assert all(v.verdict == verdict.NOT_HELD for v in bad), [v for v in bad if v.verdict != verdict.NOT_HELD]
    assert bad[0].effect == pytest.approx(1e-7), "outside part over the whole ineffective gradient, at its worst step"


def test_ch02_bounds_come_from_definition_1_and_the_dtype():
    from c3lib import paper
    from c3lib.chapters.ch02_gap_survives_optimisation import verdicts

    assert verdicts.ZERO_SHARE == pytest.approx(1 - paper.EFFECTIVE_DIM_GAMMA)
    assert verdicts.rounding("float64") == pytest.approx(1.49e-8, rel=1e-2)
    assert verdicts.rounding("float32") == pytest.approx(3.45e-4, rel=1e-2)
    f32 = ch02.GapSurvivesConfig(dtype="float32")
    assert verdicts.claims(f32, *_ch02_inputs(outside=1e-9))[0].verdict == verdict.HELD, "1e-7 is float32 rounding"


def test_ch02_shifted_loss_sees_the_gap_only_when_there_is_one():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 16, generator=gen, dtype=torch.float64)
    flat = ch02.shifted_loss(x, x.clone(), 0.1, [0.0, 0.5, 1.0])
    assert flat.shape == (3,) and np.allclose(flat, flat[0]), "no gap: moving along it changes nothing"
    y = x + 3.0 * torch.nn.functional.one_hot(torch.tensor(15), 16).double()  # a constant offset: a gap
    moved = ch02.shifted_loss(x, y, 0.1, [0.0, 1.0])
    assert not np.isclose(moved[0], moved[1])


def test_ch03_claims_and_noise_panel():
    region = {"margins": {0.05: [0.1, 0.2, 0.3]}, "max_loss_error": 3e-15}
    good = ch03.lemma2_claims(region, past=-1e-3)
    assert [(v.key, v.verdict) for v in good] == [("v_past", verdict.HELD), ("v_margin", verdict.HELD),
                                                  ("v_exact", verdict.HELD)]
    assert good[1].effect == pytest.approx(0.1) and good[1].low == good[1].high, "exact: no interval"
    bad = ch03.lemma2_claims({"margins": {0.05: [0.1, 0.3, 0.2]}, "max_loss_error": 1e-3}, past=1e-4)
    assert all(v.verdict == verdict.NOT_HELD for v in bad)
    rng = np.random.default_rng(0)
    sweep = [{"tau": t, "noise": 0.6 - 5 * t} for t in (0.02, 0.05, 0.1)]
    items = [np.full(40, r["noise"]) + 0.01 * rng.standard_normal(40) for r in sweep]
    corr, ends = ch03.noise_claims(sweep, items)
    assert corr.verdict == verdict.HELD and corr.effect == pytest.approx(-1.0)
    assert ends.verdict == verdict.HELD and ends.n == 40 and ends.low < 0.4 < ends.high
    flat = ch03.noise_claims(sweep[::2], [items[0], items[0] + 0.001 * rng.standard_normal(40)])
    assert flat[0].verdict == verdict.NOT_ENOUGH and "at least 3" in flat[0].method, "2 temperatures: no correlation"
    assert flat[1].verdict in (verdict.WITHIN_NOISE, verdict.NOT_HELD)
    one = ch03.noise_claims(sweep[:1], items[:1])
    assert [v.verdict for v in one] == [verdict.NOT_ENOUGH] * 2, "one temperature is never a verdict"
    assert [v.verdict for v in ch03.noise_claims([], [])] == [verdict.NOT_ENOUGH] * 2
    clean = ch03.noise_panel(0.01, 0.0)
    assert clean["noise"] == pytest.approx(0.0, abs=1e-12) and clean["stable_share"] == 1.0
    shares = [ch03.noise_panel(0.05, s)["stable_share"] for s in (0.0, 0.1, 0.3)]
    assert shares[0] >= shares[1] >= shares[2] and shares[2] < shares[0]
    assert ch03.noise_panel(0.005, 0.1)["stable_share"] > ch03.noise_panel(0.1, 0.1)["stable_share"], \
        "a lower temperature puts more noisy pairs in the stable region"


def _ch04_space(x, y, group, label):
    st = gap_statistics(x, y, group, seed=0)
    return {"label": label, "stats": st, **st.summary()}


def test_ch04_claims_per_space():
    def unit(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    rng = np.random.default_rng(0)
    n, d = 600, 64
    y = np.zeros((n, d))
    y[:, :8] = unit(rng.standard_normal((n, 8)))  # the span: the first 8 dims
    noise = np.zeros((n, d))
    noise[:, 16:] = 0.05 * rng.standard_normal((n, d - 16))
    good = _ch04_space(unit(0.6 * y + 0.8 * np.eye(d)[10] + noise), y, 100, "A")  # constant gap outside the span
    x_bad = y.copy()
    x_bad[:, :8] += 0.3 * rng.standard_normal((n, 8))  # a small gap along dim 0, inside the span, swamped by noise
    bad = _ch04_space(unit(x_bad + 0.15 * np.eye(d)[0]), y, 100, "B")
    skew = np.where(rng.random(n) < 0.9, 0.1, -0.9)[:, None] * np.eye(d)[20]  # zero mean, but a preferred direction
    skewed = _ch04_space(unit(0.6 * y + 0.8 * np.eye(d)[10] + skew), y, 100, "C")
    got = ch04.claims({"b": bad, "clip": good, "c": skewed})
    assert [v.space for v in got[:4]] == ["A"] * 4, "the reference space (pretrained CLIP) comes first"
    assert [v.key for v in got[:4]] == ["v_ref_length", "v_ref_direction", "v_ref_orthogonal", "v_ref_noise"]
    assert all(v.verdict == verdict.HELD and v.n == 6 for v in got[:4]), got[:4]
    assert not any(v.key for v in got[4:])
    b = {v.claim: v.verdict for v in got if v.space == "B"}
    assert b[ch04.DIRECTION] == b[ch04.ORTHOGONAL] == verdict.NOT_HELD and b[ch04.LENGTH] != verdict.HELD
    c = {v.claim: v.verdict for v in got if v.space == "C"}
    assert c[ch04.NOISE] == verdict.NOT_HELD and c[ch04.DIRECTION] == verdict.HELD
    ortho = got[2]
    assert ortho.region == f"< {1 / np.sqrt(d):g}" and 0 <= ortho.low <= ortho.effect <= ortho.high
    assert ch04.bounds(20, d)[ch04.DIRECTION].low == pytest.approx(1 - 0.015 * 5), "the shortfall grows as 100/g"
    assert ch04.bounds(100, d)[ch04.LENGTH].high == pytest.approx(0.015 / 0.825)
    two = ch04.space_claims(_ch04_space(x_bad[:200], y[:200], 100, "two"), "two")
    assert [v.verdict for v in two[:2]] == [verdict.NOT_ENOUGH] * 2 and two[3].verdict == verdict.NOT_ENOUGH, \
        "two groups: one comparison, no spread"


@pytest.mark.parametrize("name", PAGES)
def test_chapter_opens_with_a_claim_closes_with_a_verdict_and_names_what_it_cites(name):
    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "```{admonition} Claim" in first.source
    last_md = [c for c in nb.cells if c.cell_type == "markdown"][-1].source
    assert last_md.startswith("## Verdict") and "{glue:md} verdict_table" in last_md
    names = set(re.findall(r"^:name: (\S+)", text, re.M))
    cited = set(re.findall(r"\{numref\}`(?:[^<`]*<)?([^>`]+)>?`", text))
    assert names and cited <= names, f"cited but never named: {cited - names}"
    figures = set(re.findall(r"\{glue:figure\} (\w+)", text))
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert all(f'"{key}"' in code for key in figures), "every placed figure is glued by a code cell"
    assert "display(Markdown(f" not in code, "prose numbers are glued, not formatted into Markdown outputs"
