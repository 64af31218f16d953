"""Build the book: execute every chapter with papermill into ``book/``, then render HTML with jupyter-book.

    python -m c3lib.book                      # all chapters at the default preset, then HTML in _build/html
    python -m c3lib.book --only 01 --no-html  # one chapter
    python -m c3lib.book --preset smoke --out /tmp/smoke-book  # results JSON in /tmp/smoke-book/results
    python -m c3lib.book --html-only          # render the committed executed chapters of book/ (make html)
    python -m c3lib.book --jobs 2             # two chapters at a time, each with 1 torch/BLAS thread

Chapters run in a pool of ``--jobs`` processes (default: the cores), each one once the chapters it needs
have run (``c3lib.chapter_deps`` reads that from the imports), 99 (the results page) last. Every worker's
kernel computes with ``--threads`` threads (default 1, so the numbers are those of a one-thread serial run
whatever ``--jobs`` is) and seeded global generators (``c3lib.parallel.worker_env``); a chapter's own pool
gets ``--jobs`` processes, so ``--jobs 1`` computes in one process at a time.

The data folder comes from ``--data-dir`` or ``$C3_DATA`` (read by the chapters, so no machine's path is in
the executed notebooks; a whole book first checks it holds what it reads, ``c3lib.data.verify.missing_data``).
jupyter-book never executes anything itself (``execute_notebooks: off``); its build is strict (warnings fail).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from c3lib.atomic import atomic_path, write_text
from c3lib.config import PRESET_NAMES
from c3lib.data.verify import missing_data
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
            extra: dict | None = None, threads: int | None = None, workers: int = 1) -> Path:
    """Run one chapter with papermill (cwd: the repository root) and return the executed copy's path.

    The kernel runs with ``C3_PROGRESS=0`` (no progress bars in the book, see ``c3lib.progress``) and
    ``C3_BOOK=1`` (no ipywidgets panels: ``c3lib.report.live``); outside
    ``book/`` the results JSON goes to ``out_dir/results`` unless ``$C3_RESULTS`` says otherwise. The
    executed copy is then cleaned for reading (``clean_executed``), its stderr kept in ``out_dir/logs``.
    With ``threads`` the kernel gets a book worker's environment (``c3lib.parallel.worker_env``).
    """
    import papermill as pm

    from c3lib.parallel import worker_env
    from c3lib.threads import kernel_env

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / notebook.name
    params = {"preset": preset, **({"data_dir": data_dir} if data_dir else {}), **(extra or {})}
    env = {"C3_PROGRESS": "0", "C3_BOOK": "1", **kernel_env()}  # C3_BOOK: live panels become static figures
    # (c3lib.report); kernel_env: one thread count for every kernel (c3lib.threads)
    if out_dir.resolve() != (REPO_ROOT / "book").resolve() and not os.environ.get("C3_RESULTS"):
        env["C3_RESULTS"] = str(out_dir.resolve() / "results")  # a scratch build keeps book/results intact
    with tempfile.TemporaryDirectory(prefix="c3-kernel-") as ipython_dir, \
            _env(**{**env, **(worker_env(threads, ipython_dir, workers=workers) if threads else {})}):
        try:
            pm.execute_notebook(str(notebook), str(target), parameters=params, kernel_name=kernel,
                                cwd=str(REPO_ROOT), progress_bar=False, log_output=False)
        except Exception as err:
            err.partial_notebook = target  # read by c3lib.parallel's failure report
            raise
    squash_progress(target)
    clean_executed(target, log_path(target))
    return target


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for the duration (the papermill kernel inherits them), then restore."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def log_path(executed: Path) -> Path:
    """Where an executed chapter's stderr goes: ``<its folder>/logs/<its name>.log`` (git-ignored)."""
    return executed.parent / "logs" / f"{executed.stem}.log"


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
    _write(book, path)


def _write(book, path: Path) -> None:
    import nbformat

    with atomic_path(path) as tmp:
        nbformat.write(book, tmp)


