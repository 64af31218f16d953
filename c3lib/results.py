"""Each chapter ends by writing ``book/results/NN_topic.json``: parameters, metrics, the paper's values,
package versions, the device it computed on and wall time. Tables in the book and the regression tests read
these files.

The folder is ``$C3_RESULTS`` if set (the tests point it at a temporary folder), else
:func:`c3lib.paths.results_dir` (``book/results`` of a checkout).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from c3lib import devices
from c3lib.atomic import write_json
from c3lib.paths import results_dir

_PACKAGES = ("c3lib", "numpy", "torch", "open_clip_torch", "transformers", "scikit-learn", "pycocoevalcap")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def to_jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays, tuples and paths into plain JSON values; NaN/inf become None."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


class Timer:
    """Wall-clock time of a chapter: start it in the first cell, pass it to :func:`save`. Starting it also
    fixes the process's thread count (:func:`c3lib.threads.configure`), so a chapter's numbers do not
    depend on the machine's core count."""

    def __init__(self) -> None:
        from c3lib.threads import configure

        self.threads = configure()
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def row(quantity: str, paper: Any, ours: Any, note: str = "") -> dict[str, Any]:
    """One line of a chapter's comparison table: the paper's value beside ours (``None`` where it has none)."""
    return {"quantity": quantity, "paper": paper, "ours": ours, "note": note}


def save(name: str, config: Any, metrics: Mapping[str, Any], paper: Mapping[str, Any], timer: Timer,
         comparison: list[dict[str, Any]] | None = None, notes: Mapping[str, str] | None = None) -> Path:
    """Write ``{results_dir}/{name}.json`` atomically and return its path.

    ``metrics`` holds everything we computed, ``paper`` the paper's reference values, and ``comparison``
    the rows (see :func:`row`) that the book's results page tabulates, paper beside ours.
    """
    params = _without_data_dir(config.to_dict() if hasattr(config, "to_dict") else dict(config))
    record = {
        "chapter": name,
        "preset": params.get("preset"),
        "params": params,
        "metrics": metrics,
        "paper": paper,
        "comparison": list(comparison or []),
        "notes": dict(notes or {}),
        "versions": versions(),
        "device": devices.describe(),  # where "auto" put the chapter's models: {"device": "cpu", "name": None}
        "wall_time_s": round(timer.elapsed(), 1),
    }
    return write_json(results_dir() / f"{name}.json", to_jsonable(record))


def _without_data_dir(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without ``data_dir`` at any depth: a machine-specific path (whether data was used shows in
    the metrics)."""
    return {k: _without_data_dir(v) if isinstance(v, Mapping) else v for k, v in params.items() if k != "data_dir"}


TIMING_KEYS = ("wall_time", "per_second", "seconds", "elapsed", "throughput")


def differences(a: Any, b: Any, path: str = "", rel_tol: float = 0.0) -> list[str]:
    """Where two results records' numbers differ: ``["metrics.runs[3].CIDEr: 17.1 != 17.2", ...]``.

    Keys naming a timing (:data:`TIMING_KEYS`) are skipped: they are measurements of the machine, not of the
    method. ``rel_tol`` = 0 asks for exact equality."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if any(t in str(k) for t in TIMING_KEYS):
                continue
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'second' if k in b else 'first'}")
            else:
                out += differences(a[k], b[k], f"{path}.{k}", rel_tol)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]", rel_tol)]
    if isinstance(a, float) and isinstance(b, float) and rel_tol:
        return [] if abs(a - b) <= rel_tol * max(abs(a), abs(b)) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def load(name: str, folder: str | os.PathLike | None = None) -> dict[str, Any]:
    path = Path(folder or results_dir()) / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no results at {path}: run notebooks/{name}.ipynb first (make book)")
    return json.loads(path.read_text(encoding="utf-8"))


def load_all(folder: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    folder = Path(folder or results_dir())
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("[0-9][0-9]_*.json"))}
