"""Small towers trained from random init on the world (and projection heads over frozen features).

Each maps one modality to a ``dim``-d embedding (unnormalised; the CLIP loss normalises):
- :class:`ImageTower`: a 4-stage CNN over ``(b, 3, H, W)`` images in [0, 1].
- :class:`TextTower`: token embeddings + a small transformer encoder over a word vocabulary, mean-pooled.
- :class:`AudioTower`: 1-d convolutions over the time axis of log spectrograms ``(b, frames, bins)``.
- :class:`VideoTower`: the image CNN on every frame ``(b, T, 3, H, W)``, then temporal mean pooling.
- :class:`Projection`: a linear head over frozen features (locked-tower training, as in LiT).
- :class:`MLPHead`: a 1-, 2- or 4-layer head over frozen features, optionally with LayerNorm (the
  CLIP-recipe spaces choose among them by validation retrieval).
"""

from __future__ import annotations

import torch
from torch import nn

from c3lib.tokenizer import PAD


def _cnn(width: int) -> nn.Sequential:
    layers, c_in = [], 3
    for c_out in (width, width * 2, width * 4, width * 4):
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.GELU()]
        c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _head(width: int, dim: int, clip_like: bool) -> nn.Module:
    """The tower's projection: Linear with bias, or CLIP's ending (LayerNorm, then a bias-free projection,
    as ``ln_post``/``ln_final`` and ``proj``/``text_projection`` in CLIP)."""
    if clip_like:
        return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim, bias=False))
    return nn.Linear(width, dim)


class ImageTower(nn.Module):
    def __init__(self, dim: int = 64, width: int = 16, clip_head: bool = False):
        super().__init__()
        self.body, self.head = _cnn(width), _head(width * 4, dim, clip_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [b, 3, H, W] -> [b, dim]
        return self.head(self.body(x))


class TextTower(nn.Module):
    def __init__(self, vocab_size: int, dim: int = 64, width: int = 64, layers: int = 2, max_len: int = 16,
                 clip_head: bool = False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width, padding_idx=PAD)
        self.pos = nn.Parameter(torch.zeros(max_len, width))
        block = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=2 * width, batch_first=True,
                                           dropout=0.0)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.head = _head(width, dim, clip_head)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [b, L] -> [b, dim]
        mask = ids == PAD
        h = self.encoder(self.embed(ids) + self.pos[: ids.shape[1]], src_key_padding_mask=mask)  # [b, L, w]
        keep = (~mask).unsqueeze(-1).float()
        return self.head((h * keep).sum(1) / keep.sum(1).clamp(min=1))


class AudioTower(nn.Module):
    def __init__(self, n_bins: int, dim: int = 64, width: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(n_bins, width, 3, padding=1), nn.GELU(),
                                  nn.Conv1d(width, width, 3, padding=1), nn.GELU())
        self.head = nn.Linear(2 * width, dim)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:  # [b, frames, bins] -> [b, dim]
        h = self.body(spec.transpose(1, 2))  # [b, width, frames]
        return self.head(torch.cat([h.mean(-1), h.amax(-1)], dim=1))


class VideoTower(nn.Module):
    def __init__(self, dim: int = 64, width: int = 16):
        super().__init__()
        self.body = _cnn(width)
        self.head = nn.Linear(width * 8, dim)

    def forward(self, video: torch.Tensor) -> torch.Tensor:  # [b, T, 3, H, W] -> [b, dim]
        b, t = video.shape[:2]
        h = self.body(video.flatten(0, 1)).view(b, t, -1)  # [b, T, w]
        motion = h[:, 1:] - h[:, :-1]  # frame-to-frame change carries the direction of motion
        return self.head(torch.cat([h.mean(1), motion.mean(1)], dim=1))


class Projection(nn.Module):
    def __init__(self, d_in: int, dim: int = 128):
        super().__init__()
        self.head = nn.Linear(d_in, dim)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # [b, d_in] -> [b, dim]
        return self.head(feats)


class MLPHead(nn.Module):
    """``depth`` Linear layers (GELU between them; ``width`` wide inside), LayerNorm before each Linear
    when ``norm`` (pre-norm, as CLIP's ``ln_final`` before its projection). ``depth=1, norm=False`` is
    :class:`Projection`. Random init (PyTorch's default), as CLIP's heads."""

    def __init__(self, d_in: int, dim: int = 512, depth: int = 1, width: int = 512, norm: bool = False):
        super().__init__()
        if depth not in (1, 2, 4):
            raise ValueError(f"head depth must be 1, 2 or 4, got {depth}")
        layers: list[nn.Module] = []
        sizes = [d_in] + [width] * (depth - 1) + [dim]
        for i in range(depth):
            if norm:
                layers.append(nn.LayerNorm(sizes[i]))
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < depth - 1:
                layers.append(nn.GELU())
        self.layers = nn.Sequential(*layers)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # [b, d_in] -> [b, dim]
        return self.layers(feats)
