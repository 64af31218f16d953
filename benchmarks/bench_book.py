"""The book's wall time at ``--jobs 1`` and ``--jobs 2``, one after the other on the same machine.

    python benchmarks/bench_book.py                    # smoke preset (minutes)
    python benchmarks/bench_book.py --preset default   # the cold default book (over an hour at --jobs 1 on 2 cores)

Each build is cold: fresh run store, embedding cache and output folder (temporary), so chapter 05 trains
its spaces and chapter 06 its decoders in both. Both builds use one thread per chapter, so they compute the
same numbers; the script checks that with ``results.differences`` and prints the two times and their ratio.
At ``default`` it also compares the ``--jobs 1`` metrics with the committed ``book/results``.
The HTML rendering is left out (it does not depend on ``--jobs``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from c3lib import results  # noqa: E402 - the repository on the path first


def build(preset: str, jobs: int, scratch: Path) -> tuple[float, Path]:
    out = scratch / f"jobs{jobs}"
    env = {**os.environ, "C3_RUNS": str(out / "runs"), "C3_CACHE": str(out / "cache"),
           "C3_RESULTS": str(out / "results"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "c3lib.book", "--preset", preset, "--no-html", "--jobs", str(jobs),
                    "--out", str(out / "book")], check=True, cwd=REPO, env=env)
    return time.perf_counter() - t0, out / "results"


def metric_differences(a: dict, b: dict) -> list[str]:
    """Where two results records' metrics differ, leaving out run_dir: each build has its own run store."""
    return [d for d in results.differences(a.get("metrics"), b.get("metrics")) if ".run_dir:" not in d]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="smoke", choices=("smoke", "default"))
    ap.add_argument("--json", help="also write the measurements to this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="c3-bench-book-") as tmp:
        times, folders = {}, {}
        for jobs in (1, 2):
            times[jobs], folders[jobs] = build(args.preset, jobs, Path(tmp))
            print(f"[bench] --jobs {jobs}: {times[jobs]:.0f} s", flush=True)
        one, two = results.load_all(folders[1]), results.load_all(folders[2])
        committed = results.load_all(REPO / "book" / "results") if args.preset == "default" else {}
        diffs = {name: metric_differences(one[name], two.get(name, {})) for name in one}
        stale = {name: metric_differences(committed[name], one[name]) for name in one if name in committed}
    report = {"preset": args.preset, "cores": len(os.sched_getaffinity(0)),
              "load_average_at_end": os.getloadavg(), "seconds_jobs1": round(times[1], 1),
              "seconds_jobs2": round(times[2], 1), "ratio_jobs1_over_jobs2": round(times[1] / times[2], 2),
              "metric_differences": {n: d[:5] for n, d in sorted(diffs.items()) if d},
              "differences_from_committed": {n: d[:5] for n, d in sorted(stale.items()) if d}}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
