"""The C3 transform (Connect, Collapse, Corrupt; paper section 4, official code's ``noise_injection``).

``fit(X_source, X_target)`` stores each modality's mean of L2-normalised embeddings (not renormalised),
from unpaired data. ``transform`` then maps

* a training input (source modality, ``train=True``): normalise -> subtract the source mean (collapse)
  -> add N(0, noise_std^2 I) (corrupt, seeded) -> normalise;
* an inference input (``train=False``, either modality): normalise -> subtract *its own* modality's mean
  -> normalise; no noise.

Ablations (Table 2 / Table 7) are switches: ``collapse`` (subtract means), ``corrupt`` (add noise) and
``span_only`` (Appendix H: the noise component along the gap direction ``mu_source - mu_target`` is
removed, so the noise lies only in the span orthogonal to the gap). Works on numpy arrays ``(n, d)`` and
torch tensors ``(n, d)`` (returned as the same type, dtype and device).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from c3lib.checks import NONNEG, flag, number

DEFAULT_NOISE_STD = math.sqrt(0.016)  # CapDec's variance 0.016 -> std ~ 0.1265

VARIANTS = {
    "C1": dict(collapse=False, corrupt=False, span_only=False),
    "C2-collapse": dict(collapse=True, corrupt=False, span_only=False),
    "C2-corrupt": dict(collapse=False, corrupt=True, span_only=False),
    "C3": dict(collapse=True, corrupt=True, span_only=False),
    "span-only": dict(collapse=False, corrupt=True, span_only=True),
}
SIDES = ("source", "target")  # which modality a transform is applied to


def _to_numpy(X: Any, name: str) -> tuple[np.ndarray, Any]:
    """Return ``(float64 array (n, d), torch tensor or None)``; reject bad shapes, dtypes and values.

    Integer inputs (numpy or torch) are read as numbers; their output is float64 (a torch tensor stays a
    tensor, in float64), never cast back to integers. Booleans, complex numbers and text are refused.
    """
    tensor = None
    if type(X).__module__.startswith("torch"):
        if X.dtype.is_complex or str(X.dtype) == "torch.bool":
            raise TypeError(f"{name}: embeddings must be real numbers, got a tensor of {X.dtype}")
        tensor = X
        X = X.detach().cpu().double().numpy()
    try:
        raw = np.asarray(X)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name}: expected a 2-d array (n, d) of numbers, got {type(X).__name__} ({err})") from None
    if raw.dtype.kind not in "fiu":
        raise TypeError(f"{name}: embeddings must be a real-valued array (n, d), got dtype {raw.dtype}")
    arr = raw.astype(np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d array (n, d), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: no rows")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values ({int((~np.isfinite(arr)).sum())} entries)")
    with np.errstate(over="ignore"):  # a norm that overflows is not zero; _normalize rescales such rows
        norms = np.linalg.norm(arr, axis=1)
    if (norms < 1e-12).any():
        raise ValueError(f"{name}: {int((norms < 1e-12).sum())} row(s) have zero norm and cannot be normalised")
    return arr, tensor


def _normalize(arr: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm; a row whose sum of squares overflows (entries ~1e154 and beyond) is
    first divided by its largest entry, so its direction survives instead of becoming zero."""
    with np.errstate(over="ignore"):  # an overflowing sum of squares is handled below
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
    big = ~np.isfinite(norms[:, 0])
    if not big.any():
        return arr / norms
    rows = arr[big] / np.abs(arr[big]).max(axis=1, keepdims=True)
    out = arr / np.where(big[:, None], 1.0, norms)
    out[big] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


