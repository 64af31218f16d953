"""Chapter 11's paired claims, page sentences and sigma choice on constructed scores (the chapter itself runs in
test_chapters)."""

from __future__ import annotations

import numpy as np

from c3lib import paper
from c3lib.chapters import ch11_span_only_noise as ch


def _runs(means: dict[str, float], seeds=(0, 1, 2), n: int = 150, spread: float = 2.0, task: str = "t") -> list[dict]:
    """Runs of one space whose per-item CIDEr has the given mean per variant: a difficulty per image shared by
    every variant (paired), plus independent noise per seed and image."""
    rng = np.random.default_rng(0)
    hard = rng.normal(0, 15, size=n)
    out = []
    for v, mu in means.items():
        for s in seeds:
            noise = rng.normal(0, spread, size=n)
            out.append({"task": task, "variant": v, "seed": s,
                        "items": {"CIDEr": list(mu + hard - hard.mean() + noise - noise.mean())}})
    return out


def _claims(span_only: float, collapse: float = 14.0, corrupt: float = 30.0, **kw) -> dict:
    means = {"C1": 10.0, "C2-collapse": collapse, "span-only": span_only, "C2-corrupt": corrupt, "C3": 33.0}
    return {v.key: v for v in ch.claims(_runs(means, **kw), ["t"])}


def test_table7s_own_numbers_hold_both_claims():
    cider = paper.TABLE_METRICS.index("CIDEr")
    t7 = {v: row[cider] for v, row in paper.TABLE7.items()}
    got = _claims(t7["span-only"], t7["C2-collapse"], t7["C2-corrupt"])
    assert got["v_t_worse"].verdict == got["v_t_similar"].verdict == "held"
    assert abs(got["v_t_similar"].effect - (t7["C2-corrupt"] - t7["C2-collapse"])) < 1e-9  # SO below both
    assert "D = corrupt − collapse" in got["v_t_similar"].method


def test_span_only_claims_on_constructed_scores():
    between = _claims(17.0)  # collapse 14 < SO 17 < corrupt 30: D = 30 + 14 - 2 x 17 = 10
    assert between["v_t_worse"].verdict == between["v_t_similar"].verdict == "held"
    assert abs(between["v_t_similar"].effect - 10.0) < 1e-9
    assert "D = corrupt + collapse − 2·span-only" in between["v_t_similar"].method
    near_corrupt = _claims(27.0)  # 3 from corrupt, 13 from collapse
    assert near_corrupt["v_t_worse"].verdict == "held" and near_corrupt["v_t_similar"].verdict == "not held"
    above = _claims(31.0)  # above both: closer to corrupt, and not worse than it
    assert above["v_t_worse"].verdict == "not held" and above["v_t_similar"].verdict == "not held"
    assert abs(above["v_t_similar"].effect - (14.0 - 30.0)) < 1e-9
    midway = _claims(22.0, spread=6.0)  # at the midpoint: D = 0, the data cannot tell
    assert midway["v_t_similar"].verdict == "within noise"
    inverted = _claims(12.0, collapse=20.0, corrupt=15.0)  # corrupt below collapse, SO below both: closer to corrupt
    assert inverted["v_t_similar"].verdict == "not held" and inverted["v_t_worse"].verdict == "held"


def test_the_similarity_interval_counts_seed_spread_and_a_missing_variant_is_not_run():
    one = _claims(17.0, seeds=(0,))["v_t_similar"]
    three = _claims(17.0)["v_t_similar"]
    assert one.seeds == 1 and three.seeds == 3 and "one seed" in one.method
    missing = ch.claims([r for r in _runs({"span-only": 5.0, "C2-corrupt": 9.0})], ["t"])
    assert [v.verdict for v in missing] == ["held", "not run at this preset"]


def test_the_page_words_follow_the_verdicts():
    from types import SimpleNamespace

    runs = _runs({"C1": 10.0, "C2-collapse": 14.0, "span-only": 17.0, "C2-corrupt": 30.0, "C3": 33.0})
    runs += _runs({"C1": 10.0, "C2-collapse": 14.0, "span-only": 31.0, "C2-corrupt": 30.0, "C3": 33.0}, task="u")
    for r in runs:
        r["CIDEr"] = float(np.mean(r["items"]["CIDEr"]))
    summary = [{"task": t, "variant": v, "CIDEr": float(np.mean([r["CIDEr"] for r in runs if r["task"] == t
                                                                 and r["variant"] == v])), "CIDEr std": 0.1,
                "n_seeds": 3} for t in "tu" for v in ("C1", "C2-collapse", "span-only", "C2-corrupt", "C3")]
    found = ch.claims(runs, ["t", "u"])
    per = [{"space": t, "noise_per_dim": 0.01, "sigma_star": 0.06, "sigma_star_over_noise": 6.0, "CIDEr at sigma*": 1.0,
            "CIDEr at CLIP's sigma": 2.0, "n_select_images": 16} for t in "tu"]
    cfg = SimpleNamespace(tasks=["t", "u"], seeds=(0, 1, 2), n_noise_pairs=32)
    prose, md = ch.page({"clip_sigma_ratio": None, "sigma_from_noise": per, "runs": []}, summary, found, cfg)
    assert "- **t**: span-only 17.0" in md["table7_lines"] and "closer to collapse than to corrupt: **held**" in md[
        "table7_lines"]
    assert md["beside"].startswith("Removing the gap-direction part of the noise costs score, as in the paper, on t;")
    assert "u: not held" in md["beside"] and "no sigma is predicted" in md["sigma_words"]
    assert prose["p_span"] == paper.TABLE7["span-only"][paper.TABLE_METRICS.index("CIDEr")] and prose["n_select"] == 16


def test_best_sigma_takes_the_highest_selection_score_and_the_first_on_ties():
    sel = "CIDEr (selection)"
    sweep = [{"space": "a", "sigma": 0.03, sel: 5.0, "CIDEr": 9.0},
             {"space": "a", "sigma": 0.06, sel: 7.0, "CIDEr": 1.0},
             {"space": "a", "sigma": 0.25, sel: 7.0, "CIDEr": 1.0},
             {"space": "b", "sigma": 0.03, sel: 2.0, "CIDEr": 0.0},
             {"space": "b", "sigma": 0.5, sel: 9.0, "CIDEr": 9.0, "role": "predicted from noise"}]
    assert ch.best_sigma(sweep) == {"a": 0.06, "b": 0.03}  # never the test CIDEr, never the predicted sigma
    assert ch.best_sigma(sweep, "CIDEr")["a"] == 0.03


def test_alignment_noise_recovers_the_noise_per_dimension():
    rng = np.random.default_rng(0)
    d, sigma = 256, 0.01
    x = rng.normal(size=(600, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = x + 0.5 * np.eye(d)[0] + sigma * rng.normal(size=(600, d))  # a gap along e0 and noise sigma per dim
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    noise = ch.alignment_noise(x, y, 500, seed=0)
    assert 0.7 * sigma < noise < 1.3 * sigma  # renormalising y shrinks it a little
    assert ch.alignment_noise(x, x, 500, seed=0) < 1e-9
