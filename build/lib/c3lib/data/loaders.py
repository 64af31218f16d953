"""Where real data lives, and clear errors when it is missing.

The data folder is a parameter (a notebook's ``data_dir``), else the environment variable ``C3_DATA``.
Its layout is that of the project's shared data (see ``shared/data/README.md`` in the workplace, or the
README of this repository): ``modality-gap-features/``, ``flickr8k/``, ``coco-caption-text/``; and, for the
``paper`` preset only, ``coco-karpathy/`` (see :func:`load_coco_karpathy`).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c3lib.checks import optional_count

ENV_VAR = "C3_DATA"

HOW_TO_GET = {
    "modality-gap-features": "the precomputed features of 'Mind the Gap' (Liang et al., 2022), folder "
                             "Figure_1_Modality_Gap of its public repository, saved as features_NAME.npy",
    "flickr8k": "Flickr8k photos in images/ and captions.tsv with header 'image<TAB>split<TAB>caption'",
    "coco-caption-text": "captions.txt, MS-COCO captions one per line",
    "coco-karpathy": "Karpathy's split file dataset_coco.json (from the 'caption_datasets' archive of Karpathy's "
                     "neuraltalk2 / deepvideo pages, also on Kaggle as 'karpathy-splits') and the MS-COCO 2014 images "
                     "(cocodataset.org: train2014.zip, val2014.zip) unpacked as images/train2014/ and images/val2014/",
}


class DataNotFoundError(FileNotFoundError):
    """Real data a chapter needs is not where it was looked for; the message says how to fix it."""


def resolve_data_dir(data_dir: str | os.PathLike | None = "", required: bool = False) -> Path | None:
    """Return the data folder from ``data_dir``, else ``$C3_DATA``, else ``None`` (or raise if required)."""
    chosen = str(data_dir or "") or os.environ.get(ENV_VAR, "")
    if not chosen:
        if required:
            raise DataNotFoundError(
                f"no data folder given: pass data_dir=... (papermill: -p data_dir PATH) or set {ENV_VAR}; "
                f"it must hold {', '.join(HOW_TO_GET)} (see README, 'Real data')")
        return None
    path = Path(chosen).expanduser().resolve()
    if not path.is_dir():
        raise DataNotFoundError(f"data folder {str(path)!r} does not exist (from "
                                f"{'data_dir' if data_dir else ENV_VAR}); point it at the folder that holds "
                                f"{', '.join(HOW_TO_GET)}")
    return path


def require(root: Path | None, relpath: str) -> Path:
    """Return ``root / relpath`` if it exists, else raise an error naming what is missing and how to get it."""
    if root is None:
        root = resolve_data_dir(required=True)
    path = root / relpath
    if not path.exists():
        part = relpath.split("/")[0]
        raise DataNotFoundError(f"missing {str(path)!r}: the data folder needs {part}/ with "
                                f"{HOW_TO_GET.get(part, relpath)}")
    return path


def load_pair_features(root: Path | None, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Load the paired embeddings ``features_{name}.npy`` -> ``(x, y)``, each ``(n, d)`` float32."""
    path = require(root, f"modality-gap-features/features_{name}.npy")
    arr = np.load(path, allow_pickle=False)
    if arr.ndim != 3 or arr.shape[0] != 2:
        raise ValueError(f"{path}: expected an array of shape (2, n, d), got {arr.shape}")
    return arr[0].astype(np.float32), arr[1].astype(np.float32)


@dataclass(frozen=True)
class CaptionedImages:
    """A Flickr8k-format folder: ``image_paths[i]`` has the captions ``captions[i]`` (usually five)."""

    image_paths: list[Path]
    captions: list[list[str]]