HIDE_TAGS = {"hide-input", "hide-cell", "remove-input", "remove-cell"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def clean_executed(path: Path, log: Path) -> None:
    """Make an executed chapter read like a book page; its stderr goes to ``log`` instead of the page.

    - papermill's injected-parameters cell is merged into the chapter's own ``parameters`` cell, so the
      reader sees one parameters cell holding the values the page was executed with;
    - stderr stream outputs (warnings, text progress bars) move to ``log``;
    - every code cell but the parameters cell is tagged ``hide-input`` (a "show code" toggle in the book);
    - widget views and widget state are dropped (the static book would fetch their JavaScript from a CDN).
    """
    import nbformat

    book = nbformat.read(path, as_version=4)
    merge_parameters(book)
    log_text = pop_stderr(book)
    tag_hidden_inputs(book)
    drop_widgets(book)
    _write(book, path)
    write_text(log, f"# stderr of {path.name}, by cell (index in the executed page)\n" + log_text)


def _tagged(book, tag: str) -> list:
    return [c for c in book.cells if tag in c.get("metadata", {}).get("tags", [])]


def _offset(lines: list[str], lineno: int, col: int) -> int:
    """Character offset in ``"".join(lines)`` of ast's (1-based line, UTF-8 byte column)."""
    head = lines[lineno - 1].encode("utf-8")[:col].decode("utf-8")
    return sum(len(ln) for ln in lines[:lineno - 1]) + len(head)


def _assignments(source: str) -> dict[str, tuple[int, int]]:
    """``name -> (start, end)`` character span of the value of each top-level ``name = value``."""
    import ast

    lines = source.splitlines(keepends=True)
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                v = node.value
                spans[targets[0].id] = (_offset(lines, v.lineno, v.col_offset),
                                        _offset(lines, v.end_lineno, v.end_col_offset))
    return spans


def merge_parameters(book) -> None:
    """Write the injected values into the ``parameters`` cell (comments kept) and drop papermill's cell.

    A value for a name that the parameters cell does not assign is appended as a new line. Without a
    parameters cell the injected cell itself becomes the parameters cell. The values stay recorded in
    ``book.metadata.papermill.parameters``.
    """
    injected = _tagged(book, "injected-parameters")
    if not injected:
        return
    inj = injected[0]
    own = _tagged(book, "parameters")
    if not own:
        inj.metadata["tags"] = ["parameters"]
        return
    cell = own[0]
    values = {name: inj.source[a:b] for name, (a, b) in _assignments(inj.source).items()}
    src = cell.source
    spans = _assignments(src)
    for name, (a, b) in sorted(((n, s) for n, s in spans.items() if n in values), key=lambda t: -t[1][0]):
        src = src[:a] + values[name] + src[b:]
    extra = [f"{name} = {value}  # set by the book build" for name, value in values.items() if name not in spans]
    if extra:
        src = src.rstrip("\n") + "\n" + "\n".join(extra)
    cell.source = src
    book.cells = [c for c in book.cells if c is not inj]


def pop_stderr(book) -> str:
    """Remove every stderr stream output; return them as log text, one block per cell."""
    blocks = []
    for i, cell in enumerate(book.cells):
        if cell.cell_type != "code":
            continue
        err = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        if err:
            blocks.append(f"## cell {i}\n" + "".join(o.text if o.text.endswith("\n") else o.text + "\n"
                                                       for o in err))
            cell.outputs = [o for o in cell.outputs if not any(o is e for e in err)]
    return "".join(blocks)


def tag_hidden_inputs(book) -> None:
    """Tag each code cell ``hide-input`` unless it is the parameters cell or already carries a hide tag."""
    for cell in (c for c in book.cells if c.cell_type == "code"):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "parameters" in tags:
            cell.metadata["tags"] = [t for t in tags if t not in HIDE_TAGS]
        elif not HIDE_TAGS & set(tags):
            tags.append("hide-input")


def drop_widgets(book) -> None:
    """Drop widget views from outputs (their text fallback stays) and the notebook's widget state."""
    book.metadata.pop("widgets", None)
    for cell in (c for c in book.cells if c.cell_type == "code"):
        for out in cell.outputs:
            if "data" in out:
                out.data.pop(WIDGET_MIME, None)
        cell.outputs = [o for o in cell.outputs if "data" not in o or o.data]


def toc_pages(source: Path = REPO_ROOT) -> list[str]:
    """The pages ``_toc.yml`` under ``source`` names (root first), as paths without suffix."""
    import yaml

    toc = yaml.safe_load((source / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        pages += [ch["file"] for ch in part.get("chapters", [])]
    return pages


def render_html(source: Path = REPO_ROOT, out: Path | None = None) -> Path:
    """Render the executed chapters under ``source`` with jupyter-book (strict; executes nothing).

    The site goes to ``(out or source)/_build/html``, which is returned. Pages of the table of contents
    that are missing (chapters never executed) stop the build before it starts, naming them.
    """
    missing = [p for p in toc_pages(source)
               if not any((source / f"{p}{ext}").exists() for ext in (".ipynb", ".md"))]
    if missing:
        raise SystemExit(f"no executed chapter for {missing} under {source}: execute them first "
                         "(make book, or make chapter N=NN)")
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source), "--builder", "html",
           "-W", "-n", "--keep-going"] + (["--path-output", str(out)] if out else [])
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    subprocess.run(cmd, check=True, cwd=source, env=env)
    return (out or source) / "_build" / "html"


@dataclasses.dataclass(frozen=True)
class ChapterJob:
    """One book worker's task: execute chapter ``num`` (what ``c3lib.parallel`` calls in a worker)."""

    out: Path
    preset: str
    data_dir: str = ""
    threads: int = 1
    workers: int = 1

    def __call__(self, num: str, report) -> None:
        from c3lib.parallel import watch_cells

        nb = chapters([num])[0]
        with watch_cells(self.out / nb.name, report):
            execute(nb, self.out, self.preset, self.data_dir, threads=self.threads, workers=self.workers)


def build(nbs: list[Path], out: Path, preset: str, data_dir: str = "", jobs: int = 1, threads: int = 1
          ) -> dict[str, float]:
    """Execute ``nbs`` in a pool of ``jobs`` workers in dependency order -> wall seconds per chapter."""
    from c3lib import chapter_deps, parallel

    try:
        return parallel.run_chapters([nb.name[:2] for nb in nbs], chapter_deps.needs(), jobs,
                                     ChapterJob(out, preset, data_dir, threads, workers=jobs),
                                     {nb.name[:2]: nb.stem for nb in nbs}, parallel.recorded_wall())
    except parallel.ChapterFailed as err:
        raise SystemExit(f"[book] chapter {err.num} failed; partial notebook: {err.partial or '(none)'}\n"
                         f"{err.trace}") from None


def main(argv: list[str] | None = None) -> int:
    from c3lib.parallel import cores

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default", choices=PRESET_NAMES)
    ap.add_argument("--data-dir", default="", help="real-data folder (else the chapters read $C3_DATA)")
    ap.add_argument("--only", nargs="*", help="chapter numbers, e.g. 01 04")
    ap.add_argument("--out", default=str(REPO_ROOT / "book"), help="folder for the executed chapters")
    ap.add_argument("--no-html", action="store_true", help="execute only; skip jupyter-book")
    ap.add_argument("--html-only", action="store_true",
                    help="render the executed chapters already in book/ (the committed ones); execute nothing")
    ap.add_argument("--jobs", type=int, default=cores(), help="chapters at a time (default: the cores)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch/BLAS threads per chapter (default 1: the numbers of a one-thread serial run)")
    args = ap.parse_args(argv)
    if args.jobs < 1 or args.threads < 1:
        ap.error("--jobs and --threads must be at least 1")
    if not args.html_only:
        if not args.only and (why := missing_data(args.preset, args.data_dir)):
            raise SystemExit(f"[book] {why}")
        t0 = time.perf_counter()
        nbs = chapters(args.only)
        print(f"[book] {len(nbs)} chapters at preset={args.preset}, {args.jobs} at a time, "
              f"{args.threads} thread(s) each", flush=True)
        build(nbs, Path(args.out), args.preset, args.data_dir, args.jobs, args.threads)
        print(f"[book] chapters done in {time.perf_counter() - t0:.0f} s", flush=True)
    if not args.no_html:
        t0 = time.perf_counter()
        site = render_html()
        print(f"[book] HTML in {site} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
