"""The synthetic contrastive setting of Fig 4 (section 3.1), Lemma 1 and Lemma 2 (Appendix B).

- :func:`synthetic_pairs`: n image and text embeddings in d dims; images vary in the first ``img_dims``,
  texts in the next ``txt_dims``; every other dim holds one constant row per modality drawn from N(0, 1).
- :func:`loss_and_grad`: the symmetric InfoNCE loss over free embeddings normalised inside the loss, and
  its exact gradient in closed form (three matrix products, no autograd graph).
- :func:`lemma1_gradient`: Lemma 1's expression for the gradient w.r.t. the normalised embeddings.
- :func:`optimise`: plain SGD at fixed temperature, recording the loss, the gap and the gradient along the
  ineffective dimensions; with a checkpoint folder it saves its state atomically every k steps and resumes
  from it (bit-identical to an uninterrupted run).
- The measures (gaps, :func:`sphere_prediction`, :func:`gap_in_span`, ...) live in :mod:`c3lib.sim_measures`.

Lemma 2 (the stable region) lives in :mod:`c3lib.stable_region`; chapter 02's run in
:mod:`c3lib.chapters.ch02_gap_survives_optimisation`.

Embeddings are torch tensors ``(n, d)``; float32 unless said otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


from c3lib.sim_measures import gap_in_span, outside_span, space_gap_vector, space_stats, sphere_prediction


@dataclass
class SyntheticSpace:
    """Raw (unnormalised) paired embeddings and the constants that fill the ineffective dims."""

    img_emb: "torch.Tensor"  # (n, d)
    txt_emb: "torch.Tensor"  # (n, d)
    img_dims: int
    txt_dims: int
    shared: bool = False  # both modalities vary in the same leading dims (the paper's Fig 4 layout)

    @property
    def n_effective(self) -> int:
        return max(self.img_dims, self.txt_dims) if self.shared else self.img_dims + self.txt_dims

    @property
    def effective(self) -> slice:
        return slice(0, self.n_effective)

    @property
    def ineffective(self) -> slice:
        return slice(self.n_effective, self.img_emb.shape[1])


def synthetic_pairs(n: int = 1000, d: int = 512, img_dims: int = 25, txt_dims: int = 230, seed: int = 0,
                    dtype=None, unit_rows: bool = True, shared: bool = False) -> SyntheticSpace:
    """Fig 4's collapsed initialisation: each modality varies only in its own block of dims.

    ``unit_rows``: start from L2-normalised rows (as encoder outputs are used). The loss normalises anyway;
    the raw scale only sets the effective step size, which falls as ``1 / ||row||^2``.
    """
    import torch

    if n < 2:
        raise ValueError(f"n must be at least 2 pairs (InfoNCE needs negatives), got {n}")
    if img_dims < 1 or txt_dims < 1 or (max(img_dims, txt_dims) if shared else img_dims + txt_dims) > d:
        raise ValueError(f"need img_dims, txt_dims >= 1 and their {'max' if shared else 'sum'} <= d; got "
                         f"{img_dims}, {txt_dims}, d={d}")
    gen = torch.Generator().manual_seed(seed)
    dtype = dtype or torch.float32
    const_img = torch.randn(1, d, generator=gen, dtype=torch.float64)  # one constant row per modality
    const_txt = torch.randn(1, d, generator=gen, dtype=torch.float64)
    img = const_img.repeat(n, 1)  # [n, d]
    txt = const_txt.repeat(n, 1)
    img[:, :img_dims] = torch.randn(n, img_dims, generator=gen, dtype=torch.float64)
    t0 = 0 if shared else img_dims
    txt[:, t0:t0 + txt_dims] = torch.randn(n, txt_dims, generator=gen, dtype=torch.float64)
    if unit_rows:
        img, txt = img / img.norm(dim=1, keepdim=True), txt / txt.norm(dim=1, keepdim=True)
    return SyntheticSpace(img.to(dtype), txt.to(dtype), img_dims, txt_dims, shared)


def _check_pair(x, y) -> None:
    import torch

    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"image and text embeddings must share one shape (n, d), got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 pairs for a contrastive loss, got {x.shape[0]}")
    for name, t in (("image", x), ("text", y)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} embeddings hold NaN or inf; check the initialisation or lower the lr")
        if (t.norm(dim=1) == 0).any():
            raise ValueError(f"{name} embeddings have zero rows, which have no direction to normalise")


def check_tau(tau: float) -> None:
    if not (isinstance(tau, (int, float)) and tau > 0 and math.isfinite(tau)):
        raise ValueError(f"temperature tau must be a positive finite number, got {tau!r}")


def loss_and_grad(x, y, tau: float = 0.07, check: bool = True):
    """Symmetric InfoNCE of raw ``x``, ``y`` (n, d), normalised inside, with its exact gradient.

    Returns ``(loss, grad_x, grad_y, grad_xn, grad_yn)``: the gradients w.r.t. the raw embeddings and
    w.r.t. the normalised ones. With ``S = xn @ yn.T / tau``, ``dL/dS = (P_row + P_col - 2I) / (2n)``.
    """
    import torch

    if check:
        _check_pair(x, y)
        check_tau(tau)
    n = x.shape[0]
    nx, ny = x.norm(dim=1, keepdim=True), y.norm(dim=1, keepdim=True)  # [n, 1]
    xn, yn = x / nx, y / ny
    s = (xn @ yn.T) / tau  # [n, n]
    lse_row = torch.logsumexp(s, dim=1)  # [n]
    lse_col = torch.logsumexp(s, dim=0)  # [n]
    loss = (lse_row.sum() + lse_col.sum() - 2 * s.diagonal().sum()) / (2 * n)
    m = torch.exp(s - lse_row[:, None]) + torch.exp(s - lse_col[None, :])  # P_row + P_col, [n, n]
    m.diagonal().sub_(2.0)
    m.mul_(1.0 / (2 * n * tau))
    gxn = m @ yn  # [n, d]
    gyn = m.T @ xn
    gx = (gxn - xn * (xn * gxn).sum(1, keepdim=True)) / nx  # through the normalisation's Jacobian
    gy = (gyn - yn * (yn * gyn).sum(1, keepdim=True)) / ny
    return loss, gx, gy, gxn, gyn


def autograd_loss(x, y, tau: float = 0.07):
    """The same loss through autograd-friendly ops (for the test that the closed form is exact)."""
    import torch
    import torch.nn.functional as F

    xn, yn = F.normalize(x, dim=1), F.normalize(y, dim=1)
    s = xn @ yn.T / tau
    target = torch.arange(x.shape[0])
    return 0.5 * (F.cross_entropy(s, target) + F.cross_entropy(s.T, target))


def lemma1_gradient(xn, yn, tau: float = 0.07):
    """Lemma 1 as printed: ``grad_{x_k} = lambda * sum_i alpha_i (y_i - y_k)``, lambda = 1/(2 n tau).

    Its proof uses ``sum_i p(x_k | y_i) = 1``, true only on average; the exact gradient adds
    ``lambda * (sum_i alpha_i - 2) * y_k`` (see :func:`loss_and_grad`). Both lie in the other modality's span.
    """
    import torch

    n = xn.shape[0]
    s = xn @ yn.T / tau
    a = torch.softmax(s, dim=1) + torch.softmax(s, dim=0)  # alpha, [n, n]
    lam = 1.0 / (2 * n * tau)
    gx = lam * (a @ yn - a.sum(1, keepdim=True) * yn)
    gy = lam * (a.T @ xn - a.sum(0)[:, None] * xn)
    return gx, gy


@dataclass
class Trace:
    """What :func:`optimise` records every ``log_every`` steps."""

    step: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    gap: list = field(default_factory=list)  # ||mean(xn) - mean(yn)||
    gap_effective: list = field(default_factory=list)  # same, restricted to the effective dims
    gap_ineffective: list = field(default_factory=list)  # same, restricted to the ineffective dims
    gap_ineffective_raw: list = field(default_factory=list)  # ineffective-dim gap of the raw parameters
    grad_ineffective: list = field(default_factory=list)  # ||dL/d(raw x, y)|| in the ineffective dims
    grad_ineffective_outside: list = field(default_factory=list)  # its part outside span{c_img, c_txt}
    grad_ineffective_normalised: list = field(default_factory=list)  # ||dL/d(normalised x, y)|| there
    noise: list = field(default_factory=list)  # mean ||eps_i||, eps = (xn - yn) - mean(xn - yn)
    gap_ineffective_predicted: list = field(default_factory=list)  # :func:`sphere_prediction`
    gap_cos_init: list = field(default_factory=list)  # cosine of the whole gap vector with the gap at step 0
    grad_gap_ineffective: list = field(default_factory=list)  # ||mean_i dL/dxn_i - mean_i dL/dyn_i||, ineff dims
    raw_ineffective_change: list = field(default_factory=list)  # max |raw ineffective coordinate - its init|
    row_norm_max: list = field(default_factory=list)  # largest raw row norm (rows start at 1)
    gap_in_span: list = field(default_factory=list)  # :func:`gap_in_span`: the gap inside the rows' joint span
    span_dim: list = field(default_factory=list)  # that span's dimension (99 % of the variance)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _record(trace: Trace, step: int, x, y, space: SyntheticSpace, grads, basis, gap0) -> None:
    import torch

    loss, gx, gy, gxn, gyn = grads
    ineff = space.ineffective
    g_in = torch.cat([gx[:, ineff], gy[:, ineff]])  # [2n, k]
    stats = space_stats(x, y, space)
    gap = space_gap_vector(x, y)  # [d]
    trace.step.append(step)
    trace.loss.append(float(loss))
    for key in ("gap", "gap_effective", "gap_ineffective", "gap_ineffective_raw", "noise"):
        getattr(trace, key).append(stats[key])
    trace.grad_ineffective.append(float(g_in.norm()))
    trace.grad_ineffective_normalised.append(float(torch.cat([gxn[:, ineff], gyn[:, ineff]]).norm()))
    trace.grad_ineffective_outside.append(float(outside_span(g_in, basis)))
    trace.gap_ineffective_predicted.append(sphere_prediction(x, y, space))
    trace.gap_cos_init.append(float(gap @ gap0 / (gap.norm() * gap0.norm())))
    trace.grad_gap_ineffective.append(float((gxn[:, ineff].mean(0) - gyn[:, ineff].mean(0)).norm()))
    trace.raw_ineffective_change.append(float(max((x - space.img_emb)[:, ineff].abs().max(),
                                                  (y - space.txt_emb)[:, ineff].abs().max())))
    trace.row_norm_max.append(float(max(x.norm(dim=1).max(), y.norm(dim=1).max())))
    in_span, k = gap_in_span(x, y)
    trace.gap_in_span.append(in_span)
    trace.span_dim.append(k)


def _load_checkpoint(folder, meta: dict):
    """``(next_step, x, y, trace, finished)`` from ``folder/state.pt`` when it was written for ``meta``, else None."""
    import torch

    path = folder / "state.pt"
    if not path.exists():
        return None
    try:
        state = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError) as err:  # a torn or truncated file: start again
        import warnings
        warnings.warn(f"restarting the simulation from step 0: {path} could not be read ({type(err).__name__})",
                      RuntimeWarning, stacklevel=3)
        return None
    if state.get("meta") != meta:
        return None  # another run's state (a hash collision or an edited folder): never reuse it
    return state["next_step"], state["x"], state["y"], Trace(**state["trace"]), state["finished"]


def _save_checkpoint(folder, meta: dict, next_step: int, x, y, trace: Trace, finished: bool = False) -> None:
    import torch

    from c3lib.atomic import atomic_path, write_json

    with atomic_path(folder / "state.pt") as tmp:
        torch.save({"meta": meta, "next_step": next_step, "x": x, "y": y, "trace": trace.as_dict(),
                    "finished": finished}, tmp)
    write_json(folder / "progress.json", {"meta": meta, "next_step": next_step, "finished": finished})


def optimise(space: SyntheticSpace, num_steps: int, lr: float = 0.1, tau: float = 0.07, log_every: int = 100,
             stop_below: float | None = None, progress: bool = True, checkpoint_dir=None,
             checkpoint_every: int = 0, on_step=None):
    """Plain SGD on the free embeddings of ``space``; returns ``(x, y, trace)``.

    ``stop_below``: stop once the loss falls below this value (Lemma 2's "optimisation ends").
    ``checkpoint_dir``: save ``x``, ``y``, the trace and the next step there (atomically) every
    ``checkpoint_every`` steps and at the end, and resume from a state saved for the same start and settings.
    ``on_step(step)``: called before each update (the tests interrupt a run with it).
    """
    import torch
    from pathlib import Path
    from tqdm.auto import tqdm

    if num_steps < 0 or log_every < 1 or checkpoint_every < 0:
        raise ValueError(f"num_steps and checkpoint_every must be >= 0 and log_every >= 1, got {num_steps}, "
                         f"{checkpoint_every}, {log_every}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    check_tau(tau)
    x, y = space.img_emb.clone(), space.txt_emb.clone()
    _check_pair(x, y)
    ineff = space.ineffective
    basis = torch.stack([space.img_emb[0, ineff], space.txt_emb[0, ineff]], dim=1)  # [k, 2]
    gap0 = space_gap_vector(x, y)
    trace, first = Trace(), 0
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    meta = {"num_steps": num_steps, "lr": lr, "tau": tau, "log_every": log_every, "stop_below": stop_below,
            "start_sha256": _start_digest(space), "trace_fields": sorted(Trace.__dataclass_fields__)}
    if folder is not None and (state := _load_checkpoint(folder, meta)) is not None:
        first, x, y, trace, finished = state
        if finished:
            return x, y, trace
    bar = tqdm(range(first, num_steps + 1), desc=f"SGD tau={tau}", disable=not progress, mininterval=1.0,
               initial=first, total=num_steps + 1)
    for step in bar:
        grads = loss_and_grad(x, y, tau, check=False)
        loss = float(grads[0])
        last = step == num_steps or (stop_below is not None and loss < stop_below)
        if step % log_every == 0 or last:
            _record(trace, step, x, y, space, grads, basis, gap0)
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss became {loss} at step {step}; lower lr or raise tau")
        if last:
            break
        if on_step is not None:
            on_step(step)
        x.sub_(lr * grads[1])
        y.sub_(lr * grads[2])
        if folder is not None and checkpoint_every and (step + 1) % checkpoint_every == 0:
            _save_checkpoint(folder, meta, step + 1, x, y, trace)
    if folder is not None:
        _save_checkpoint(folder, meta, trace.step[-1], x, y, trace, finished=True)  # a rerun returns it as is
    return x, y, trace


def _start_digest(space: SyntheticSpace) -> str:
    """SHA-256 of the start's bytes: a checkpoint resumes only the very same start."""
    import hashlib

    h = hashlib.sha256()
    for t in (space.img_emb, space.txt_emb):
        h.update(str((tuple(t.shape), t.dtype)).encode())
        h.update(t.contiguous().numpy().tobytes())
    h.update(f"{space.img_dims},{space.txt_dims}".encode() + (b",shared" if space.shared else b""))
    return h.hexdigest()


def lemma1_check(space: SyntheticSpace, tau: float, n: int = 64) -> dict:
    """On the first ``n`` pairs, in float64: max |closed form - autograd| (raw gradient), and how far Lemma 1
    as printed is from the exact gradient w.r.t. the normalised embeddings (its one approximation)."""
    import torch

    x = space.img_emb[:n].double().clone().requires_grad_(True)
    y = space.txt_emb[:n].double().clone().requires_grad_(True)
    autograd_loss(x, y, tau).backward()
    loss, gx, gy, gxn, gyn = loss_and_grad(x.detach(), y.detach(), tau)
    xn = x.detach() / x.detach().norm(dim=1, keepdim=True)
    yn = y.detach() / y.detach().norm(dim=1, keepdim=True)
    lx, ly = lemma1_gradient(xn, yn, tau)
    return {"closed_vs_autograd_max_abs": float(max((gx - x.grad).abs().max(), (gy - y.grad).abs().max())),
            "grad_max_abs": float(max(gx.abs().max(), gy.abs().max())),
            "lemma1_vs_exact_max_abs": float(max((lx - gxn).abs().max(), (ly - gyn).abs().max())),
            "lemma1_exact_max_abs": float(max(gxn.abs().max(), gyn.abs().max()))}
