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


def photos_or_stand_ins(root, split: str, n: int, seed: int = 0) -> tuple[list, list[str], str]:
    """``n`` Flickr8k photos of ``split`` with their first captions when a data folder ``root`` is given,
    else generated stand-ins: ``(images, texts, source label)``."""
    from c3lib.data.loaders import load_flickr8k

    if root is None:
        return random_images(n, 96, seed), random_captions(n, seed), "generated"
    pairs = load_flickr8k(root, split, limit=n)
    return list(pairs.image_paths), [c[0] for c in pairs.captions], f"Flickr8k {split}"


def gap_plus_noise_space(n: int, d: int = 512, gap: float = 0.83, noise_std: float = 0.03, seed: int = 0):
    """A stand-in obeying ``x - y = c_perp + eps``: y on a 64-dim subspace, c_perp outside it (for smoke)."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, d))
    y[:, :64] = rng.standard_normal((n, 64))
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    c = np.zeros(d)
    c[64:] = rng.standard_normal(d - 64)
    x = y + gap * c / np.linalg.norm(c) + noise_std * rng.standard_normal((n, d))
    return x, y


_BOW_WORDS = {"det": ["a", "the"], "color": ["red", "black", "white", "brown", "small", "young"],
         "noun": ["dog", "man", "woman", "child", "cat", "bird", "boy", "girl"],
         "verb": ["runs", "jumps", "sits", "plays", "stands", "walks"],
         "place": ["grass", "beach", "street", "snow", "water", "field", "road"]}


def bag_of_words_captions(n: int, dim: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Template captions and bag-of-words embeddings (sum of fixed random word vectors) -> (n,), (n, dim)."""
    vocab = sorted({w for ws in _BOW_WORDS.values() for w in ws} | {"on", "in", "."})
    vecs = {w: v for w, v in zip(vocab, rng.normal(size=(len(vocab), dim)))}
    caps, embs = [], []
    for _ in range(n):
        w = {k: v[rng.integers(len(v))] for k, v in _BOW_WORDS.items()}
        words = [w["det"], w["color"], w["noun"], w["verb"], "on", "the", w["place"], "."]
        caps.append(" ".join(words))
        embs.append(sum(vecs[t] for t in words))
    return caps, np.stack(embs)
