"""Geometry of contrastive representation spaces (paper section 3, Appendix I).

- :func:`effective_dimension`: Definition 1, dimensional collapse.
- :func:`singular_spectrum`: the singular values of the covariance, for Fig 3 / Fig 12.
- :func:`centroid_gap`: the modality gap, distance between the modality means.
- :func:`mean_pairwise_cosine`: the cone effect (Appendix I.3); :func:`row_mean_cosines` per embedding.
- :func:`mlp_collapse_sweep`: Fig 13, effective dimension along a deep random ReLU MLP.
- :func:`gap_statistics`: Table 1 / Fig 8 / Appendix C, the gap as a constant vector plus alignment noise.

Arrays are ``(n, d)``: n embeddings of dimension d.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from c3lib.checks import NONNEG, OPEN_FRACTION, number


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
    with np.errstate(over="ignore", invalid="ignore"):
        cov = np.atleast_2d(np.cov(arr, rowvar=False))  # d = 1 gives a scalar
    if not np.isfinite(cov).all():
        raise ValueError(f"emb: its covariance overflows (largest |value| {np.abs(arr).max():.3g}); rescale it")
    return np.linalg.svd(cov, compute_uv=False)


def effective_dimension(emb: np.ndarray, threshold: float = 0.99) -> int:
    """Definition 1: the smallest d' whose top-d' covariance singular values reach ``threshold`` of the sum."""
    number("threshold", threshold, OPEN_FRACTION)
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
    e = normalize(check_embeddings(emb, min_rows=2))  # one row has no pair
    n = e.shape[0]
    s = e.sum(axis=0)
    return float((s @ s - n) / (n * (n - 1)))


def row_mean_cosines(emb: np.ndarray) -> np.ndarray:
    """Each row's mean cosine with every other row, ``(n,)``: the cone effect per embedding (their mean is
    :func:`mean_pairwise_cosine`), so that an interval can be taken over the embeddings."""
    e = normalize(check_embeddings(emb, min_rows=2))
    n = e.shape[0]
    return (e @ e.sum(axis=0) - 1.0) / (n - 1)


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


@dataclass
class GapStatistics:
    """Table 1 of the paper: each statistic as ``*_mean``/``*_std`` with its raw samples (for Fig 8 histograms).

    - ``gap_length``: ``||d^(i)||`` per group, ``d^(i)`` the mean of ``x_j - y_j`` in group i.
    - ``gap_direction``: ``cos(d^(i), d^(k))`` over all pairs of groups.
    - ``orthogonality``: ``cos(d^(i), x_j - x_k)`` over all pairs j < k inside each group.
    - ``noise_mean``: per-dimension mean of the noise ``eps_j = (x_j - y_j) - d^(i)``, one sample per dimension
      (zero up to rounding by construction: the group gap is the mean of its differences).
    - ``noise_direction``: ``cos(eps_j, eps_k)`` between the noises of *different* groups: every noise of group
      i against every noise of group i + 1 (cyclically; one pair of groups when there are two). Within a group
      the noises sum to zero by construction, so their mutual cosines average ``-1/(g - 1)`` whatever the noise
      (``-0.0526`` for groups of 20): only noises of different groups can show whether the noise has a
      preferred direction.

    ``per_group`` holds one value per group (the unit of Table 1's spread), for intervals over groups:
    ``gap_length`` (its sample), ``gap_direction`` (mean cosine of the group's gap with every other group's),
    ``orthogonality`` and ``orthogonality_sq`` (mean cosine and mean squared cosine over the group's image
    pairs) and ``noise_direction`` (mean cosine of the group's noises with the next group's; one value when
    there are two groups).
    """

    n: int
    d: int
    group_size: int
    num_groups: int
    samples: dict = field(repr=False)  # statistic -> 1-D array of raw samples
    centroid_gap: float  # ||mean(x) - mean(y)|| over all n pairs
    noise_std: np.ndarray = field(repr=False)  # (d,) per-dimension standard deviation of the noise
    per_group: dict = field(repr=False, default_factory=dict)  # statistic -> (groups,) one value per group

    def mean(self, stat: str) -> float:
        s = self.samples[stat]
        return float(np.mean(s)) if len(s) else float("nan")

    def std(self, stat: str) -> float:
        s = self.samples[stat]
        return float(np.std(s)) if len(s) else float("nan")

    def summary(self) -> dict:
        """Scalars only: ``{stat_mean, stat_std}`` for every statistic, plus sizes and the centroid gap."""
        out = {"n": self.n, "d": self.d, "group_size": self.group_size, "num_groups": self.num_groups,
               "centroid_gap": self.centroid_gap, "noise_std_mean": float(self.noise_std.mean())}
        for stat in self.samples:
            out[f"{stat}_mean"], out[f"{stat}_std"] = self.mean(stat), self.std(stat)
        return out


GAP_STATISTICS = ("gap_length", "gap_direction", "orthogonality", "noise_mean", "noise_direction")


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    """``rows`` (..., d) scaled to unit length; zero rows stay zero (their cosines are 0)."""
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def _pair_cosines(rows: np.ndarray) -> np.ndarray:
    """Cosines between all distinct pairs of rows of ``rows`` (m, d) -> (m*(m-1)/2,); zero rows give 0."""
    unit = _unit_rows(rows)
    cos = unit @ unit.T  # [m, m]
    return cos[np.triu_indices(len(rows), k=1)]


def _cross_group_noise_cosines(noise: np.ndarray) -> list[np.ndarray]:
    """``noise`` (groups, g, d) -> per compared pair of groups, the (g*g,) cosines between every noise of group
    i and every noise of group i + 1 (cyclically; only groups 0 and 1 when there are two)."""
    unit = _unit_rows(noise)
    num_groups = len(noise)
    pairs = [(0, 1)] if num_groups == 2 else [(i, (i + 1) % num_groups) for i in range(num_groups)]
    return [(unit[i] @ unit[k].T).ravel() for i, k in pairs]


def gap_statistics(x: np.ndarray, y: np.ndarray, group_size: int = 100, seed: int = 0) -> GapStatistics:
    """Table 1 (Appendix C): shuffle the pairs with ``seed``, split them into groups of ``group_size``
    (a remainder smaller than a group is dropped), and measure the group gaps and the alignment noise.

    ``x``, ``y``: paired embeddings ``(n, d)`` (row i of x pairs with row i of y), L2-normalised here.
    """
    if not isinstance(group_size, (int, np.integer)) or group_size < 2:
        raise ValueError(f"group_size must be an integer >= 2 (pairs per group), got {group_size!r}")
    number("seed", seed, NONNEG, integer=True)
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must be paired arrays of the same shape (n, d), got {x.shape} and {y.shape}; "
                         "row i of x must pair with row i of y")
    x, y = normalize(x, "x"), normalize(y, "y")
    n, d = x.shape
    if n < group_size:
        raise ValueError(f"n = {n} pairs is fewer than one group of {group_size}; pass a smaller group_size "
                         f"(at most {n}) or more pairs")
    if n < 2 * group_size:
        raise ValueError(f"n = {n} pairs make only one group of {group_size}: the gap direction compares groups, "
                         f"so at least 2 are needed; pass group_size <= {n // 2} or more pairs")
    perm = np.random.default_rng(seed).permutation(n)
    num_groups = n // group_size
    idx = perm[: num_groups * group_size].reshape(num_groups, group_size)
    xg, yg = x[idx], y[idx]  # [groups, group_size, d]
    diff = xg - yg  # d_j^(i)
    gaps = diff.mean(axis=1)  # [groups, d], d^(i)
    noise = diff - gaps[:, None, :]  # [groups, group_size, d], eps_j^(i)
    iu = np.triu_indices(group_size, k=1)
    ortho = []
    for g in range(num_groups):
        r = (xg[g][:, None, :] - xg[g][None, :, :])[iu]  # [pairs, d], x_j - x_k
        rn = np.linalg.norm(r, axis=1)
        keep = rn > 0  # identical images have no difference direction
        ortho.append(r[keep] @ gaps[g] / (rn[keep] * max(np.linalg.norm(gaps[g]), 1e-300)))
    if not any(o.size for o in ortho):
        raise ValueError("x has no two distinct rows inside any group: with no image difference, the gap's "
                         "orthogonality to the span of x is undefined; pass embeddings that vary")
    noise_cos = _cross_group_noise_cosines(noise)
    flat_noise = noise.reshape(-1, d)
    unit_gaps = _unit_rows(gaps)
    gap_cos = unit_gaps @ unit_gaps.T  # [groups, groups]
    samples = {
        "gap_length": np.linalg.norm(gaps, axis=1),
        "gap_direction": _pair_cosines(gaps),  # empty (mean NaN) with a single group
        "orthogonality": np.concatenate(ortho),
        "noise_mean": flat_noise.mean(axis=0),
        "noise_direction": np.concatenate(noise_cos),
    }
    per_group = {
        "gap_length": samples["gap_length"],
        "gap_direction": (gap_cos.sum(axis=1) - np.diagonal(gap_cos)) / (num_groups - 1),
        "orthogonality": np.array([o.mean() if o.size else np.nan for o in ortho]),
        "orthogonality_sq": np.array([(o ** 2).mean() if o.size else np.nan for o in ortho]),
        "noise_direction": np.array([c.mean() for c in noise_cos]),
    }
    return GapStatistics(n=n, d=d, group_size=group_size, num_groups=num_groups, samples=samples,
                         centroid_gap=float(np.linalg.norm(x.mean(axis=0) - y.mean(axis=0))),
                         noise_std=flat_noise.std(axis=0), per_group=per_group)
