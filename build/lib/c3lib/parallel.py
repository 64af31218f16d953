"""Run chapters in a pool of processes, each chapter once the chapters it needs are done.

``run_chapters(nums, needs, jobs, work)`` starts up to ``jobs`` worker processes (spawned, each in its own
process group with its papermill kernel), a chapter as soon as every chapter it needs (``needs``, from
:mod:`c3lib.chapter_deps`) has finished. Among ready chapters the one that most others wait on goes first,
then the longest by its last recorded wall time. ``work(num, report)`` runs one chapter in the worker and
``report(done, total)`` tells the parent its progress; the parent draws one bar per running chapter (text
lines when stdout is not a terminal). A failure stops the build: the other workers are ended and
:class:`ChapterFailed` carries the chapter's traceback and the path of its partial notebook.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Iterator

from c3lib.paths import results_dir


class ChapterFailed(RuntimeError):
    def __init__(self, num: str, trace: str, partial: str):
        super().__init__(f"chapter {num} failed; partial notebook: {partial}\n{trace}")
        self.num, self.trace, self.partial = num, trace, partial


def pool_map(fn: Callable, jobs: list[tuple], workers: int, initializer: Callable | None = None,
             initargs: tuple = (), desc: str = "jobs", progress: bool = False) -> list:
    """``[fn(*job) for job in jobs]``, in that order, run by ``workers`` spawned processes (in this process
    when ``workers <= 1``). Each worker first runs ``initializer(*initargs)`` (the parent too, when it runs the
    jobs itself), which is where a job's shared inputs and its thread count are set, so a job computes the
    same numbers wherever it runs. ``fn`` must be importable (a module-level function)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from c3lib.progress import progress as tqdm

    bar = tqdm(total=len(jobs), desc=desc, disable=not progress)
    if workers <= 1 or len(jobs) <= 1:
        if initializer is not None:
            initializer(*initargs)
        out = []
        for job in jobs:
            out.append(fn(*job))
            bar.update()
        bar.close()
        return out
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn"), initializer=initializer,
                             initargs=initargs) as pool:
        futures = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
        out: list = [None] * len(jobs)
        for fut in as_completed(futures):
            out[futures[fut]] = fut.result()  # a job's exception is raised here, with its traceback
            bar.update()
    bar.close()
    return out


def default_workers() -> int:
    """Worker processes for the jobs inside a chapter: ``$C3_WORKERS`` (the book sets it to ``--jobs``, so
    ``--jobs 1`` computes in one process at a time), else one per core this process may use."""
    value = os.environ.get("C3_WORKERS", "")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"C3_WORKERS={value!r} is not a whole number of at least 1: set it to the worker "
                             "processes a chapter may use (e.g. 2), or unset it for one per core")
        return int(value)
    return cores()


