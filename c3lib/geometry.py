"""Geometry of contrastive representation spaces (paper section 3, Appendix I).

- :func:`effective_dimension`: Definition 1, dimensional collapse.
- :func:`singular_spectrum`: the singular values of the covariance, for Fig 3 / Fig 12.
- :func:`centroid_gap`: the modality gap, distance between the modality means.
- :func:`mean_pairwise_cosine`: the cone effect (Appendix I.3).
- :func:`mlp_collapse_sweep`: Fig 13, effective dimension along a deep random ReLU MLP.

Arrays are ``(n, d)``: n embeddings of dimension d.
"""

from __future__ import annotations

import numpy as np


def check_embeddings(emb: np.ndarray, name: str = "emb", min_rows: int = 2) -> np.ndarray:
    """Return ``emb`` as a float64 ``(n, d)`` array, or raise a clear error on bad input."""
    arr = np.asarray(emb)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {arr.shape}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {arr.shape[0]}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or inf ({int((~np.isfinite(arr)).sum())} entries)")
    return arr


def normalize(emb: np.ndarray, name: str = "emb") -> np.ndarray:
    """L2-normalise each row; a zero row has no direction and is an error."""
    arr = check_embeddings(emb, name, min_rows=1)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name} has {int((norms == 0).sum())} zero vector(s); they cannot be normalised")
    return arr / norms


def singular_spectrum(emb: np.ndarray) -> np.ndarray:
    """Singular values of the ``(d, d)`` covariance of ``emb`` ``(n, d)``, in decreasing order."""
    arr = check_embeddings(emb)
    cov = np.cov(arr, rowvar=False)
    return np.linalg.svd(cov, compute_uv=False)


def effective_dimension(emb: np.ndarray, threshold: float = 0.99) -> int:
    """Definition 1: the smallest d' whose top-d' covariance singular values reach ``threshold`` of the sum."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    sv = singular_spectrum(emb)
    total = sv.sum()
    if total <= 0:
        return 0  # every row identical: no direction carries variance
    share = np.cumsum(sv) / total
    return int(np.searchsorted(share, threshold - 1e-12) + 1)


def centroid_gap(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The modality gap vector: mean of normalised ``x`` minus mean of normalised ``y``, shape ``(d,)``."""
    xn, yn = normalize(x, "x"), normalize(y, "y")
    if xn.shape[1] != yn.shape[1]:
        raise ValueError(f"x and y must share their dimension d, got {xn.shape[1]} and {yn.shape[1]}")
    return xn.mean(axis=0) - yn.mean(axis=0)


def mean_pairwise_cosine(emb: np.ndarray) -> float:
    """Mean cosine similarity over all distinct pairs of rows (the cone effect: well above 0 when collapsed)."""
    e = normalize(emb)
    n = e.shape[0]
    s = e.sum(axis=0)
    return float((s @ s - n) / (n * (n - 1)))


def mlp_collapse_sweep(depth: int = 50, width: int = 512, n_inputs: int = 10_000, every: int = 5,
                       threshold: float = 0.99, seed: int = 0) -> dict[str, list]:
    """Fig 13: feed N(0, I) inputs through ``depth`` blocks of ReLU(Linear) (Xavier-uniform weights, zero bias).

    Returns the effective dimension of the input (layer 0) and of the features after every ``every`` layers,
    with their singular spectra for plotting.
    """
    import torch

    if depth < 1 or width < 2 or n_inputs < 2 or every < 1:
        raise ValueError("depth, every >= 1 and width, n_inputs >= 2 are required")
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(n_inputs, width, generator=gen, dtype=torch.float64)  # [n, width]
    bound = (6.0 / (width + width)) ** 0.5  # Xavier uniform, gain 1
    layers, dims, spectra = [0], [effective_dimension(h.numpy(), threshold)], [singular_spectrum(h.numpy())]
    for layer in range(1, depth + 1):
        w = (torch.rand(width, width, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        h = torch.relu(h @ w.T)
        if layer % every == 0:
            arr = h.numpy()
            layers.append(layer)
            dims.append(effective_dimension(arr, threshold))
            spectra.append(singular_spectrum(arr))
    return {"layer": layers, "effective_dim": dims, "spectrum": [s.tolist() for s in spectra]}
