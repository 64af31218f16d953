"""Chapter 11's claims and sigma choice on constructed summaries (the chapter itself runs in test_chapters)."""

from __future__ import annotations

from c3lib.chapters import ch11_span_only_noise as ch


def _summary(span_only: float, std: float = 0.5):
    means = {"C1": 10.0, "C2-collapse": 14.0, "span-only": span_only, "C2-corrupt": 30.0, "C3": 33.0}
    return [{"task": "t", "variant": v, "CIDEr": m, "CIDEr std": std} for v, m in means.items()]


def test_span_only_claims():
    assert ch.claims(_summary(14.5))["t"] == {"span-only below corrupt": True, "span-only near collapse": True}
    assert ch.claims(_summary(20.0))["t"] == {"span-only below corrupt": True, "span-only near collapse": False}
    assert ch.claims(_summary(31.0))["t"]["span-only below corrupt"] is False
    assert ch.claims(_summary(16.5, std=0.5))["t"]["span-only near collapse"] is False  # 2.5 > 2 x (0.5 + 0.5)


def test_best_sigma_takes_the_highest_selection_score_and_the_first_on_ties():
    sel = "CIDEr (selection)"
    sweep = [{"space": "a", "sigma": 0.03, sel: 5.0, "CIDEr": 9.0}, {"space": "a", "sigma": 0.06, sel: 7.0, "CIDEr": 1.0},
             {"space": "a", "sigma": 0.25, sel: 7.0, "CIDEr": 1.0}, {"space": "b", "sigma": 0.03, sel: 2.0, "CIDEr": 0.0},
             {"space": "b", "sigma": 0.5, sel: 9.0, "CIDEr": 9.0, "role": "predicted from noise"}]
    assert ch.best_sigma(sweep) == {"a": 0.06, "b": 0.03}  # never the test CIDEr, never the predicted sigma
    assert ch.best_sigma(sweep, "CIDEr")["a"] == 0.03


def test_alignment_noise_recovers_the_noise_per_dimension():
    import numpy as np

    rng = np.random.default_rng(0)
    d, sigma = 256, 0.01
    x = rng.normal(size=(600, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = x + 0.5 * np.eye(d)[0] + sigma * rng.normal(size=(600, d))  # a gap along e0 and noise sigma per dim
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    noise = ch.alignment_noise(x, y, 500, seed=0)
    assert 0.7 * sigma < noise < 1.3 * sigma  # renormalising y shrinks it a little
    assert ch.alignment_noise(x, x, 500, seed=0) < 1e-9


def test_paper_table7_has_every_variant_in_metric_order():
    from c3lib.metrics import TABLE_METRICS

    assert set(ch.PAPER_TABLE7) == {"C1", "C2-collapse", "C2-corrupt", "C3", "span-only"}
    assert all(len(v) == len(TABLE_METRICS) for v in ch.PAPER_TABLE7.values())
    assert ch.PAPER_TABLE7["span-only"][TABLE_METRICS.index("CIDEr")] == 22.8
