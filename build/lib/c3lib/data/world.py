"""A seeded, procedural multimodal world: scenes, their captions, and exact caption scoring.

A scene holds one or two objects, each with a shape, a colour, a size, a position and (for video) a
direction of motion; two objects stand in a spatial relation. Every scene renders as an image, an audio
clip and a video (:mod:`c3lib.data.render`) and is described by five paraphrased captions from a small
grammar. Because the ground truth is known, a generated caption can be scored exactly
(:func:`score_caption`: attribute precision and recall) beside the usual captioning metrics.

Splits are disjoint by construction: a scene's discrete content (attributes, coarse positions, motion)
is hashed, and the hash decides its split, so no scene appears in two splits.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle", "cross", "ring", "diamond")
COLOURS = ("red", "green", "blue", "yellow", "purple", "cyan")
SIZES = ("small", "large")
MOTIONS = ("left", "right", "up", "down")
RELATIONS = ("left of", "right of", "above", "below")
INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
SPLITS = {"train": range(0, 8), "val": range(8, 9), "test": range(9, 10)}

# Paraphrase vocabulary: each canonical attribute and the words that may stand for it in a caption.
SYNONYMS = {
    "circle": ["circle", "disk", "round dot"], "square": ["square", "box"], "triangle": ["triangle"],
    "cross": ["cross", "plus sign"], "ring": ["ring", "hoop"], "diamond": ["diamond", "rhombus"],
    "red": ["red", "crimson"], "green": ["green"], "blue": ["blue", "navy"], "yellow": ["yellow", "golden"],
    "purple": ["purple", "violet"], "cyan": ["cyan", "turquoise"],
    "small": ["small", "little", "tiny"], "large": ["large", "big"],
    "left of": ["to the left of", "left of"], "right of": ["to the right of", "right of"],
    "above": ["above", "over"], "below": ["below", "under", "beneath"],
}
_CANON = {w: canon for canon, words in SYNONYMS.items() for w in words}
_PLACES = {(0, 0): "top left", (0, 1): "top", (0, 2): "top right", (1, 0): "left", (1, 1): "middle",
           (1, 2): "right", (2, 0): "bottom left", (2, 1): "bottom", (2, 2): "bottom right"}


@dataclass(frozen=True)
class Scenes:
    """``n`` scenes as arrays; object slot 1 is ``-1`` where a scene has one object.

    shape, colour, size, motion: ``(n, 2)`` int; position: ``(n, 2, 2)`` float (x, y in [0, 1], y down);
    n_objects: ``(n,)``; relation: ``(n,)`` index into RELATIONS (object 0 relative to object 1), -1 if none.
    """

    shape: np.ndarray
    colour: np.ndarray
    size: np.ndarray
    position: np.ndarray
    motion: np.ndarray
    n_objects: np.ndarray
    relation: np.ndarray

    def __len__(self) -> int:
        return len(self.n_objects)

    def attributes(self, i: int) -> dict:
        """Ground truth of scene ``i`` in words."""
        objs = [{"shape": SHAPES[self.shape[i, k]], "colour": COLOURS[self.colour[i, k]],
                 "size": SIZES[self.size[i, k]], "motion": MOTIONS[self.motion[i, k]],
                 "place": _place(self.position[i, k])} for k in range(self.n_objects[i])]
        rel = RELATIONS[self.relation[i]] if self.relation[i] >= 0 else None
        return {"objects": objs, "relation": rel}

    def keys(self) -> list[str]:
        """The discrete content of each scene, the identity used to keep splits disjoint."""
        cells = np.clip((self.position * 3).astype(int), 0, 2)
        return [f"{self.n_objects[i]}|{self.shape[i].tolist()}|{self.colour[i].tolist()}|{self.size[i].tolist()}|"
                f"{self.motion[i].tolist()}|{cells[i].tolist()}|{self.relation[i]}" for i in range(len(self))]


def _place(xy: np.ndarray) -> str:
    row, col = min(int(xy[1] * 3), 2), min(int(xy[0] * 3), 2)
    return _PLACES[(row, col)]


def _relation(pos: np.ndarray) -> np.ndarray:
    """Relation of object 0 to object 1 along the axis where they are further apart. ``pos`` (n, 2, 2)."""
    d = pos[:, 0] - pos[:, 1]  # [n, 2]
    horizontal = np.abs(d[:, 0]) >= np.abs(d[:, 1])
    return np.where(horizontal, np.where(d[:, 0] < 0, 0, 1), np.where(d[:, 1] < 0, 2, 3))


def _split_of(keys: list[str]) -> np.ndarray:
    return np.array([hashlib.blake2b(k.encode(), digest_size=2).digest()[0] % 10 for k in keys])


def sample_scenes(n: int, split: str = "train", seed: int = 0, two_object_share: float = 0.5) -> Scenes:
    """Draw ``n`` scenes of ``split`` (train / val / test) deterministically from ``seed``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng([seed, list(SPLITS).index(split)])
    parts, have = [], 0
    while have < n:
        m = 2 * (n - have) * (10 // len(SPLITS[split])) + 16
        n_obj = 1 + (rng.random(m) < two_object_share)
        pos = rng.uniform(0.2, 0.8, size=(m, 2, 2))
        # two objects must not overlap: push the second one away along x or y when too close
        close = np.abs(pos[:, 0] - pos[:, 1]).max(axis=1) < 0.35
        pos[close, 1, 0] = np.where(pos[close, 0, 0] < 0.5, pos[close, 0, 0] + 0.4, pos[close, 0, 0] - 0.4)
        s = Scenes(shape=rng.integers(0, len(SHAPES), (m, 2)), colour=rng.integers(0, len(COLOURS), (m, 2)),
                   size=rng.integers(0, len(SIZES), (m, 2)), position=pos,
                   motion=rng.integers(0, len(MOTIONS), (m, 2)), n_objects=n_obj,
                   relation=np.where(n_obj == 2, _relation(pos), -1))
        for field in ("shape", "colour", "size", "motion"):
            getattr(s, field)[n_obj == 1, 1] = -1
        s.position[n_obj == 1, 1] = -1.0
        keep = np.isin(_split_of(s.keys()), list(SPLITS[split]))
        parts.append(_take(s, np.flatnonzero(keep)[: n - have]))
        have += len(parts[-1])
    return _concat(parts)


def _take(s: Scenes, idx: np.ndarray) -> Scenes:
    return Scenes(*(getattr(s, f)[idx] for f in Scenes.__dataclass_fields__))


def _concat(parts: list[Scenes]) -> Scenes:
    return Scenes(*(np.concatenate([getattr(p, f) for p in parts]) for f in Scenes.__dataclass_fields__))


def _phrase(obj: dict, rng: np.random.Generator, video: bool, with_place: bool) -> str:
    """A noun phrase for one object, with optional attributes left out as people do."""
    pick = lambda canon: SYNONYMS[canon][rng.integers(len(SYNONYMS[canon]))]  # noqa: E731
    words = []
    if rng.random() < 0.6:
        words.append(pick(obj["size"]))
    words += [pick(obj["colour"]), pick(obj["shape"])]
    text = " ".join(words)
    if video:
        text += f" moving {obj['motion']}"
    elif with_place and rng.random() < 0.5:
        text += f" {'at' if obj['place'] in ('top', 'bottom', 'left', 'right') else 'in'} the {obj['place']}"
    return text


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def captions(scenes: Scenes, seed: int = 0, k: int = 5, video: bool = False) -> list[list[str]]:
    """``k`` paraphrased captions per scene: synonyms, word orders, and optional attributes left out."""
    out = []
    for i in range(len(scenes)):
        rng = np.random.default_rng([seed, i, 7])
        att = scenes.attributes(i)
        caps = []
        for _ in range(k):
            objs = att["objects"]
            if len(objs) == 1:
                p = _article(_phrase(objs[0], rng, video, with_place=True))
                templates = [f"{p}", f"there is {p}", f"an image of {p}", f"{p} on a dark background",
                             f"a picture showing {p}"]
            else:
                a, b = (_article(_phrase(o, rng, video, with_place=False)) for o in objs)
                rel = SYNONYMS[att["relation"]][rng.integers(len(SYNONYMS[att["relation"]]))]
                inv = SYNONYMS[INVERSE[att["relation"]]][0]
                templates = [f"{a} {rel} {b}", f"{b} {inv} {a}", f"two shapes: {a} and {b}",
                             f"there is {a} {rel} {b}", f"{a} and {b}"]
            caps.append(templates[rng.integers(len(templates))])
        out.append(caps)
    return out


_PATTERN = re.compile("|".join(sorted((re.escape(w) for w in _CANON), key=len, reverse=True)))


def mentioned(caption: str) -> set[tuple[str, str]]:
    """The attributes a caption mentions, as canonical ``(kind, value)`` pairs."""
    kinds = {**{s: "shape" for s in SHAPES}, **{c: "colour" for c in COLOURS}, **{z: "size" for z in SIZES},
             **{r: "relation" for r in RELATIONS}}
    return {(kinds[_CANON[m]], _CANON[m]) for m in _PATTERN.findall(caption.lower())}


def score_caption(caption: str, attributes: dict) -> dict[str, float]:
    """Attribute precision (share of mentioned attributes that are true) and recall (share of true shapes,
    colours, sizes and relation that are mentioned) of ``caption`` against a scene's ground truth.

    "B right of A" states the same fact as "A left of B", so a relation and its inverse both count as true
    (and recall counts the relation once).
    """
    truth = {(kind, o[kind]) for o in attributes["objects"] for kind in ("shape", "colour", "size")}
    said = mentioned(caption)
    rel = attributes.get("relation")
    true_rel = {("relation", rel), ("relation", INVERSE[rel])} if rel else set()
    hit = len(said & truth) + min(len(said & true_rel), 1)
    n_true = len(truth) + bool(rel)
    return {"precision": hit / len(said) if said else 0.0, "recall": hit / n_true}