class C3Transform(TransformerMixin, BaseEstimator):
    """Collapse (remove each modality's mean) and corrupt (Gaussian noise) embeddings.

    Parameters are plain attributes (sklearn convention) so ``clone`` and ``Pipeline`` work.
    ``seed`` seeds the noise: a fitted transform draws from ``np.random.default_rng(seed)`` advanced by
    each call, so a fresh clone with the same seed reproduces the same draws in the same order.
    """

    def __init__(self, collapse: bool = True, corrupt: bool = True, noise_std: float = DEFAULT_NOISE_STD,
                 span_only: bool = False, seed: int = 0):
        self.collapse = collapse
        self.corrupt = corrupt
        self.noise_std = noise_std
        self.span_only = span_only
        self.seed = seed

    @classmethod
    def variant(cls, name: str, **kwargs: Any) -> "C3Transform":
        """``C1`` | ``C2-collapse`` | ``C2-corrupt`` | ``C3`` | ``span-only`` (Appendix H)."""
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; valid: {', '.join(VARIANTS)}")
        return cls(**{**VARIANTS[name], **kwargs})

    def fit(self, X_source: Any, X_target: Any = None) -> "C3Transform":
        """Store ``mean_source_`` (d,) and ``mean_target_`` (d,) of the normalised rows.

        Means of one row, or of identical rows, are valid, but such a row collapses to zero: transforming
        it without noise raises a clear error (it has no direction), with noise it becomes the noise's.

        ``X_target`` may be None (e.g. inside a Pipeline with ``y=None``): only training inputs can then
        be transformed, and span-only noise needs it (the gap direction).
        """
        self._check_params()
        src, _ = _to_numpy(X_source, "X_source")
        self.mean_source_ = _normalize(src).mean(axis=0)
        self.mean_target_ = None
        if X_target is not None and not (np.ndim(X_target) == 1 and len(X_target) == len(src)):
            tgt, _ = _to_numpy(X_target, "X_target")
            if tgt.shape[1] != src.shape[1]:
                raise ValueError(f"X_target has dim {tgt.shape[1]} but X_source has dim {src.shape[1]}")
            self.mean_target_ = _normalize(tgt).mean(axis=0)
        if self.span_only and self.mean_target_ is None:
            raise ValueError("span_only noise needs X_target: the gap direction is mean_source - mean_target")
        if self.span_only and np.linalg.norm(self.mean_source_ - self.mean_target_) < 1e-12:
            raise ValueError("span_only noise needs a gap: X_source and X_target have the same mean, so the "
                             "gap direction mean_source - mean_target is undefined")
        self.n_features_in_ = src.shape[1]
        self._rng = np.random.default_rng(self.seed)
        return self

    def _check_params(self) -> None:
        """The parameters, checked where they are used (``set_params`` may change them after ``fit``)."""
        for name in ("collapse", "corrupt", "span_only"):
            flag(name, getattr(self, name))
        number("noise_std", self.noise_std, NONNEG)
        number("seed", self.seed, NONNEG, integer=True)

    def _check_fitted(self, arr: np.ndarray) -> None:
        if not hasattr(self, "mean_source_"):
            raise RuntimeError("C3Transform is not fitted: call fit(X_source, X_target) first")
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(f"input has dim {arr.shape[1]} but the transform was fitted on dim "
                             f"{self.n_features_in_}")

    def gap_direction(self) -> np.ndarray:
        """Unit vector (d,) along ``mean_source_ - mean_target_``."""
        if getattr(self, "mean_target_", None) is None:
            raise RuntimeError("gap direction needs a transform fitted with X_target")
        gap = self.mean_source_ - self.mean_target_
        if np.linalg.norm(gap) < 1e-12:
            raise ValueError("the gap mean_source - mean_target is zero: its direction is undefined")
        return gap / np.linalg.norm(gap)

    def noise(self, n: int) -> np.ndarray:
        """Draw the noise (n, d) the next training transform would add (advances the generator)."""
        number("noise_std", self.noise_std, NONNEG)
        eps = self._rng.normal(0.0, self.noise_std, size=(n, self.n_features_in_))
        if self.span_only:
            g = self.gap_direction()
            eps = eps - np.outer(eps @ g, g)
        return eps

    def transform(self, X: Any, modality: str = "source", train: bool = True) -> Any:
        """Map ``X`` (n, d) as a training input (``train=True``, source only) or an inference input."""
        if modality not in SIDES:
            raise ValueError(f"modality must be one of {SIDES}, got {modality!r}")
        arr, tensor = _to_numpy(X, "X")
        self._check_fitted(arr)
        self._check_params()
        if train and modality != "source":
            raise ValueError("training inputs come from the source modality; use train=False for the target")
        out = _normalize(arr)
        if self.collapse:
            mean = self.mean_source_ if modality == "source" else self.mean_target_
            if mean is None:
                raise RuntimeError("no target mean: fit(X_source, X_target) with target embeddings first")
            out = out - mean
        if train and self.corrupt:
            out = out + self.noise(out.shape[0])
            if not np.isfinite(out).all():
                raise FloatingPointError(f"noise_std={self.noise_std!r} is too large: the noise overflowed to "
                                         "infinity; use a noise_std a float64 can hold (the paper's is ~0.13)")
        with np.errstate(over="ignore"):
            zero = np.linalg.norm(out, axis=1) < 1e-12
        if zero.any():
            raise ValueError(f"X: row {int(np.argmax(zero))} equals its modality's fitted mean, so it is zero after "
                             f"collapse and has no direction ({int(zero.sum())} such row(s)); add noise "
                             "(corrupt=True) or fit the means on more varied embeddings")
        out = _normalize(out)
        if not np.isfinite(out).all():  # every step above keeps rows finite: this guards the guarantee
            raise FloatingPointError("the C3 transform produced non-finite values; check the inputs and noise_std")
        if tensor is not None:
            import torch
            dtype = tensor.dtype if tensor.dtype.is_floating_point else torch.float64
            return torch.as_tensor(out, dtype=dtype, device=tensor.device)
        in_dtype = np.asarray(X).dtype
        return out.astype(in_dtype if np.issubdtype(in_dtype, np.floating) else np.float64)

    def state(self) -> dict[str, Any]:
        """Plain-JSON state (params and means) for saving with a trained captioner."""
        return {"params": self.get_params(), "mean_source": self.mean_source_.tolist(),
                "mean_target": None if self.mean_target_ is None else self.mean_target_.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "C3Transform":
        """Inverse of :meth:`state`."""
        t = cls(**state["params"])
        t.mean_source_ = np.asarray(state["mean_source"], dtype=np.float64)
        t.mean_target_ = None if state["mean_target"] is None else np.asarray(state["mean_target"], np.float64)
        t.n_features_in_ = t.mean_source_.shape[0]
        t._rng = np.random.default_rng(t.seed)
        return t
