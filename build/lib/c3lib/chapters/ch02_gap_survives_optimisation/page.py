"""Chapter 02's page: every number its prose cites (``prose``), the sentences that state its results
(``markdown``, built from the measurements and the verdicts), and the paper beside ours (``comparison``)."""

from __future__ import annotations

from c3lib import simulation as sim
import c3lib.chapters.ch02_gap_survives_optimisation.verdicts as vd
from c3lib.chapters.ch02_gap_survives_optimisation.setting import PAPER, GapSurvivesConfig
from c3lib.results import row
from c3lib.verdict import Verdict


def prose_values(cfg: GapSurvivesConfig, trace: sim.Trace, m: dict, check: dict, shared: dict, shares: dict,
                 panel: dict) -> dict:
    """Every number the chapter's prose states, by glue key."""
    before, after, sphere = m["before"], m["after"], m["sphere"]
    dec, sa, sb = sphere["decomposition"], shared["after"], shared["before"]
    own, sh = shares["own_blocks"], shares["shared"]
    return {
        "n": cfg.n, "d": cfg.d, "txt_dims": cfg.txt_dims, "dtype": cfg.dtype, "steps": trace.step[-1], "tau": cfg.tau,
        "p_steps_k": PAPER["num_steps"] // 1000, "p_n": PAPER["n"], "p_gap_init": PAPER["gap_init_overall"],
        "p_gap_init_ineff": PAPER["gap_init_ineffective"], "p_gap_after": PAPER["gap_after"],
        "p_gamma": PAPER["effective_dim_gamma"], "zero_share_pct": 100 * vd.ZERO_SHARE, "most_pct": 100 * vd.MOST,
        "rounding": vd.rounding(cfg.dtype), "outside_ratio": vd.outside_ratio(trace),
        "loss_first": trace.loss[0], "loss_last": trace.loss[-1],
        "gap_before": before["gap"], "gap_after": after["gap"],
        "ineff_before": before["gap_ineffective"], "ineff_after": after["gap_ineffective"],
        "eff_before": before["gap_effective"], "eff_after": after["gap_effective"],
        "kept_pct": 100 * vd.kept(before["gap_ineffective"], after["gap_ineffective"]),
        "p_kept_pct": 100 * vd.kept(PAPER["gap_init_ineffective"], PAPER["gap_after"]),
        "span_gap_first": trace.gap_in_span[0], "span_gap_last": trace.gap_in_span[-1],
        "span_dim_first": trace.span_dim[0], "span_dim_last": trace.span_dim[-1],
        "span_pct_first": 100 * trace.gap_in_span[0] / trace.gap[0],
        "span_pct_last": 100 * trace.gap_in_span[-1] / trace.gap[-1],
        "span_share_pct": 100 * trace.gap_in_span[-1] ** 2 / trace.gap[-1] ** 2,
        "var_ineff_before": m["ineffective_variance_max_before"], "var_ineff_after": m["ineffective_variance_max_after"],
        "var_share_before_pct": 100 * max(own["image_before"], own["text_before"]),
        "var_share_after_pct": 100 * max(own["image_after"], own["text_after"]),
        "shared_var_share_after_pct": 100 * max(sh["image_after"], sh["text_after"]),
        "predicted_after": sphere["predicted_after"], "pred_abs_err": sphere["max_abs_error"],
        "pred_rel_err_pct": 100 * sphere["max_rel_error"], "sphere_share_pct": 100 * vd.sphere_share(m),
        "raw_change": sphere["raw_ineffective_max_change"], "row_norm_max": sphere["row_norm_max"],
        "row_growth": sphere["row_norm_max"] - 1, "grad_gap_max": sphere["grad_gap_ineffective_max_after_init"],
        "grad_rows_init": sphere["grad_ineffective_normalised_init"], "gap_cos_min": sphere["gap_cos_init_min"],
        "ratio_first": sphere["ratio_eff_ineff_first"], "ratio_last": sphere["ratio_eff_ineff_last"],
        "tilt_img": dec["tilt_rms_img"], "tilt_txt": dec["tilt_rms_txt"], "own_direction": dec["own_direction"],
        "measured": dec["measured"], "mean_tilt": dec["mean_tilt"],
        "own_err": abs(dec["own_direction"] - dec["measured"]),
        "grad_outside_max": max(trace.grad_ineffective_outside), "resid_before": m["resid_before"],
        "resid_after": m["resid_after"], "resid_change": abs(m["resid_after"] - m["resid_before"]),
        "grad_ineff_first": trace.grad_ineffective[0], "grad_ineff_last": trace.grad_ineffective[-1],
        "grad_norm_first": trace.grad_ineffective_normalised[0], "grad_norm_last": trace.grad_ineffective_normalised[-1],
        "autograd_err": check["closed_vs_autograd_max_abs"], "grad_entry_max": check["grad_max_abs"],
        "lemma1_err": check["lemma1_vs_exact_max_abs"],
        "shared_dims": shared["dims"], "shared_steps": shared["steps"],
        "shared_eff_before": sb["gap_effective"], "shared_eff_after": sa["gap_effective"],
        "shared_ineff_before": sb["gap_ineffective"], "shared_ineff_after": sa["gap_ineffective"],
        "shared_ineff_share_pct": 100 * sa["gap_ineffective"] ** 2 / sa["gap"] ** 2,
        "shared_eff_share_pct": 100 * sa["gap_effective"] ** 2 / sa["gap"] ** 2,
        "shared_kept_pct": 100 * vd.kept(sb["gap_ineffective"], sa["gap_ineffective"]),
        **panel,
    }


