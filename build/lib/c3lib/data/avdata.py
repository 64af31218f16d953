"""Loaders of the paper's audio and video captioning data (Table 4), read from a local data folder.

* **Clotho** (Drossos et al., 2020; v2.1 from its Zenodo record): ``<data>/clotho/`` holds
  ``clotho_captions_<split>.csv`` (columns ``file_name, caption_1 .. caption_5``) and the WAV files in
  ``<split>/``, split one of ``development``, ``validation``, ``evaluation``.
* **MSR-VTT** (Xu et al., 2016): ``<data>/msrvtt/`` holds ``videodatainfo.json`` (the official
  ``train_val_videodatainfo.json`` and ``test_videodatainfo.json`` merged, or either alone: ``videos`` with
  ``video_id`` and ``split`` in train / validate / test, ``sentences`` with ``video_id`` and ``caption``)
  and the clips as ``videos/<video_id>.mp4``.

Neither is downloaded here; a missing folder or file stops with what to fetch and where to put it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

CLOTHO_SPLITS = ("development", "validation", "evaluation")
MSRVTT_SPLITS = ("train", "validate", "test")


@dataclass
class MediaCaptions:
    """Media files (audio clips or videos) with their reference captions, in the dataset's order."""

    paths: list[Path]
    captions: list[list[str]]

    def __len__(self) -> int:
        return len(self.paths)


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: {what}")
    return path


def load_clotho(root: str | Path, split: str = "evaluation", limit: int = 0) -> MediaCaptions:
    """Clotho clips of ``split`` with their five captions (the first ``limit`` when ``limit`` > 0)."""
    if split not in CLOTHO_SPLITS:
        raise ValueError(f"unknown Clotho split {split!r}; valid: {', '.join(CLOTHO_SPLITS)}")
    folder = Path(root) / "clotho"
    hint = ("fetch Clotho v2.1 (clotho_captions_<split>.csv and clotho_audio_<split>.7z from its Zenodo "
            f"record) and unpack it as {folder}/clotho_captions_{split}.csv and {folder}/{split}/*.wav")
    table = _need(folder / f"clotho_captions_{split}.csv", hint)
    audio = _need(folder / split, hint)
    paths, caps = [], []
    with open(table, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            five = [row[f"caption_{k}"].strip() for k in range(1, 6) if row.get(f"caption_{k}", "").strip()]
            if not five:
                raise ValueError(f"{table}: {row.get('file_name')!r} has no caption")
            paths.append(_need(audio / row["file_name"], hint))
            caps.append(five)
            if limit and len(paths) == limit:
                break
    if not paths:
        raise ValueError(f"{table} lists no clips")
    return MediaCaptions(paths, caps)


def load_msrvtt(root: str | Path, split: str = "test", limit: int = 0) -> MediaCaptions:
    """MSR-VTT videos of ``split`` with all their captions (the first ``limit`` videos when ``limit`` > 0)."""
    if split not in MSRVTT_SPLITS:
        raise ValueError(f"unknown MSR-VTT split {split!r}; valid: {', '.join(MSRVTT_SPLITS)}")
    folder = Path(root) / "msrvtt"
    hint = (f"fetch MSR-VTT (the annotation files train_val_videodatainfo.json / test_videodatainfo.json and "
            f"the video archives) and put the merged annotations at {folder}/videodatainfo.json and the "
            f"clips at {folder}/videos/<video_id>.mp4")
    info = json.loads(_need(folder / "videodatainfo.json", hint).read_text(encoding="utf-8"))
    ids = [v["video_id"] for v in info["videos"] if v["split"] == split]
    if limit:
        ids = ids[:limit]
    by_id: dict[str, list[str]] = {i: [] for i in ids}
    for s in info["sentences"]:
        if s["video_id"] in by_id:
            by_id[s["video_id"]].append(s["caption"].strip())
    missing = [i for i, c in by_id.items() if not c]
    if missing:
        raise ValueError(f"{folder / 'videodatainfo.json'}: {len(missing)} {split} video(s) have no caption, "
                         f"e.g. {missing[0]}")
    if not ids:
        raise ValueError(f"{folder / 'videodatainfo.json'} lists no {split} videos")
    return MediaCaptions([_need(folder / "videos" / f"{i}.mp4", hint) for i in ids], [by_id[i] for i in ids])