def cores() -> int:
    """The cores this process may use (its affinity where the OS has one)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def order_key(num: str, needs: dict[str, list[str]], wall: dict[str, float]) -> tuple:
    """Sort key of a ready chapter: most dependents first, then the longest last wall time, then number."""
    dependents = sum(num in deps for deps in needs.values())
    return (-dependents, -wall.get(num, 0.0), num)


def _worker(work: Callable, num: str, queue) -> None:
    os.setsid()  # the worker and its kernel form one process group: a failure elsewhere ends both
    try:
        work(num, lambda done, total: queue.put((num, "progress", (done, total))))
        queue.put((num, "done", None))
    except BaseException as err:  # noqa: BLE001 - every failure is reported to the parent
        partial = getattr(err, "partial_notebook", "")
        queue.put((num, "failed", ("".join(traceback.format_exception(err)), str(partial))))


class _Display:
    """One bar per running chapter on a terminal; otherwise a line when a chapter starts, moves or ends."""

    def __init__(self, stream=sys.stdout):
        self.tty, self.stream, self.bars, self.free = stream.isatty(), stream, {}, list(range(64))

    def start(self, num: str, name: str) -> None:
        if self.tty:
            from tqdm import tqdm

            slot = self.free.pop(0)
            self.bars[num] = (tqdm(total=1, desc=name, position=slot, unit="cell", leave=False,
                                   file=self.stream), slot)
        else:
            self.bars[num] = (name, 0)
            print(f"[book] {name} started", file=self.stream, flush=True)

    def progress(self, num: str, done: int, total: int) -> None:
        bar, slot = self.bars[num]
        if self.tty:
            bar.total, bar.n = total, done
            bar.refresh()
        elif done != slot:
            self.bars[num] = (bar, done)
            print(f"[book] {bar}: cell {done}/{total}", file=self.stream, flush=True)

    def end(self, num: str, name: str, secs: float, ok: bool) -> None:
        bar, slot = self.bars.pop(num)
        if self.tty:
            bar.close()
            self.free.insert(0, slot)
        print(f"[book] {name} {'done' if ok else 'FAILED'} in {secs:.0f} s", file=self.stream, flush=True)


def run_chapters(nums: list[str], needs: dict[str, list[str]], jobs: int, work: Callable,
                 names: dict[str, str] | None = None, wall: dict[str, float] | None = None) -> dict[str, float]:
    """Run every chapter of ``nums`` (needs outside ``nums`` count as met) -> wall seconds per chapter."""
    names, wall = names or {n: n for n in nums}, wall or {}
    deps = {n: [d for d in needs.get(n, []) if d in nums] for n in nums}
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    pending, running, finished, display = sorted(nums), {}, {}, _Display()
    try:
        while pending or running:
            ready = sorted((n for n in pending if all(d in finished for d in deps[n])),
                           key=lambda n: order_key(n, deps, wall))
            for num in ready[:max(0, jobs - len(running))]:
                proc = ctx.Process(target=_worker, args=(work, num, queue), name=f"chapter-{num}")
                proc.start()
                running[num] = (proc, time.perf_counter())
                pending.remove(num)
                display.start(num, names[num])
            try:
                num, kind, payload = queue.get(timeout=1.0)
            except Exception:  # queue.Empty: look for a worker that died without a word
                dead = [n for n, (p, _) in running.items() if not p.is_alive() and p.exitcode]
                if dead:
                    raise ChapterFailed(dead[0], f"worker exited with code {running[dead[0]][0].exitcode}", "")
                continue
            if kind == "progress":
                display.progress(num, *payload)
                continue
            proc, t0 = running.pop(num)
            proc.join()
            display.end(num, names[num], time.perf_counter() - t0, kind == "done")
            if kind == "failed":
                raise ChapterFailed(num, *payload)
            finished[num] = time.perf_counter() - t0
    finally:
        for proc, _ in running.values():  # a failure ends the chapters still running, kernels included
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            proc.join(timeout=10)
    return finished


KERNEL_CONFIG = """# written by c3lib.parallel for one book worker's kernel
c.HistoryManager.enabled = False
c.InteractiveShellApp.exec_lines = [
    "import c3lib.threads as _t; _t.configure(); del _t",
    "import numpy as _n, torch as _T; _n.random.seed({seed}); _T.manual_seed({seed}); del _n, _T",
]
"""


def worker_env(threads: int, folder: str, seed: int = 0, workers: int = 1) -> dict[str, str]:
    """The environment of a worker's kernel: ``threads`` torch and BLAS threads, ``workers`` processes for
    the chapter's own pool (``C3_WORKERS``, read by :func:`default_workers`), a fixed hash seed, and an
    IPython profile under ``folder`` whose start-up lines call :func:`c3lib.threads.configure` and seed
    numpy's and torch's global generators with ``seed`` (chapters seed their own as well; Python's
    ``random`` is drawn from by the kernel itself after start-up, so no chapter may use it)."""
    from c3lib.threads import kernel_env

    profile = os.path.join(folder, "profile_default")
    os.makedirs(profile, exist_ok=True)
    with open(os.path.join(profile, "ipython_kernel_config.py"), "w", encoding="utf-8") as fh:
        fh.write(KERNEL_CONFIG.format(seed=seed))
    return {**kernel_env(threads), "PYTHONHASHSEED": str(seed), "IPYTHONDIR": folder, "C3_WORKERS": str(workers)}


def cells_done(path: Path) -> tuple[int, int]:
    """(executed, total) code cells of a notebook papermill is writing (``(0, 0)`` while unreadable)."""
    try:
        cells = [c for c in json.loads(Path(path).read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    except (OSError, ValueError, KeyError):
        return 0, 0
    return sum(c.get("metadata", {}).get("papermill", {}).get("status") == "completed" for c in cells), len(cells)


@contextlib.contextmanager
def watch_cells(path: Path, report: Callable, every: float = 2.0) -> Iterator[None]:
    """While the body runs, ``report(*cells_done(path))`` every ``every`` seconds (papermill saves the
    output notebook after each cell)."""
    stop = threading.Event()

    def watch():
        while not stop.wait(every):
            done, total = cells_done(path)
            if total:
                report(done, total)
    threading.Thread(target=watch, daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def recorded_wall(folder: Path | None = None) -> dict[str, float]:
    """Chapter number -> its last recorded wall time (``wall_time_s`` of the results JSON), for ordering."""
    wall = {}
    for p in Path(folder or results_dir()).glob("[0-9][0-9]_*.json"):
        with contextlib.suppress(ValueError, OSError, TypeError, AttributeError):
            wall[p.name[:2]] = float(json.loads(p.read_text(encoding="utf-8")).get("wall_time_s") or 0)
    return wall
