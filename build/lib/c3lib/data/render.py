"""Rendering the world's scenes (:mod:`c3lib.data.world`) as images, audio clips and videos, vectorised in numpy.

- Image: objects drawn as signed-distance masks on a dark, lightly noisy background; ``(n, H, W, 3)`` uint8.
- Audio: each object a harmonic tone; colour -> pitch, shape -> timbre (harmonic weights), size -> loudness,
  horizontal position -> onset; ``(n, samples)`` float32, and its log spectrogram ``(n, frames, bins)``.
- Video: the image renderer over frames while each object moves in its direction; ``(n, T, H, W, 3)`` uint8.
"""

from __future__ import annotations

import numpy as np

from c3lib.data.world import COLOURS, Scenes

RGB = np.array([[220, 40, 40], [40, 190, 60], [50, 80, 230], [235, 215, 40], [150, 60, 200], [40, 210, 220]],
               dtype=np.float32) / 255.0  # [len(COLOURS), 3]
RADIUS = np.array([0.11, 0.19])  # small, large: half-size as a share of the image side
PITCH_HZ = np.array([220.0, 262.0, 330.0, 392.0, 466.0, 554.0])  # one note per colour
LOUDNESS = np.array([0.35, 0.8])  # small, large
TIMBRE = np.array([  # harmonic weights 1..6 per shape: sine, odd (square-like), odd 1/k^2, rich, two, octave
    [1.0, 0, 0, 0, 0, 0], [1.0, 0, 1 / 3, 0, 1 / 5, 0], [1.0, 0, 1 / 9, 0, 1 / 25, 0],
    [1.0, 0.5, 0.33, 0.25, 0.2, 0.17], [1.0, 0.8, 0, 0, 0, 0], [1.0, 0, 0, 0.6, 0, 0]])
MOTION_XY = np.array([[-1.0, 0], [1.0, 0], [0, -1.0], [0, 1.0]])  # left, right, up, down (y grows downwards)
assert len(RGB) == len(COLOURS) == len(PITCH_HZ)


def _masks(shape: np.ndarray, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Boolean masks of each shape id; dx, dy ``(n, H, W)`` offsets from the centre, r ``(n, 1, 1)``."""
    ax, ay = np.abs(dx), np.abs(dy)
    dist = np.hypot(dx, dy)
    by_shape = [
        dist < r,  # circle
        np.maximum(ax, ay) < r * 0.85,  # square
        (dy < r * 0.8) & (dy > -r) & (ax < (dy + r) * 0.58),  # triangle, apex up
        ((ax < r * 0.3) & (ay < r)) | ((ay < r * 0.3) & (ax < r)),  # cross
        (dist < r) & (dist > r * 0.55),  # ring
        ax + ay < r * 1.1,  # diamond
    ]
    s = shape[:, None, None]
    return np.select([s == k for k in range(len(by_shape))], by_shape, False)


def render_images(scenes: Scenes, size: int = 64, seed: int = 0, offsets: np.ndarray | None = None) -> np.ndarray:
    """Images ``(n, size, size, 3)`` uint8. ``offsets`` ``(n, 2, 2)`` moves objects (used for video frames)."""
    n = len(scenes)
    grid = (np.arange(size) + 0.5) / size
    rng = np.random.default_rng([seed, 11])
    img = np.full((n, size, size, 3), 0.12, np.float32) + rng.normal(0, 0.02, (n, size, size, 3)).astype(np.float32)
    pos = scenes.position + (0 if offsets is None else offsets)
    for k in range(2):
        present = scenes.n_objects > k
        if not present.any():
            continue
        idx = np.flatnonzero(present)
        dx = grid[None, None, :] - pos[idx, k, 0][:, None, None]  # [m, 1, W]
        dy = grid[None, :, None] - pos[idx, k, 1][:, None, None]  # [m, H, 1]
        dx, dy = np.broadcast_arrays(dx, dy)
        mask = _masks(scenes.shape[idx, k], dx, dy, RADIUS[scenes.size[idx, k]][:, None, None])
        colour = RGB[scenes.colour[idx, k]][:, None, None, :]  # [m, 1, 1, 3]
        img[idx] = np.where(mask[..., None], colour, img[idx])
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def render_audio(scenes: Scenes, sample_rate: int = 8000, seconds: float = 0.5) -> np.ndarray:
    """Audio clips ``(n, samples)`` float32 in [-1, 1]: one harmonic tone per object."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate  # [T]
    wave = np.zeros((len(scenes), len(t)), np.float64)
    harmonics = np.arange(1, TIMBRE.shape[1] + 1)
    for k in range(2):
        idx = np.flatnonzero(scenes.n_objects > k)
        if not len(idx):
            continue
        f0 = PITCH_HZ[scenes.colour[idx, k]][:, None, None]  # [m, 1, 1]
        weights = TIMBRE[scenes.shape[idx, k]][:, :, None]  # [m, H, 1]
        tone = (weights * np.sin(2 * np.pi * f0 * harmonics[None, :, None] * t[None, None, :])).sum(1)
        tone /= np.abs(weights).sum(1)
        onset = scenes.position[idx, k, 0][:, None] * seconds * 0.4  # left objects start earlier
        envelope = np.clip((t[None, :] - onset) / 0.01, 0, 1) * np.exp(-np.clip(t[None, :] - onset, 0, None) * 3)
        wave[idx] += LOUDNESS[scenes.size[idx, k]][:, None] * envelope * tone
    return (wave / 2).astype(np.float32)


def log_spectrogram(wave: np.ndarray, frame: int = 256, hop: int = 128) -> np.ndarray:
    """Log-magnitude STFT with a Hann window: ``(n, samples)`` -> ``(n, frames, frame // 2 + 1)`` float32."""
    n_frames = 1 + (wave.shape[1] - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n_frames)[:, None]  # [frames, frame]
    spec = np.abs(np.fft.rfft(wave[:, idx] * np.hanning(frame), axis=-1))
    return np.log(spec + 1e-3).astype(np.float32)


def render_video(scenes: Scenes, size: int = 64, n_frames: int = 12, speed: float = 0.02,
                 seed: int = 0) -> np.ndarray:
    """Videos ``(n, n_frames, size, size, 3)`` uint8: each object moves ``speed`` of the side per frame."""
    direction = MOTION_XY[np.clip(scenes.motion, 0, None)]  # [n, 2, 2]
    frames = [render_images(scenes, size, seed + f, offsets=direction * speed * (f - n_frames / 2))
              for f in range(n_frames)]
    return np.stack(frames, axis=1)