def _word(claims: list[Verdict], key: str) -> str:
    return f"**{next(v.verdict for v in claims if v.key == key)}**"


def summary(p: dict, claims: list[Verdict]) -> str:
    """The summary list: each result with the verdict of the claim it tests (``p``: :func:`prose_values`)."""
    shrink = "more" if p["kept_pct"] < p["p_kept_pct"] else "less"
    return "\n".join([
        f"- In {p['steps']:,} steps (paper: {p['p_steps_k']}k) the loss went from {p['loss_first']:.2f} to "
        f"{p['loss_last']:.4f}.",
        f"- The ineffective gradient's part outside the two constant directions was at most {p['outside_ratio']:.1e} "
        f"of the whole (bound: √ε of {p['dtype']}, {p['rounding']:.1e}); the raw block outside them changed by "
        f"{p['resid_change']:.1e}. Lemma 1's claim: {_word(claims, 'v_no_gradient')}.",
        f"- After optimisation the ineffective dims carry {p['var_share_after_pct']:.2f} % of a modality's "
        f"variance ({p['var_share_before_pct']:.2f} % at the start; {p['shared_var_share_after_pct']:.2f} % in the "
        f"paper's layout), against the {p['zero_share_pct']:g} % under which Definition 1 (γ = {p['p_gamma']:g}) "
        f"counts dimensions as constant. 'Their variance remains zero': {_word(claims, 'v_variance_zero')} in our "
        f"layout, {_word(claims, 'v_variance_zero_shared')} in the paper's.",
        f"- The ineffective gap went {p['ineff_before']:.3f} → {p['ineff_after']:.3f}, {p['kept_pct']:.0f} % of it "
        f"left ({p['shared_kept_pct']:.0f} % in the paper's layout; the paper, n = {p['p_n']:,} and "
        f"{p['p_steps_k']}k steps: {p['p_gap_init_ineff']} → {p['p_gap_after']}, {p['p_kept_pct']:.0f} %). "
        f"'Only slightly smaller': {_word(claims, 'v_gap_kept')} in our layout, "
        f"{_word(claims, 'v_gap_kept_shared')} in the paper's. Our gap shrinks {shrink} than the paper's; the paper "
        f"does not say how its rows are scaled at init, and the scale sets the step size (the normalisation inside "
        f"the loss divides the raw step by ‖x‖², about {p['d']} for rows of N(0, 1) entries; we start from unit "
        f"rows).",
        f"- The sphere's renormalisation, predicted from the effective coordinates alone, accounts for "
        f"{p['sphere_share_pct']:.1f} % of that shrink (largest error over the run {p['pred_abs_err']:.1e}; "
        f"{p['own_err']:.1e} once each row's tilt towards the other constant is counted, the tilts' mean being "
        f"{p['mean_tilt']:.1e}). 'Mainly the ℓ2 normalisation': {_word(claims, 'v_sphere')}. The raw ineffective "
        f"coordinates moved by up to {p['raw_change']:.1e}, the row norms by at most {p['row_growth']:.1e}, and the "
        f"gradient that could move the gap is ≤ {p['grad_gap_max']:.1e}.",
        f"- The effective-dimension gap went {p['eff_before']:.3f} → {p['eff_after']:.3f}. In this layout it is "
        f"each modality's constant in the other's dimensions (images are constant in the texts' {p['txt_dims']} "
        f"dimensions and the other way round); its ratio to the ineffective gap went {p['ratio_first']:.4f} → "
        f"{p['ratio_last']:.4f}, and the whole gap's cosine with its start stayed ≥ {p['gap_cos_min']:.6f}.",
        f"- Inside the rows' joint 99 % span the gap went {p['span_gap_first']:.3f} ({p['span_pct_first']:.0f} % of "
        f"the gap; {p['span_dim_first']} dims) → {p['span_gap_last']:.3f} ({p['span_pct_last']:.0f} %; "
        f"{p['span_dim_last']} dims), {p['span_share_pct']:.2f} % of the squared gap. 'Orthogonal to the span' "
        f"(Proposition 1's c_⊥): {_word(claims, 'v_gap_outside')}.",
    ])


