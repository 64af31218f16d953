"""Check a data folder against a checksum manifest: ``python -m c3lib.data.verify DIR``.

A manifest is a ``sha256sum`` file (``<sha256>  <path>`` a line, paths relative to the dataset folder), so
``cd DIR/flickr8k && sha256sum -c SHA256SUMS`` checks the same thing without Python.
:mod:`c3lib.data.prepare` writes one beside every folder it builds (``DIR/NAME/SHA256SUMS``); the manifests
of the project's own data folder, the one the committed book was computed from, ship with the library
(``c3lib/data/manifests/NAME.sha256``).

``DIR`` is a data folder (holding ``flickr8k/``, ``coco-caption-text/``...) or one dataset folder. Each dataset
is checked against its own ``SHA256SUMS``, or with ``--ours`` (or when it has none) against the project's
manifest: then every file must be the project's, byte for byte, for a chapter to give the book's numbers.
A Flickr8k folder rebuilt from the original photos matches ours in names, splits and captions but not in
image bytes (ours were made from a copy already squashed to 224 px); verify says so apart from real damage.
Exit status: 0 every file matches; 2 only Flickr8k's re-encoded photos differ; 1 anything else.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from c3lib.atomic import write_text

MANIFEST = "SHA256SUMS"
OURS = Path(__file__).resolve().parent / "manifests"
DATASETS = ("modality-gap-features", "flickr8k", "coco-caption-text", "coco-karpathy")
REENCODED = {"flickr8k": "images/"}  # files a rebuild from the public originals cannot reproduce byte for byte


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, out: Path | None = None) -> Path:
    """Write the ``sha256sum`` manifest of every file under ``folder`` (but itself) to ``out``
    (default ``folder/SHA256SUMS``), in path order."""
    folder, out = Path(folder), Path(out or Path(folder) / MANIFEST)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.resolve() != out.resolve()
                   and p.name != MANIFEST)
    return write_text(out, "".join(f"{sha256_of(p)}  {p.relative_to(folder).as_posix()}\n" for p in files))


def read_manifest(path: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of a ``sha256sum`` file; a malformed line is an error naming it."""
    out = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise ValueError(f"{path}:{n}: not a sha256sum line: {line!r}")
        out[name] = digest
    return out


@dataclass
class Report:
    dataset: str
    manifest: Path
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    differ: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def reencoded_only(self) -> bool:
        """Every difference lies in files a rebuild from the public originals re-encodes (Flickr8k's photos)."""
        prefix = REENCODED.get(self.dataset)
        return bool(prefix and self.differ and not self.missing and all(d.startswith(prefix) for d in self.differ))

    @property
    def ok(self) -> bool:
        return not self.missing and not self.differ

    def lines(self) -> list[str]:
        head = f"{self.dataset}: {self.checked} files against {self.manifest}"
        if self.ok:
            return [f"{head}: all match" + (f" ({len(self.extra)} extra files not in the manifest)" * bool(self.extra))]
        out = [f"{head}: {len(self.missing)} missing, {len(self.differ)} differ"]
        out += [f"  missing {name}" for name in self.missing[:5]] + [f"  differs {name}" for name in self.differ[:5]]
        if self.reencoded_only:
            out.append(f"  only {REENCODED[self.dataset]} differ: names, splits and captions match; the photos were "
                       "re-encoded from other copies of the originals, so chapters reading them move slightly")
        return out


def check(folder: Path, manifest: Path, dataset: str = "") -> Report:
    """Compare ``folder`` with ``manifest`` file by file."""
    expected = read_manifest(manifest)
    report = Report(dataset or Path(folder).name, Path(manifest), checked=len(expected))
    for name, digest in expected.items():
        path = Path(folder) / name
        if not path.is_file():
            report.missing.append(name)
        elif sha256_of(path) != digest:
            report.differ.append(name)
    present = {p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file() and p.name != MANIFEST}
    report.extra = sorted(present - set(expected))
    return report


