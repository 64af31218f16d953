"""Build the data folder from the public sources: ``python -m c3lib.data.prepare NAME --source PATH...``.

Each ``NAME`` is written as ``OUT/NAME/`` in the layout :mod:`c3lib.data.loaders` reads (``OUT``: ``--out``,
else ``$C3_DATA``, else ``./data``), with a ``SHA256SUMS`` manifest beside its files
(:mod:`c3lib.data.verify`). A source is a folder, a ``.zip`` archive or a single file, searched by file name.

``flickr8k``: the official ``Flickr8k_Dataset.zip`` (its ``Flicker8k_Dataset/*.jpg``) and the token file
``Flickr8k.token.txt`` (in ``Flickr8k_text.zip``). Our split: an image's split is
``int(sha256(file_name.encode()).hexdigest(), 16) % 8``: 0 is a test split left out of the folder, 1 is
``val``, anything else ``train`` (6,105 / 974 of the 8,091 photos). ``captions.tsv`` (header
``image split caption``) lists the train rows, then the val rows, images in file-name order, each with its
captions ``#0``-``#4`` stripped. Photos: RGB, squashed to 224 x 224 then 160 x 160 (bicubic), JPEG quality 88;
ours came from a copy already squashed to 224 px, so a rebuild matches names, splits and captions exactly,
image bytes only approximately.

``modality-gap-features``: ``features_{clip,convirt,videoclip,clasp}[_random].npy`` of "Mind the Gap"
(Liang et al., 2022), folder ``Figure_1_Modality_Gap`` of github.com/Weixin-Liang/Modality-Gap; each is
checked to be a ``(2, n, d)`` float array and copied byte for byte.

``coco-caption-text``: ``captions.txt``, one caption a line. From a caption text file: its lines, stripped,
empty ones dropped. From MS-COCO's ``captions_val2014.json`` (``annotations_trainval2014.zip``): one caption
per image (its lowest annotation id), images by id; that gives a corpus of the same kind and size as ours
(40,504 captions, one per val2014 image), not our file: how ours was drawn and ordered is not recorded.

``coco-karpathy``: Karpathy's ``dataset_coco.json`` (``caption_datasets.zip``) and MS-COCO's
``train2014.zip`` and ``val2014.zip``: the json as it is, and every image it lists under
``images/<filepath>/<filename>``, copied (or, with ``--link``, linked) byte for byte. The split is Karpathy's.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from c3lib.data.verify import MANIFEST, write_manifest

FEATURES = tuple(f"features_{m}{r}.npy" for m in ("clip", "convirt", "videoclip", "clasp") for r in ("", "_random"))
PHOTO_SIZE, SQUASH_SIZE, JPEG_QUALITY = 160, 224, 88


class Sources:
    """The files of several sources (folders, ``.zip`` archives, single files), looked up by file name."""

    def __init__(self, paths: Iterable[str | os.PathLike]):
        self.where: dict[str, tuple[Path, str]] = {}  # file name -> (folder, zip or file; path inside or "")
        for raw in paths:
            path = Path(raw).expanduser()
            if path.is_dir():
                for p in sorted(path.rglob("*")):
                    if p.is_file():
                        self.where.setdefault(p.name, (p, ""))
            elif path.is_file() and zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    for info in zf.infolist():
                        if not info.is_dir() and not Path(info.filename).name.startswith("._"):  # macOS forks
                            self.where.setdefault(Path(info.filename).name, (path, info.filename))
            elif path.is_file():
                self.where.setdefault(path.name, (path, ""))
            else:
                raise FileNotFoundError(f"source {path} does not exist")

    def names(self, accept: Callable[[str], bool]) -> list[str]:
        return sorted(n for n in self.where if accept(n))

    def path(self, name: str) -> Path | None:
        """The file itself when it is not inside an archive (``--link`` links to it)."""
        container, inner = self.where[name]
        return None if inner else container

    def read(self, name: str) -> bytes:
        if name not in self.where:
            raise FileNotFoundError(f"{name} is in none of the sources")
        container, inner = self.where[name]
        if not inner:
            return container.read_bytes()
        with zipfile.ZipFile(container) as zf:
            return zf.read(inner)


def flickr8k_split(name: str) -> str | None:
    """Our Flickr8k split of an image file name: ``train``, ``val``, or ``None`` (the withheld test part)."""
    k = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 8
    return None if k == 0 else "val" if k == 1 else "train"


def parse_tokens(text: str) -> dict[str, list[str]]:
    """``Flickr8k.token.txt`` (``NAME.jpg#k<TAB>caption``) -> ``{name: [caption #0, ..., #4]}``, stripped."""
    found: dict[str, dict[int, str]] = defaultdict(dict)
    for line in text.splitlines():
        key, tab, caption = line.partition("\t")
        name, hash_, k = key.rpartition("#")
        if tab and hash_ and k.isdigit() and int(k) < 5:
            found[name][int(k)] = caption.strip()
    return {name: [caps[k] for k in sorted(caps)] for name, caps in found.items()}


def flickr8k_tsv(captions: dict[str, list[str]]) -> str:
    """``captions.tsv`` for the images of ``captions``: train rows, then val rows, images in file-name order."""
    rows = ["image\tsplit\tcaption\n"]
    for split in ("train", "val"):
        rows += [f"{name}\t{split}\t{c}\n" for name in sorted(captions) if flickr8k_split(name) == split
                 for c in captions[name]]
    return "".join(rows)


def photo(data: bytes) -> bytes:
    """A Flickr8k photo as the folder holds it: RGB, squashed to 224 then 160 px (bicubic), JPEG quality 88."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB").resize((SQUASH_SIZE, SQUASH_SIZE), Image.BICUBIC)
        out = io.BytesIO()
        im.resize((PHOTO_SIZE, PHOTO_SIZE), Image.BICUBIC).save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def build_flickr8k(src: Sources, out: Path, link: bool = False) -> int:
    """``captions.tsv`` and ``images/`` of the photos that have captions and are not in the test part."""
    if "Flickr8k.token.txt" not in src.where:
        raise FileNotFoundError("Flickr8k.token.txt not found in the sources (it is in Flickr8k_text.zip)")
    tokens = parse_tokens(src.read("Flickr8k.token.txt").decode("utf-8"))
    photos = set(src.names(lambda n: n.lower().endswith(".jpg")))
    captions = {n: c for n, c in tokens.items() if n in photos and flickr8k_split(n) is not None and c}
    if not captions:
        raise ValueError("no photo of the sources has captions in Flickr8k.token.txt: is Flickr8k_Dataset.zip given?")
    (out / "images").mkdir(parents=True)
    for name in sorted(captions):
        (out / "images" / name).write_bytes(photo(src.read(name)))
    (out / "captions.tsv").write_text(flickr8k_tsv(captions), encoding="utf-8")
    return len(captions)


def build_features(src: Sources, out: Path, link: bool = False) -> int:
    missing = [n for n in FEATURES if n not in src.where]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)} (folder Figure_1_Modality_Gap of "
                                "github.com/Weixin-Liang/Modality-Gap)")
    out.mkdir(parents=True)
    for name in FEATURES:
        data = src.read(name)
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        if arr.ndim != 3 or arr.shape[0] != 2 or arr.dtype.kind != "f":
            raise ValueError(f"{name}: expected paired embeddings of shape (2, n, d), got {arr.shape} {arr.dtype}")
        (out / name).write_bytes(data)
    return len(FEATURES)


def coco_captions(src: Sources) -> list[str]:
    """The caption corpus: a ``captions_*.json`` of MS-COCO (one caption per image) or a text file."""
    js = src.names(lambda n: n.startswith("captions_") and n.endswith(".json"))
    if js:
        data = json.loads(src.read(js[0]))
        first: dict[int, tuple[int, str]] = {}
        for a in data["annotations"]:
            if a["image_id"] not in first or a["id"] < first[a["image_id"]][0]:
                first[a["image_id"]] = (a["id"], " ".join(a["caption"].split()))
        return [first[i][1] for i in sorted(first)]
    txt = src.names(lambda n: n.endswith(".txt"))
    if not txt:
        raise FileNotFoundError("no captions_*.json (annotations_trainval2014.zip) or caption .txt in the sources")
    return [ln.strip() for ln in src.read(txt[0]).decode("utf-8").splitlines() if ln.strip()]


def build_coco_text(src: Sources, out: Path, link: bool = False) -> int:
    lines = coco_captions(src)
    out.mkdir(parents=True)
    (out / "captions.txt").write_text("".join(f"{ln}\n" for ln in lines), encoding="utf-8")
    return len(lines)


def build_karpathy(src: Sources, out: Path, link: bool = False) -> int:
    raw = src.read("dataset_coco.json")
    entries = json.loads(raw)["images"]
    missing = [e["filename"] for e in entries if e["filename"] not in src.where]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of the {len(entries)} images of dataset_coco.json are in none of "
                                f"the sources, e.g. {missing[0]} (give train2014.zip and val2014.zip)")
    out.mkdir(parents=True)
    (out / "dataset_coco.json").write_bytes(raw)
    for e in entries:
        dest = out / "images" / e["filepath"] / e["filename"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        original = src.path(e["filename"])
        if link and original is not None:
            dest.symlink_to(original.resolve())
        else:
            dest.write_bytes(src.read(e["filename"]))
    return len(entries)


BUILDERS = {"flickr8k": build_flickr8k, "modality-gap-features": build_features,
            "coco-caption-text": build_coco_text, "coco-karpathy": build_karpathy}


def prepare(name: str, sources: Iterable[str | os.PathLike], out_root: Path, force: bool = False,
            link: bool = False) -> Path:
    """Build ``out_root/name`` from ``sources`` into a temporary folder, write its manifest, move it in place."""
    if name not in BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(BUILDERS)}")
    dest = Path(out_root) / name
    if dest.exists() and not force:
        raise FileExistsError(f"{dest} exists: remove it or pass --force to replace it")
    tmp = Path(out_root) / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        count = BUILDERS[name](Sources(sources), tmp, link)
        write_manifest(tmp)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"[prepare] {name}: {count} items -> {dest} (manifest {dest / MANIFEST})")
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(BUILDERS))
    ap.add_argument("--source", nargs="+", required=True, help="folders, .zip archives or files holding the originals")
    ap.add_argument("--out", default=os.environ.get("C3_DATA") or "data", help="the data folder (default $C3_DATA or ./data)")
    ap.add_argument("--force", action="store_true", help="replace an existing OUT/NAME")
    ap.add_argument("--link", action="store_true", help="coco-karpathy: link the images of folder sources, not copy")
    args = ap.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    prepare(args.name, args.source, Path(args.out), args.force, args.link)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