def comparison(cfg: GapSurvivesConfig, trace: sim.Trace, m: dict, check: dict, shared: dict, shares: dict) -> list[dict]:
    """The paper's numbers beside ours, one row per quantity."""
    before, after, sphere = m["before"], m["after"], m["sphere"]
    dec = sphere["decomposition"]
    steps_note = f"n = {cfg.n}, {trace.step[-1]:,} steps (paper: n = {PAPER['n']:,}, {PAPER['num_steps'] // 1000}k steps)"
    share_eff = 100 * shared["after"]["gap_effective"] ** 2 / shared["after"]["gap"] ** 2
    own, sh = shares["own_blocks"], shares["shared"]
    return [
        row("gap at init, overall", PAPER["gap_init_overall"], round(before["gap"], 3), f"n = {cfg.n}"),
        row("gap at init, ineffective dims", PAPER["gap_init_ineffective"], round(before["gap_ineffective"], 3)),
        row("gap after optimisation, ineffective dims", PAPER["gap_after"], round(after["gap_ineffective"], 3),
            steps_note),
        row("ineffective gap after, predicted by the sphere from effective coords alone", None,
            round(sphere["predicted_after"], 6), f"measured {after['gap_ineffective']:.4f}; largest error over the run "
            f"{sphere['max_abs_error']:.1e}"),
        row("ineffective gap after, parts along each row's own constant", None, round(dec["own_direction"], 6),
            f"measured {dec['measured']:.6f}; the rest is the mean tilt, {dec['mean_tilt']:.1e} (one row's tilt: rms "
            f"{dec['tilt_rms_img']:.1e} / {dec['tilt_rms_txt']:.1e})"),
        row("share of a modality's variance in the ineffective dims, after", "zero (Fig 4)",
            float(f"{max(own['image_after'], own['text_after']):.2e}"),
            f"at init {max(own['image_before'], own['text_before']):.2e}; paper's layout, after: "
            f"{max(sh['image_after'], sh['text_after']):.2e}"),
        row("raw ineffective coordinates, max abs change", None, float(f"{sphere['raw_ineffective_max_change']:.2e}"),
            "not constant: the normalisation's Jacobian shortens each row's own constant"),
        row("largest raw row norm (start: 1)", None, round(sphere["row_norm_max"], 5)),
        row("gap-moving gradient in ineffective dims (mean over rows), max after init", "none (§3.1)",
            float(f"{sphere['grad_gap_ineffective_max_after_init']:.2e}"), ""),
        row("gap after optimisation, overall", None, round(after["gap"], 3)),
        row("gap after optimisation, effective dims", None, round(after["gap_effective"], 3),
            f"ratio to the ineffective gap {sphere['ratio_eff_ineff_first']:.3f} → "
            f"{sphere['ratio_eff_ineff_last']:.3f}"),
        row("gap inside the rows' joint 99 % span, after", None, round(trace.gap_in_span[-1], 4),
            f"at init {trace.gap_in_span[0]:.3f} ({trace.span_dim[0]} dims); after: {trace.span_dim[-1]} dims, "
            f"{100 * trace.gap_in_span[-1] / trace.gap[-1]:.0f} % of the gap"),
        row("paper's layout (both vary in the first dims): gap in effective dims, after", None,
            round(shared["after"]["gap_effective"], 4), f"at init {shared['before']['gap_effective']:.3f}; "
            f"{shared['steps']:,} steps, n = {cfg.n}; {share_eff:.1f} % of the squared gap"),
        row("paper's layout: gap in ineffective dims, init → after",
            f"{PAPER['gap_init_ineffective']} → {PAPER['gap_after']}",
            f"{shared['before']['gap_ineffective']:.3f} → {shared['after']['gap_ineffective']:.3f}", ""),
        row("cos(gap, gap at init), min over the run", None, round(sphere["gap_cos_init_min"], 6)),
        row("gradient in ineffective dims outside span{c_img, c_txt}, max", "zero (Lemma 1)",
            float(f"{max(trace.grad_ineffective_outside):.2e}"), f"{cfg.dtype} rounding"),
        row("closed-form vs autograd gradient, max abs diff", None, float(f"{check['closed_vs_autograd_max_abs']:.2e}"),
            "float64"),
    ]