def load_flickr8k(root: Path | None, split: str = "train", limit: int | None = None,
                  folder: str = "flickr8k") -> CaptionedImages:
    """Read ``{folder}/captions.tsv`` (header ``image split caption``) for one split, grouped by image.

    Images keep their order of first appearance; ``limit`` keeps the first ``limit`` images.
    """
    limit = optional_count("limit", limit)
    tsv = require(root, f"{folder}/captions.tsv")
    groups: dict[str, list[str]] = {}
    with open(tsv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"image", "split", "caption"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{tsv}: header must be 'image<TAB>split<TAB>caption'; missing {sorted(missing)}")
        for row in reader:
            if row["split"] == split and row["caption"].strip():
                groups.setdefault(row["image"], []).append(row["caption"].strip())
    if not groups:
        raise ValueError(f"{tsv}: no captions for split {split!r}; check the 'split' column")
    names = list(groups)[:limit]
    images = tsv.parent / "images"
    paths = [images / n for n in names]
    absent = [p for p in paths if not p.exists()]
    if absent:
        raise DataNotFoundError(f"{len(absent)} image(s) listed in {tsv} are missing, e.g. {absent[0]}")
    return CaptionedImages(paths, [groups[n] for n in names])


def photo_pixels(paths: list[Path], size: int) -> np.ndarray:
    """Photos as ``(n, size, size, 3)`` uint8: the centred square crop of each, area-averaged to ``size`` px
    (PIL's box filter; JPEG draft mode decodes at the smallest scale that still has ``size`` px)."""
    from PIL import Image

    if size < 1:
        raise ValueError(f"size must be >= 1 px, got {size}")
    out = np.empty((len(paths), size, size, 3), np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            im.draft("RGB", (2 * size, 2 * size))
            im = im.convert("RGB")
            w, h = im.size
            side = min(w, h)
            box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
            out[i] = np.asarray(im.resize((size, size), Image.BOX, box=box))
    return out


def load_coco_captions(root: Path | None, limit: int | None = None) -> list[str]:
    """The text-only MS-COCO caption corpus, one caption a line."""
    path = require(root, "coco-caption-text/captions.txt")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path} holds no captions")
    return lines[:optional_count("limit", limit)]


KARPATHY_TRAIN = ("train", "restval")  # the convention of ClipCap and most captioning work: 113,287 images


def load_coco_karpathy(root: Path | None, splits: tuple[str, ...] = KARPATHY_TRAIN, limit: int | None = None,
                       folder: str = "coco-karpathy") -> CaptionedImages:
    """MS-COCO images and captions of Karpathy's split, from a local copy laid out as::

        {folder}/dataset_coco.json            Karpathy's file: {"images": [{"filepath": "train2014",
                                              "filename": "COCO_train2014_....jpg", "split": "train",
                                              "sentences": [{"raw": "A caption."}, ...]}, ...]}
        {folder}/images/train2014/*.jpg       the MS-COCO 2014 images, as unpacked from cocodataset.org
        {folder}/images/val2014/*.jpg

    ``splits``: Karpathy's split names to keep (``train``, ``restval``, ``val``, ``test``); the default, train +
    restval, is what "the Karpathy train split" means in ClipCap and most captioning work (113,287 images;
    ``("train",)`` alone is 82,783). Images keep the file's order; ``limit`` keeps the first ``limit``.
    """
    import json

    path = require(root, f"{folder}/dataset_coco.json")
    valid = {"train", "restval", "val", "test"}
    if not splits or set(splits) - valid:
        raise ValueError(f"splits must be a non-empty subset of {sorted(valid)}, got {splits!r}")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["images"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not Karpathy's dataset_coco.json (needs a top-level 'images' list): {err}") from err
    keep = [e for e in entries if e.get("split") in splits][:optional_count("limit", limit)]
    if not keep:
        raise ValueError(f"{path}: no images in split(s) {list(splits)}; its splits are "
                         f"{sorted({e.get('split') for e in entries})}")
    images = path.parent / "images"
    paths, captions = [], []
    for e in keep:
        paths.append(images / e["filepath"] / e["filename"])
        captions.append([c["raw"].strip() for c in e["sentences"] if c.get("raw", "").strip()])
    absent = [p for p in paths if not p.exists()]
    if absent:
        raise DataNotFoundError(f"{len(absent)} of {len(paths)} image(s) listed in {path} are missing, e.g. "
                                f"{absent[0]}; unpack the MS-COCO 2014 images (cocodataset.org: train2014.zip, "
                                f"val2014.zip) into {images}/train2014/ and {images}/val2014/")
    if any(not c for c in captions):
        raise ValueError(f"{path}: some images have no caption")
    return CaptionedImages(paths, captions)
