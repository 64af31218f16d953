"""Everything the ``paper`` preset downloads, pinned and checked: one manifest and one command.

    python -m c3lib.download --preset paper --list   # what would be fetched: source, revision, size, SHA-256
    python -m c3lib.download --preset paper          # fetch and verify it all before any chapter starts

Each model is a set of files at a fixed revision (a Hub commit or a release tag), each file with its size and
SHA-256. Files land in ``$C3_WEIGHTS/<model>/<revision>/`` (default ``~/.cache/c3book/weights``); a file is
used only when its bytes match, and a download that does not match is refused and not kept. The loaders
(:func:`ensure`) read those local folders with ``local_files_only``, so a run with everything fetched needs no
network, and nothing here depends on ``HF_HUB_OFFLINE``.

The revisions and checksums were taken from public records (Hugging Face's file listings as other projects
quote them, OpenAI's tiktoken source for GPT-2's vocabulary files, torch-fidelity's release); ``provenance``
says which for every model. They could not be re-read from the Hub while this table was written (no network):
the first real download checks them, and a mismatch stops with both digests.

``smoke`` and ``default`` download nothing. ImageBind (chapter 09 at ``paper``) is not fetched here: its
checkpoint is supplied by the user (``$C3_WEIGHTS/imagebind_huge.pth``), see :mod:`c3lib.encoders.imagebind`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Sequence

from c3lib.atomic import atomic_path
from c3lib.paths import weights_dir


@dataclasses.dataclass(frozen=True)
class File:
    name: str  # path inside the source
    size: int  # bytes
    sha256: str


@dataclasses.dataclass(frozen=True)
class Model:
    key: str  # the folder under $C3_WEIGHTS
    what: str
    source: str  # "hf:<repo>" (Hugging Face Hub) or a base URL the file names are appended to
    revision: str  # Hub commit or release tag: what is fetched never moves
    files: tuple[File, ...]
    used_by: str
    license: str
    provenance: str  # where revision, sizes and SHA-256 were confirmed

    def url(self, file: File) -> str:
        if self.source.startswith("hf:"):
            endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
            return f"{endpoint}/{self.source[3:]}/resolve/{self.revision}/{file.name}"
        return f"{self.source.rstrip('/')}/{file.name}"

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


MODELS = {m.key: m for m in (
    Model("clip-vit-b-32-openai", "OpenAI CLIP ViT-B/32 (open_clip's pretrained='openai' file on the Hub)",
          "hf:timm/vit_base_patch32_clip_224.openai", "a6f597a30f7b82c51704746581f9a4e41421e878",
          (File("open_clip_model.safetensors", 605_143_284,
                "e6d1bd7789aa45192b3bf90570a789b478bae1b74ebcce7eddd908e83a2b7c31"),),
          "chapters 04, 06, 08 (the coco-clip space)", "MIT (OpenAI CLIP); repository card: Apache-2.0",
          "revision and the file's LFS SHA-256 and size as two independent public projects pinned them "
          "(HfApi model_info at that commit); open_clip 3.3.0 maps ViT-B-32/openai to this repository"),
    Model("gpt2", "GPT-2 124M and its tokenizer (openai-community/gpt2)",
          "hf:openai-community/gpt2", "607a30d783dfa663caf39e06633721c8d4cfcd7e",
          (File("config.json", 665, "0daed7749b4f02b8f76240d5444551d7b08712dab4d0adb8239c56ba823bb7b4"),
           File("model.safetensors", 548_105_171, "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"),
           File("tokenizer.json", 1_355_256, "8414cab924d8b9b33013f0d221c5862f365ee9be39c5c2bfae8a5a9e970478a6"),
           File("tokenizer_config.json", 26, "5e04eb606e3a1583530a42e36c2a6b6615c86f34fe77e44d9ddeb43ff940931f"),
           File("vocab.json", 1_042_301, "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
           File("merges.txt", 456_318, "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5")),
          "the paper decoder (chapters 06, 07, 09, 11 at paper)", "MIT",
          "revision: gpt2's main as several public projects (and a huggingface_hub docstring) resolved it; "
          "model.safetensors' SHA-256 and size quoted by several projects at that revision; vocab.json / merges.txt are OpenAI's encoder.json / "
          "vocab.bpe (SHA-256 pinned in tiktoken's source); config.json, tokenizer*.json from one public "
          "project's pinned table at that revision"),
    Model("inception-torch-fidelity", "Inception-v3 (TF 2015-12-05 weights) for torch-fidelity's Inception Score",
          "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0", "v0.2.0",
          (File("weights-inception-2015-12-05-6726825d.pth", 95_628_359,
                "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"),),
          "chapter 08 at paper (Inception Score)", "Apache-2.0 (torch-fidelity; TensorFlow's Inception weights)",
          "torch-fidelity's release URL (its file name carries the SHA-256 prefix torch.hub checks); full SHA-256 "
          "and size as several public projects verified them"),
)}

PRESETS = {"smoke": (), "default": (), "paper": ("clip-vit-b-32-openai", "gpt2", "inception-torch-fidelity")}

_VERIFIED: dict[tuple[str, int, int], bool] = {}  # (path, size, mtime_ns) -> its SHA-256 matched, this process


def folder(model: Model | str) -> Path:
    """``$C3_WEIGHTS/<model>/<revision>/``: where the files of ``model`` live."""
    m = MODELS[model] if isinstance(model, str) else model
    return weights_dir() / m.key / m.revision


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_valid(path: Path, file: File) -> bool:
    """Whether ``path`` holds exactly ``file`` (size, then SHA-256; a match is remembered for this process)."""
    if not path.is_file() or path.stat().st_size != file.size:
        return False
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_of(path) == file.sha256
    return _VERIFIED[key]


def download_checked(url: str, sha256: str, dest: Path, size: int | None = None) -> Path:
    """Download ``url`` to ``dest`` (atomically) and verify its SHA-256 (and size); a bad or partial file is
    refused and nothing is kept."""
    from tqdm.auto import tqdm

    if dest.exists() and sha256_of(dest) == sha256:
        return dest
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, atomic_path(dest) as tmp:
            digest, got = hashlib.sha256(), 0
            total = int(resp.headers.get("Content-Length") or 0)
            with open(tmp, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := resp.read(1 << 20):
                    fh.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            if digest.hexdigest() != sha256 or (size is not None and got != size):
                raise ValueError(f"checksum mismatch for {url}: got SHA-256 {digest.hexdigest()} ({got} bytes), "
                                 f"expected {sha256} ({size} bytes); the download is corrupt or the file "
                                 f"changed: nothing was saved")
    except OSError as err:
        raise RuntimeError(f"could not download {url} ({err}). The paper preset needs the network once; "
                           f"offline, put the checked file at {dest} yourself") from err
    return dest


def ensure(model: Model | str, allow_download: bool = True) -> Path:
    """The verified local folder of ``model``; missing or damaged files are fetched when ``allow_download``,
    else a ``FileNotFoundError`` says which file is missing and the command that fetches it."""
    m = MODELS[model] if isinstance(model, str) else model
    root = folder(m)
    for file in m.files:
        path = root / file.name
        if is_valid(path, file):
            continue
        if not allow_download:
            raise FileNotFoundError(f"{path} is missing or does not match its SHA-256 {file.sha256}: run "
                                    f"`python -m c3lib.download --only {m.key}` (network, {m.size / 1e6:.0f} MB)")
        download_checked(m.url(file), file.sha256, path, file.size)
    return root


def describe(keys: Sequence[str]) -> str:
    """The table ``--list`` prints: every file with its source, revision, size and SHA-256."""
    lines, total = [], 0
    for key in keys:
        m = MODELS[key]
        present = all(is_valid(folder(m) / f.name, f) for f in m.files)
        lines += [f"{m.key}: {m.what}", f"  source    {m.url(m.files[0]).rsplit('/', 1)[0]}/",
                  f"  revision  {m.revision}",
                  f"  used by   {m.used_by}; license {m.license}", f"  checked   {m.provenance}",
                  f"  into      {folder(m)}  ({'present, verified' if present else 'not yet fetched'})"]
        lines += [f"  {f.size:>13,d} B  sha256 {f.sha256}  {f.name}" for f in m.files]
        total += m.size
    lines.append(f"total {total:,d} bytes ({total / 1e9:.2f} GB) in {len(keys)} models")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    ap.add_argument("--only", nargs="+", choices=sorted(MODELS), help="these models instead of the preset's")
    ap.add_argument("--list", action="store_true", help="print what would be fetched, fetch nothing")
    args = ap.parse_args(argv)
    keys = tuple(args.only or PRESETS[args.preset])
    if args.list or not keys:
        print(describe(keys) if keys else f"the {args.preset} preset downloads nothing")
        return 0
    for key in keys:
        print(f"[download] {key} -> {ensure(key)}", flush=True)
    print(f"[download] {len(keys)} models present and verified in {weights_dir()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
