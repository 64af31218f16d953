"""The Fig 4 simulation, Lemma 1 (closed-form gradient = autograd) and Lemma 2 (the stable region)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from c3lib import sim_measures as sm
from c3lib import simulation as sim
from c3lib import stable_region as sr
from c3lib.chapters import ch03_alignment_noise_temperature as ch03


def test_closed_form_gradient_equals_autograd():
    space = sim.synthetic_pairs(40, 64, 5, 20, seed=3, dtype=torch.float64, unit_rows=False)
    x = space.img_emb.clone().requires_grad_(True)
    y = space.txt_emb.clone().requires_grad_(True)
    ref = sim.autograd_loss(x, y, 0.07)
    ref.backward()
    loss, gx, gy, _, _ = sim.loss_and_grad(space.img_emb, space.txt_emb, 0.07)
    assert float(loss) == pytest.approx(ref.item(), rel=1e-12)
    torch.testing.assert_close(gx, x.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(gy, y.grad, rtol=0, atol=1e-12)


def test_lemma1_differs_only_along_the_paired_embedding():
    space = sim.synthetic_pairs(30, 32, 4, 10, seed=1, dtype=torch.float64)
    xn, yn = space.img_emb, space.txt_emb  # unit rows
    _, _, _, gxn, _ = sim.loss_and_grad(xn, yn, 0.1)
    lx, _ = sim.lemma1_gradient(xn, yn, 0.1)
    a = torch.softmax(xn @ yn.T / 0.1, 1) + torch.softmax(xn @ yn.T / 0.1, 0)
    missing = (a.sum(1, keepdim=True) - 2) * yn / (2 * 30 * 0.1)
    torch.testing.assert_close(lx + missing, gxn, rtol=0, atol=1e-12)


def test_synthetic_start_matches_the_paper_setup():
    space = sim.synthetic_pairs(1000, 512, 25, 230, seed=0)
    x, y = space.img_emb, space.txt_emb
    assert torch.allclose(x.norm(dim=1), torch.ones(1000), atol=1e-5)
    raw = sim.synthetic_pairs(50, 512, 25, 230, seed=0, unit_rows=False)
    assert (raw.img_emb[:, 25:].std(0) == 0).all() and (raw.txt_emb[:, :25].std(0) == 0).all()
    assert (raw.txt_emb[:, 255:].std(0) == 0).all() and (raw.img_emb[:, :25].std(0) > 0).all()
    stats = sm.space_stats(x, y, space)
    assert stats["gap"] == pytest.approx(1.21, abs=0.06)  # paper's 1.21 at init
    assert stats["gap_ineffective"] == pytest.approx(0.99, abs=0.06)


def test_no_gradient_outside_the_constant_directions():
    space = sim.synthetic_pairs(32, 96, 6, 30, seed=0, dtype=torch.float64)
    x, y, trace = sim.optimise(space, 100, lr=0.1, tau=0.07, log_every=25, progress=False)
    assert trace.loss[-1] < trace.loss[0]
    assert max(trace.grad_ineffective_outside) < 1e-12
    assert min(trace.grad_ineffective) > 1e-6  # but along the constants it is not zero
    assert sm.ineffective_residual(x, space) < 1e-12 and sm.ineffective_residual(y, space) < 1e-12
    assert trace.noise[-1] < trace.noise[0]


@pytest.mark.parametrize("case, match", [
    ("shape", "share one shape"), ("nan", "NaN"), ("zero", "zero rows"), ("one", "at least 2"), ("tau", "tau"),
])
def test_bad_inputs_raise_clearly(case, match):
    x = torch.randn(10, 16)
    y = torch.randn(10, 16)
    tau = 0.07
    if case == "shape":
        y = y[:, :8]
    elif case == "nan":
        x[2, 3] = float("nan")
    elif case == "zero":
        y[4] = 0.0
    elif case == "one":
        x, y = x[:1], y[:1]
    elif case == "tau":
        tau = 0.0
    with pytest.raises(ValueError, match=match):
        sim.loss_and_grad(x, y, tau)


def test_bad_setup_raises_clearly():
    with pytest.raises(ValueError, match="img_dims"):
        sim.synthetic_pairs(10, 32, 20, 20)
    with pytest.raises(ValueError, match="at least 2"):
        sim.synthetic_pairs(1)
    with pytest.raises(ValueError, match="lr"):
        sim.optimise(sim.synthetic_pairs(8, 32, 2, 4), 5, lr=-1.0, progress=False)


def test_lemma2_margin_is_exact_and_grows_with_tau():
    neg = sr.random_negatives(199, 64, seed=2)
    taus = np.linspace(0.01, 0.3, 12)
    region = sr.stable_region(neg, taus, (0.01, 0.1))
    assert region["max_loss_error"] < 1e-10
    assert region["monotone_in_tau"] and region["below_delta_past_margin"]
    assert all(1 <= o <= 199 for o in region["overlap"])
    r = sr.required_margin(neg, 0.07, 0.05)
    assert sr.term_loss(neg.max() + r, neg, 0.07) == pytest.approx(0.05, abs=1e-12)
    assert sr.term_loss(neg.max() + r - 0.01, neg, 0.07) > 0.05
    with pytest.raises(ValueError, match="delta"):
        sr.required_margin(neg, 0.07, 0.0)


def test_lower_tau_leaves_more_alignment_noise():
    from c3lib.config import make_config

    cfg = make_config(ch03.TemperatureConfig, "smoke", {"taus": [0.02, 0.1], "n": 24, "d": 128, "img_dims": 6, "txt_dims": 30, "max_steps": 800})
    out = ch03.tau_sweep(cfg, progress=False)
    assert all(r["reached"] for r in out)
    assert out[0]["noise"] > out[1]["noise"] and out[0]["steps"] < out[1]["steps"]
    assert all(math.isfinite(r["margin_mean"]) for r in out)


class _Interrupt(Exception):
    pass


def test_checkpoint_resume_is_bit_identical(tmp_path):
    space = sim.synthetic_pairs(24, 64, 4, 20, seed=5, dtype=torch.float64)
    args = dict(num_steps=90, lr=0.1, tau=0.07, log_every=10, progress=False)
    x_ref, y_ref, trace_ref = sim.optimise(space, **args)

    def interrupt(step):
        if step == 47:
            raise _Interrupt

    folder = tmp_path / "run"
    with pytest.raises(_Interrupt):
        sim.optimise(space, **args, checkpoint_dir=folder, checkpoint_every=20, on_step=interrupt)
    saved = torch.load(folder / "state.pt", weights_only=True)
    assert saved["next_step"] == 40 and not saved["finished"]  # the last checkpoint before the interruption
    seen = []
    x, y, trace = sim.optimise(space, **args, checkpoint_dir=folder, checkpoint_every=20, on_step=seen.append)
    assert seen[0] == 40  # it resumed, it did not start over
    assert torch.equal(x, x_ref) and torch.equal(y, y_ref)  # bit for bit
    assert trace.as_dict() == trace_ref.as_dict()
    again = []
    x2, _, trace2 = sim.optimise(space, **args, checkpoint_dir=folder, checkpoint_every=20, on_step=again.append)
    assert again == [] and torch.equal(x2, x_ref) and trace2.as_dict() == trace_ref.as_dict()  # finished: reused


def test_checkpoint_of_other_settings_is_not_reused(tmp_path):
    space = sim.synthetic_pairs(16, 48, 4, 12, seed=1, dtype=torch.float64)
    folder = tmp_path / "run"
    sim.optimise(space, 30, lr=0.1, log_every=10, progress=False, checkpoint_dir=folder, checkpoint_every=10)
    seen = []
    x, _, _ = sim.optimise(space, 30, lr=0.05, log_every=10, progress=False, checkpoint_dir=folder,
                           checkpoint_every=10, on_step=seen.append)
    x_ref, _, _ = sim.optimise(space, 30, lr=0.05, log_every=10, progress=False)
    assert seen[0] == 0 and torch.equal(x, x_ref)


def test_ineffective_gap_moves_only_by_the_sphere_renormalisation():
    space = sim.synthetic_pairs(48, 128, 6, 40, seed=2, dtype=torch.float64)
    x, y, trace = sim.optimise(space, 600, lr=0.1, tau=0.07, log_every=100, progress=False)
    assert trace.gap_ineffective[-1] < 0.8 * trace.gap_ineffective[0]  # the ineffective gap does shrink...
    assert trace.raw_ineffective_change[-1] > 1e-3  # ...and the raw coordinates do move,
    assert max(trace.row_norm_max) < 1.01  # not because rows grow,
    for got, want in zip(trace.gap_ineffective, trace.gap_ineffective_predicted):  # but as the sphere predicts
        assert got == pytest.approx(want, rel=0.02)
    assert trace.gap_ineffective_predicted[0] == pytest.approx(trace.gap_ineffective[0], abs=1e-12)
    assert min(trace.gap_cos_init) > 0.999  # the gap vector keeps its direction
    dec = sm.ineffective_decomposition(x, y, space)
    assert dec["measured"] == pytest.approx(trace.gap_ineffective[-1], abs=1e-12)
    assert dec["sphere"] == pytest.approx(trace.gap_ineffective_predicted[-1], abs=1e-12)
    # the rows tilt, but their tilts nearly cancel in the mean: what is left is far below one row's tilt
    assert dec["mean_tilt"] < 0.05 * min(dec["tilt_rms_img"], dec["tilt_rms_txt"])
    assert abs(dec["own_direction"] - dec["measured"]) <= abs(dec["sphere"] - dec["measured"])
    assert max(trace.grad_gap_ineffective[1:]) < 1e-3 * trace.grad_ineffective_normalised[0]


def test_gap_in_span_on_a_constructed_space():
    torch.manual_seed(0)
    y = torch.zeros(50, 12, dtype=torch.float64)
    y[:, :3] = torch.randn(50, 3, dtype=torch.float64)
    y = y / y.norm(dim=1, keepdim=True) * 0.6
    x = y.clone()
    x[:, 8], y[:, 9] = 0.8, 0.8  # each modality's constant, outside the 3-dim span: unit rows, gap along e8 - e9
    norm, k = sm.gap_in_span(x, y)
    assert k == 3 and norm < 1e-12
    x, y = torch.randn(50, 12, dtype=torch.float64) + 0.5, torch.randn(50, 12, dtype=torch.float64)
    gap = (x / x.norm(dim=1, keepdim=True)).mean(0) - (y / y.norm(dim=1, keepdim=True)).mean(0)
    norm, k = sm.gap_in_span(x, y, gamma=1.0)  # full-rank rows: the whole gap lies in their span
    assert k == 12 and norm == pytest.approx(float(gap.norm()), rel=1e-10)
    assert sm.gap_in_span(x, y, gamma=0.5)[0] < norm


def test_training_turns_the_gap_orthogonal_to_the_spans():
    space = sim.synthetic_pairs(48, 128, 6, 40, seed=2, dtype=torch.float64)
    _, _, trace = sim.optimise(space, 600, lr=0.1, tau=0.07, log_every=300, progress=False)
    assert trace.gap_in_span[-1] / trace.gap[-1] < 0.5 * trace.gap_in_span[0] / trace.gap[0]


def test_shared_layout_varies_both_modalities_in_the_same_dims():
    from c3lib.simulation import synthetic_pairs

    sp = synthetic_pairs(n=50, d=32, img_dims=10, txt_dims=10, seed=0, shared=True)
    var_i, var_t = sp.img_emb.var(0), sp.txt_emb.var(0)
    assert (var_i[:10] > 1e-4).all() and (var_t[:10] > 1e-4).all()  # both vary in the first 10 dims
    raw_i = sp.img_emb / sp.img_emb[:, 10:].norm(dim=1, keepdim=True)  # constant rows up to the unit scaling
    assert torch.allclose(raw_i[:, 10:], raw_i[:1, 10:].expand(50, -1), atol=1e-6)
    assert sp.effective == slice(0, 10) and sp.ineffective == slice(10, 32)
    with pytest.raises(ValueError, match="max"):
        synthetic_pairs(n=50, d=32, img_dims=40, txt_dims=10, shared=True)
    assert synthetic_pairs(n=50, d=32, img_dims=10, txt_dims=10).effective == slice(0, 20)  # blocks: the sum