def manifest_for(folder: Path, ours: bool) -> Path | None:
    """The manifest to check a dataset folder against: its own, else (or with ``ours``) the project's."""
    own, project = Path(folder) / MANIFEST, OURS / f"{Path(folder).name}.sha256"
    if not ours and own.is_file():
        return own
    return project if project.is_file() else None


def datasets_in(root: Path) -> list[Path]:
    """The dataset folders of a data folder, or ``[root]`` when it is one itself."""
    if root.name in DATASETS or (root / MANIFEST).is_file():
        return [root]
    return [root / name for name in DATASETS if (root / name).is_dir()]


WHERE = {  # name -> the public sources prepare reads
    "modality-gap-features": "folder Figure_1_Modality_Gap of github.com/Weixin-Liang/Modality-Gap",
    "flickr8k": "Flickr8k_Dataset.zip and Flickr8k_text.zip (Hodosh et al., 2013; for research use)",
    "coco-caption-text": "captions_val2014.json of annotations_trainval2014.zip (cocodataset.org), or a caption .txt",
    "coco-karpathy": "Karpathy's caption_datasets.zip, and train2014.zip and val2014.zip of cocodataset.org",
}
NEEDED = {"smoke": (), "default": ("modality-gap-features", "flickr8k", "coco-caption-text"),
          "paper": ("modality-gap-features", "flickr8k", "coco-caption-text", "coco-karpathy")}


def missing_data(preset: str, data_dir: str | os.PathLike = "") -> str | None:
    """``None`` when the data folder holds what a whole book at ``preset`` reads, else a message that says
    what is missing and the commands that build it (checked before a book build starts any chapter)."""
    chosen = Path(str(data_dir or os.environ.get("C3_DATA", "")) or "__none__").expanduser()
    absent = [n for n in NEEDED[preset] if not (chosen / n).is_dir()]
    if not absent:
        return None
    given = str(data_dir or os.environ.get("C3_DATA", ""))
    where = (f"the data folder {chosen} lacks {', '.join(absent)}" if given else
             f"no data folder was given (--data-dir or $C3_DATA; make looks for ../shared/data): it needs "
             f"{', '.join(absent)}")
    lines = [f"The {preset} preset reads real data, and {where}.",
             "Build it from the public sources (see README, 'Real data'), then point the book at it:"]
    lines += [f"  python -m c3lib.data.prepare {n} --source PATH... --out DIR    # {WHERE[n]}" for n in absent]
    lines += ["  python -m c3lib.data.verify DIR --ours    # the same bytes as the book's data?",
              "  make book C3_DATA=DIR    (or python -m c3lib.book --data-dir DIR)",
              "Without data, the smoke preset runs every chapter on generated inputs: "
              "python -m c3lib.book --preset smoke --out /tmp/smoke-book --no-html"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a data folder (flickr8k/, coco-caption-text/, ...) or one dataset folder")
    ap.add_argument("--ours", action="store_true", help="check against the project's manifests, not SHA256SUMS")
    args = ap.parse_args(argv)
    root = Path(args.dir).expanduser().resolve()
    folders = datasets_in(root) if root.is_dir() else []
    if not folders:
        print(f"{root}: no dataset folder ({', '.join(DATASETS)}) found")
        return 1
    status = 0
    for folder in folders:
        manifest = manifest_for(folder, args.ours)
        if manifest is None:
            print(f"{folder.name}: no {MANIFEST} in {folder} and no manifest of ours for it: nothing to check")
            status = max(status, 1)
            continue
        report = check(folder, manifest)
        print("\n".join(report.lines()))
        status = max(status, 0 if report.ok else 2 if report.reencoded_only else 1)
    print("verify: " + ("every file matches" if status == 0 else "photos re-encoded, the rest matches" if status == 2
                        else "differences found"))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
