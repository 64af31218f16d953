"""Collapse and Corrupt (paper section 4, Algorithm 1), as a scikit-learn transformer.

Training inputs come from the *source* modality (e.g. caption embeddings), inference inputs from the
*target* modality (e.g. image embeddings), exactly as the official code does it:

- training: L2-normalise, subtract the source mean (collapse), add N(0, sigma^2 I) (corrupt), renormalise;
- inference: L2-normalise, subtract the target modality's own mean, renormalise; never noise.

The means are averages of L2-normalised embeddings of each modality (unpaired data suffices) and are not
renormalised. ``noise_std`` is a standard deviation: sqrt(0.016) by default, CapDec's variance 0.016.
Variants: C1 (neither), C2-collapse, C2-corrupt, C3 (both), and span-only (Appendix H: corrupt without
collapse, with the noise's component along the gap direction removed).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

VARIANTS = {
    "C1": dict(collapse=False, corrupt=False),
    "C2-collapse": dict(collapse=True, corrupt=False),
    "C2-corrupt": dict(collapse=False, corrupt=True),
    "C3": dict(collapse=True, corrupt=True),
    "span-only": dict(collapse=False, corrupt=True, span_only=True),
}
MODALITIES = ("source", "target")


def _as_numpy(x: Any, name: str) -> tuple[np.ndarray, Any]:
    """``x`` as float64 numpy plus a function that converts results back to x's type (torch stays torch)."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().double().numpy(), lambda a: torch.as_tensor(a, dtype=x.dtype, device=x.device)
    except ImportError:
        pass
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {arr.shape}")
    return arr.astype(np.float64), lambda a: a.astype(arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64)


def _normalise(x: np.ndarray, name: str) -> np.ndarray:
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or inf; clean the embeddings before the C3 transform")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name} has {int((norms == 0).sum())} zero vector(s), which cannot be normalised")
    return x / norms


class C3Transform(TransformerMixin, BaseEstimator):
    """The C3 input transform; ``fit(X_source, X_target=...)`` learns each modality's mean.

    ``X_target`` is keyword-only so that in a scikit-learn ``Pipeline`` the second positional argument stays
    the labels ``y`` (pass ``c3__X_target=...`` as a fit parameter there).

    >>> t = C3Transform.variant("C3", seed=0).fit(txt_emb, X_target=img_emb)
    >>> train_in = t.transform(txt_emb)                    # collapse + corrupt, for training the decoder
    >>> test_in = t.transform(img_emb, modality="target")  # collapse with the image mean, no noise
    """

    def __init__(self, collapse: bool = True, corrupt: bool = True, noise_std: float = math.sqrt(0.016),
                 span_only: bool = False, seed: int = 0):
        self.collapse = collapse
        self.corrupt = corrupt
        self.noise_std = noise_std
        self.span_only = span_only
        self.seed = seed

    @classmethod
    def variant(cls, name: str, **kwargs) -> "C3Transform":
        if name not in VARIANTS:
            raise ValueError(f"unknown C3 variant {name!r}; valid: {', '.join(VARIANTS)}")
        return cls(**{**VARIANTS[name], **kwargs})

    def fit(self, X, y=None, *, X_target=None) -> "C3Transform":
        """Learn the source mean from ``X`` (and the target mean, needed to collapse target inputs and for
        span-only noise, from ``X_target``); ``y`` is ignored."""
        src = _normalise(_as_numpy(X, "X_source")[0], "X_source")
        self.source_mean_ = src.mean(axis=0)
        self.dim_ = src.shape[1]
        self.target_mean_ = None
        if X_target is not None:
            tgt = _normalise(_as_numpy(X_target, "X_target")[0], "X_target")
            if tgt.shape[1] != self.dim_:
                raise ValueError(f"X_target has dimension {tgt.shape[1]} but X_source has {self.dim_}")
            self.target_mean_ = tgt.mean(axis=0)
        if self.span_only and self.target_mean_ is None:
            raise ValueError("span-only noise needs the gap direction: fit(X_source, X_target=...)")
        if self.noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {self.noise_std}")
        self._rng = np.random.default_rng(self.seed)
        return self

    def _check(self, X, name: str) -> tuple[np.ndarray, Any]:
        if not hasattr(self, "source_mean_"):
            raise RuntimeError("C3Transform is not fitted: call fit(X_source, X_target=...) first")
        x, back = _as_numpy(X, name)
        if x.ndim != 2 or x.shape[1] != self.dim_:
            raise ValueError(f"{name} has shape {x.shape}, but the transform was fitted on dimension {self.dim_}")
        return _normalise(x, name), back

    def transform(self, X, modality: str = "source"):
        """Training input (``modality="source"``: noise if corrupt) or inference input (``"target"``)."""
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        x, back = self._check(X, "X")
        if modality == "target":
            if self.collapse:
                if self.target_mean_ is None:
                    raise RuntimeError("collapsing target inputs needs the target mean: fit(X_source, X_target=...)")
                x = _normalise(x - self.target_mean_, "X")
            return back(x)
        if self.collapse:
            x = x - self.source_mean_
        if self.corrupt and self.noise_std > 0:
            x = x + self.draw_noise(x.shape)
        return back(_normalise(x, "X"))

    def draw_noise(self, shape: tuple[int, int]) -> np.ndarray:
        """The next N(0, noise_std^2 I) draw ``(n, d)``; for span-only, its gap-direction part removed."""
        noise = self._rng.normal(0.0, self.noise_std, size=shape)
        if self.span_only:
            g = self.gap_direction()
            noise -= np.outer(noise @ g, g)
        return noise

    def gap_direction(self) -> np.ndarray:
        """Unit vector from the source mean to the target mean, ``(d,)``."""
        if getattr(self, "target_mean_", None) is None:
            raise RuntimeError("the gap direction needs both means: fit(X_source, X_target=...)")
        g = self.target_mean_ - self.source_mean_
        return g / np.linalg.norm(g)
