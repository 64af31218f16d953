"""Generated stand-in inputs (images and captions) for runs with no real data, e.g. the smoke preset.

They are not meant to look like photos: random smooth colour fields and captions from a small vocabulary,
enough to push real inputs through a real encoder without any download.
"""

from __future__ import annotations

import numpy as np

_WORDS = {
    "det": ["a", "the", "one"],
    "adj": ["red", "green", "blue", "small", "large", "striped", "wooden", "bright"],
    "noun": ["dog", "cat", "car", "tree", "house", "ball", "bird", "boat"],
    "verb": ["sits", "stands", "runs", "rests", "waits"],
    "prep": ["near", "under", "beside", "behind", "on"],
}


def random_images(n: int, size: int = 64, seed: int = 0) -> list:
    """``n`` PIL RGB images of smooth random colour fields (a few Gaussian blobs each)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(n):
        img = np.zeros((size, size, 3))
        for _ in range(rng.integers(1, 4)):
            cy, cx, r = rng.random(), rng.random(), 0.05 + 0.3 * rng.random()
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
            img += blob[..., None] * rng.random(3)
        img = np.clip(img / max(img.max(), 1e-6), 0, 1)
        images.append(Image.fromarray((img * 255).astype(np.uint8)))
    return images


def random_captions(n: int, seed: int = 0) -> list[str]:
    """``n`` short captions such as "a red dog sits near the tree"."""
    rng = np.random.default_rng(seed)
    pick = lambda k: _WORDS[k][rng.integers(len(_WORDS[k]))]  # noqa: E731
    return [f"{pick('det')} {pick('adj')} {pick('noun')} {pick('verb')} {pick('prep')} {pick('det')} "
            f"{pick('noun')}" for _ in range(n)]
