"""Build the book: execute every chapter with papermill into ``book/``, then render HTML with jupyter-book.

    python -m c3lib.book                      # all chapters at the default preset, then HTML in _build/html
    python -m c3lib.book --only 01 --no-html  # one chapter
    python -m c3lib.book --preset smoke --out /tmp/smoke-book

The data folder comes from ``--data-dir`` or ``$C3_DATA`` (read by the chapters themselves, so no
machine-specific path is written into the executed notebooks). jupyter-book never executes anything itself
(``execute_notebooks: off``), and its build is strict: a warning fails the build.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from c3lib.config import PRESET_NAMES
from c3lib.paths import REPO_ROOT

KERNEL = "c3"


def chapters(only: list[str] | None = None) -> list[Path]:
    """The chapter sources ``notebooks/NN_*.ipynb`` in order (``only`` filters by number prefix)."""
    found = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if p.name[:2] in only]
        if not found:
            raise SystemExit(f"no chapter matches {only}; chapters: "
                             f"{[p.name for p in sorted((REPO_ROOT / 'notebooks').glob('[0-9][0-9]_*.ipynb'))]}")
    return found


def execute(notebook: Path, out_dir: Path, preset: str, data_dir: str = "", kernel: str = KERNEL,
            extra: dict | None = None) -> Path:
    """Run one chapter with papermill (cwd: the repository root) and return the executed copy's path."""
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / notebook.name
    params = {"preset": preset, **({"data_dir": data_dir} if data_dir else {}), **(extra or {})}
    pm.execute_notebook(str(notebook), str(target), parameters=params, kernel_name=kernel,
                        cwd=str(REPO_ROOT), progress_bar=False, log_output=False)
    squash_progress(target)
    return target


def _final_line(line: str) -> str:
    return line.rsplit("\r", 1)[-1]


def squash_progress(path: Path) -> None:
    """Rewrite an executed notebook so each progress bar keeps only its final state, as a terminal shows it.

    Consecutive stream outputs of one cell are merged and every ``\r``-overwritten line is reduced to what
    was written last; the notice that tqdm falls back to text bars (no ipywidgets) is dropped.
    """
    import nbformat

    book = nbformat.read(path, as_version=4)
    for cell in (c for c in book.cells if c.cell_type == "code"):
        merged: list = []
        for out in cell.outputs:
            if out.output_type == "stream" and merged and merged[-1].output_type == "stream" \
                    and merged[-1].name == out.name:
                merged[-1].text += out.text
            else:
                merged.append(out)
        for out in (o for o in merged if o.output_type == "stream"):
            lines = [_final_line(ln) for ln in out.text.split("\n")]
            out.text = "\n".join(ln for ln in lines if "IProgress not found" not in ln
                                  and "autonotebook import" not in ln)
        cell.outputs = [o for o in merged if o.output_type != "stream" or o.text.strip()]
    nbformat.write(book, path)


def render_html() -> None:
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(REPO_ROOT), "--builder", "html",
           "-W", "-n", "--keep-going"]
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    subprocess.run(cmd, check=True, cwd=REPO_ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default", choices=PRESET_NAMES)
    ap.add_argument("--data-dir", default="", help="real-data folder (else the chapters read $C3_DATA)")
    ap.add_argument("--only", nargs="*", help="chapter numbers, e.g. 01 04")
    ap.add_argument("--out", default=str(REPO_ROOT / "book"), help="folder for the executed chapters")
    ap.add_argument("--no-html", action="store_true", help="execute only; skip jupyter-book")
    args = ap.parse_args(argv)
    out = Path(args.out)
    for nb in chapters(args.only):
        t0 = time.perf_counter()
        print(f"[book] {nb.name} at preset={args.preset} ...", flush=True)
        execute(nb, out, args.preset, args.data_dir)
        print(f"[book] {nb.name} done in {time.perf_counter() - t0:.0f} s", flush=True)
    if not args.no_html:
        t0 = time.perf_counter()
        render_html()
        print(f"[book] HTML in {REPO_ROOT / '_build' / 'html'} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
