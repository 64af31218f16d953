"""The data folder from its public sources (``c3lib.data.prepare``) and its checksums (``c3lib.data.verify``),
on small archives fabricated here in the originals' layouts; and the project's own folder against the
manifests committed in ``c3lib/data/manifests``."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from c3lib.data import loaders, prepare, verify

DATA = Path(os.environ.get("C3_DATA", "../shared/data"))
NEEDS_DATA = pytest.mark.skipif(not (DATA / "flickr8k" / "captions.tsv").exists(),
                                reason=f"no real data folder at {DATA} (set C3_DATA)")


def _jpeg(seed: int, size=(333, 500)) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(arr).save(out, "JPEG", quality=95)
    return out.getvalue()


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _names_by_split() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"train": [], "val": [], None: []}
    i = 0
    while min(len(v) for v in out.values()) < 2:
        name = f"{1000 + i}_{i:04x}abcd.jpg"
        out[prepare.flickr8k_split(name)].append(name)
        i += 1
    return {k: v[:2] for k, v in out.items()}


def _fake_flickr8k(tmp_path: Path) -> tuple[list[Path], dict[str, list[str]]]:
    """Flickr8k_Dataset.zip and Flickr8k_text.zip in the official layout, with the token file's quirks."""
    by_split = _names_by_split()
    names = [n for v in by_split.values() for n in v]
    captions = {n: [f"  Caption {k} of {n} .  " for k in range(5)] for n in names}
    lines = [f"{n}#{k}\t{c}" for n, caps in captions.items() for k, c in enumerate(caps)]
    lines += ["2258277193_586949ec62.jpg.1#0\tA photo that is not in the archive ."]
    photos = {f"Flicker8k_Dataset/{n}": _jpeg(i) for i, n in enumerate(names)}
    photos["Flicker8k_Dataset/9999_nocaption.jpg"] = _jpeg(99)
    photos["__MACOSX/Flicker8k_Dataset/._" + names[0]] = b"resource fork"
    text = {"Flickr8k.token.txt": "\n".join(reversed(lines)) + "\n", "Flickr_8k.trainImages.txt": "ignored\n"}
    return [_zip(tmp_path / "Flickr8k_Dataset.zip", photos),
            _zip(tmp_path / "Flickr8k_text.zip", {k: v.encode() for k, v in text.items()})], \
        {n: [c.strip() for c in caps] for n, caps in captions.items()}


def test_flickr8k_from_the_official_archives(tmp_path):
    sources, captions = _fake_flickr8k(tmp_path)
    out = tmp_path / "data"
    assert prepare.main(["flickr8k", "--source", *map(str, sources), "--out", str(out)]) == 0
    folder = out / "flickr8k"
    rows = list(csv.reader(open(folder / "captions.tsv", newline="", encoding="utf-8"), delimiter="\t"))
    assert rows[0] == ["image", "split", "caption"]
    kept = sorted(n for n in captions if prepare.flickr8k_split(n))
    expected = [[n, s, c] for s in ("train", "val") for n in kept if prepare.flickr8k_split(n) == s
                for c in captions[n]]
    assert rows[1:] == expected  # train then val, file-name order, captions #0-#4 stripped
    assert sorted(p.name for p in (folder / "images").iterdir()) == kept  # no test photo, no caption-less one
    with Image.open(folder / "images" / kept[0]) as im:
        assert im.size == (160, 160) and im.format == "JPEG" and im.mode == "RGB"
    val = loaders.load_flickr8k(out, "val")
    assert [p.name for p in val.image_paths] == [n for n in kept if prepare.flickr8k_split(n) == "val"]
    assert verify.main([str(out)]) == 0
    with pytest.raises(FileExistsError, match="--force"):
        prepare.prepare("flickr8k", sources, out)


def test_verify_tells_damage_from_reencoded_photos(tmp_path, capsys):
    sources, _ = _fake_flickr8k(tmp_path)
    folder = prepare.prepare("flickr8k", sources, tmp_path / "data")
    photo = next((folder / "images").iterdir())
    photo.write_bytes(_jpeg(7, (160, 160)))
    assert verify.main([str(folder)]) == 2
    assert "names, splits and captions match" in capsys.readouterr().out
    (folder / "captions.tsv").write_text("image\tsplit\tcaption\n", encoding="utf-8")
    assert verify.main([str(folder)]) == 1
    photo.unlink()
    report = verify.check(folder, folder / verify.MANIFEST)
    assert report.missing == [f"images/{photo.name}"] and report.differ == ["captions.tsv"]


def test_modality_gap_features_are_checked_and_copied(tmp_path):
    src = tmp_path / "Modality-Gap" / "Figure_1_Modality_Gap"
    src.mkdir(parents=True)
    for i, name in enumerate(prepare.FEATURES):
        np.save(src / name, np.random.default_rng(i).normal(size=(2, 5, 4)).astype(np.float32))
    folder = prepare.prepare("modality-gap-features", [tmp_path / "Modality-Gap"], tmp_path / "data")
    assert (folder / "features_clip.npy").read_bytes() == (src / "features_clip.npy").read_bytes()
    x, y = loaders.load_pair_features(tmp_path / "data", "clasp_random")
    assert x.shape == y.shape == (5, 4)
    assert verify.main([str(tmp_path / "data")]) == 0
    np.save(src / "features_clip.npy", np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"shape \(2, n, d\)"):
        prepare.prepare("modality-gap-features", [src], tmp_path / "again")


def test_coco_caption_text_from_annotations_or_text(tmp_path):
    ann = {"annotations": [{"image_id": 7, "id": 30, "caption": "A  dog on grass. "},
                           {"image_id": 3, "id": 12, "caption": "Second of three."},
                           {"image_id": 3, "id": 11, "caption": " First of three\n"},
                           {"image_id": 7, "id": 31, "caption": "not the first"}]}
    zipped = _zip(tmp_path / "annotations_trainval2014.zip",
                  {"annotations/captions_val2014.json": json.dumps(ann).encode()})
    prepare.prepare("coco-caption-text", [zipped], tmp_path / "a")
    assert loaders.load_coco_captions(tmp_path / "a") == ["First of three", "A dog on grass."]
    text = tmp_path / "mine.txt"
    text.write_text("  one \n\ntwo\n", encoding="utf-8")
    prepare.prepare("coco-caption-text", [text], tmp_path / "b")
    assert (tmp_path / "b" / "coco-caption-text" / "captions.txt").read_text() == "one\ntwo\n"


def test_coco_karpathy_from_the_split_file_and_the_2014_zips(tmp_path):
    entries = [{"filepath": fp, "filename": f"COCO_{fp}_{i:012d}.jpg", "split": split,
                "sentences": [{"raw": f"caption {i}."}]}
               for i, (fp, split) in enumerate([("train2014", "train"), ("val2014", "restval"), ("val2014", "test")])]
    cap = _zip(tmp_path / "caption_datasets.zip", {"dataset_coco.json": json.dumps({"images": entries}).encode()})
    train = _zip(tmp_path / "train2014.zip", {f"train2014/{e['filename']}": _jpeg(i)
                                              for i, e in enumerate(entries) if e["filepath"] == "train2014"})
    val_dir = tmp_path / "val2014"
    val_dir.mkdir()
    for i, e in enumerate(entries):
        if e["filepath"] == "val2014":
            (val_dir / e["filename"]).write_bytes(_jpeg(i))
    with pytest.raises(FileNotFoundError, match="give train2014.zip and val2014.zip"):
        prepare.prepare("coco-karpathy", [cap, train], tmp_path / "x")
    prepare.prepare("coco-karpathy", [cap, train, val_dir], tmp_path / "data", link=True)
    got = loaders.load_coco_karpathy(tmp_path / "data")  # train + restval
    assert [p.name for p in got.image_paths] == [entries[0]["filename"], entries[1]["filename"]]
    assert got.image_paths[1].is_symlink() and not got.image_paths[0].is_symlink()  # zips are copied
    assert verify.main([str(tmp_path / "data")]) == 0


@NEEDS_DATA
def test_our_split_rule_rebuilds_our_captions_tsv_exactly():
    """The rule of the data README, applied to our images' captions plus photos of the withheld test part,
    gives our ``captions.tsv`` byte for byte."""
    tsv = DATA / "flickr8k" / "captions.tsv"
    captions: dict[str, list[str]] = {}
    for row in list(csv.reader(open(tsv, newline="", encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE))[1:]:
        captions.setdefault(row[0], []).append(row[2])
    assert (sum(prepare.flickr8k_split(n) == "train" for n in captions),
            sum(prepare.flickr8k_split(n) == "val" for n in captions)) == (6105, 974)
    withheld = [f"{i}.jpg" for i in range(50) if prepare.flickr8k_split(f"{i}.jpg") is None]
    assert prepare.flickr8k_tsv({**captions, **{n: ["held out"] * 5 for n in withheld}}) == tsv.read_text("utf-8")


@NEEDS_DATA
def test_our_data_folder_matches_the_committed_manifests(capsys):
    assert verify.main([str(DATA), "--ours"]) == 0, capsys.readouterr().out
    assert sorted(p.stem for p in verify.OURS.glob("*.sha256")) == ["coco-caption-text", "flickr8k",
                                                                     "modality-gap-features"]


def test_a_book_without_its_data_says_how_to_build_it(tmp_path, monkeypatch):
    from c3lib import book

    monkeypatch.delenv("C3_DATA", raising=False)
    assert verify.missing_data("smoke") is None
    why = verify.missing_data("default")
    assert "no data folder lacks" not in why and "no data folder" in why
    for name in ("modality-gap-features", "flickr8k", "coco-caption-text"):
        assert f"python -m c3lib.data.prepare {name} --source" in why
    assert "coco-karpathy" not in why and "--preset smoke" in why
    for name in verify.NEEDED["default"]:
        (tmp_path / name).mkdir()
    assert verify.missing_data("default", tmp_path) is None
    assert "lacks coco-karpathy" in verify.missing_data("paper", tmp_path)
    with pytest.raises(SystemExit, match=r"\[book\] The default preset reads real data"):
        book.main(["--preset", "default", "--no-html"])  # stops before any chapter starts
