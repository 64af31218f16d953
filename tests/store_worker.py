"""Processes for the run-store fault tests, and the race as a script.

    python tests/store_worker.py save FOLDER KEY WRITER GO_FILE   # wait for GO_FILE, then save one run
    python tests/store_worker.py poll FOLDER SECONDS OUT.json     # check the run over and over, count outcomes
    python tests/store_worker.py hold PATH                        # start an atomic write of PATH and hang
    python tests/store_worker.py race [WRITERS] [ROUNDS]          # the whole race; prints the counts

The race: in each round WRITERS processes save the run of one key into the same folder at once (each round
another key, so the first save of a round replaces the last round's run) while one reader polls it. A poll is
``complete`` (the manifest and every file agree), ``absent`` (no run yet, or between two runs) or
``incomplete`` (a manifest whose files are missing or do not match: a half-written run seen). A complete
poll reads every file as the store's readers do (``runstore.read_run``: the check and the read are one view);
all of them must come from one writer, else it counts as ``mixed``. Run with ``PYTHONPATH`` at another checkout
it measures that one (there: ``save_run`` without ``keep_same_key``, and a check followed by a read).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from c3lib import runstore

PARTS = 4


def save(folder: Path, key: str, writer: int, go: Path) -> None:
    def write(tmp: Path) -> None:
        for i in range(PARTS):
            (tmp / f"part{i}.bin").write_bytes(writer.to_bytes(4, "little") * 50_000)  # 200 kB each
        (tmp / "writer.txt").write_text(str(writer))

    while not go.exists():
        time.sleep(0.001)
    try:
        runstore.save_run(folder, key, write, keep_same_key=True)
    except TypeError:  # a checkout whose save_run has no keep_same_key
        runstore.save_run(folder, key, write)


def poll(folder: Path, seconds: float, out: Path) -> None:
    counts = {"polls": 0, "complete": 0, "absent": 0, "incomplete": 0, "mixed": 0}
    reasons: list[str] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (out.parent / "stop").exists():
        counts["polls"] += 1
        if hasattr(runstore, "read_run"):  # the store's own consistent check-and-read
            writers, why = runstore.read_run(folder, None, _writers)
        else:  # a checkout without it: its readers check, then read
            why = _check_any(folder)
            try:
                writers = _writers(folder) if why is None else None
            except OSError:
                writers = set()
        if why is None:
            counts["complete" if len(writers) == 1 else "mixed"] += 1
        elif why == "not trained yet":
            counts["absent"] += 1
        else:
            counts["incomplete"] += 1
            reasons.append(why)
        time.sleep(0.0005)  # leave the writers some of a small machine's cores
    out.write_text(json.dumps({**counts, "reasons": reasons[:5]}))


def _writers(folder: Path) -> set[bytes]:
    """The writer ids found in the run's files: one, unless the read mixed two runs."""
    found = {(folder / f"part{i}.bin").read_bytes()[:4] for i in range(PARTS)}
    return found | {int((folder / "writer.txt").read_text()).to_bytes(4, "little")}


def _check_any(folder: Path) -> str | None:
    try:
        key = json.loads((folder / runstore.MANIFEST).read_text())["key"]
    except (OSError, ValueError, KeyError):
        key = "?"
    why = runstore.check_run(folder, key)
    return None if why is None else why


def hold(path: Path) -> None:
    from c3lib.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_bytes(b"x" * 1000)
        print(tmp, flush=True)
        time.sleep(600)


def race(writers: int = 8, rounds: int = 5, root: Path | None = None) -> dict:
    root = Path(root or tempfile.mkdtemp(prefix="c3-race-"))
    folder = root / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    me = str(Path(__file__).resolve())
    reader = subprocess.Popen([sys.executable, me, "poll", str(folder), "600", str(root / "polls.json")], env=env)
    time.sleep(1.0)
    failures = 0
    for r in range(rounds):
        go = root / f"go{r}"
        procs = [subprocess.Popen([sys.executable, me, "save", str(folder), f"key{r}", str(w), str(go)], env=env,
                                  stderr=subprocess.PIPE, text=True) for w in range(writers)]
        time.sleep(1.5)  # every writer started and waiting
        go.touch()
        for p in procs:
            _, err = p.communicate(timeout=300)
            if p.returncode != 0:
                failures += 1
                print(err.strip().splitlines()[-1], file=sys.stderr)
    (root / "stop").touch()
    reader.wait(timeout=60)
    counts = json.loads((root / "polls.json").read_text())
    leftovers = sorted(p.name for p in root.iterdir() if p.name.startswith("."))
    return {"writers": writers, "rounds": rounds, "failed_saves": failures, **counts, "leftover_temporaries": leftovers,
            "final": runstore.check_run(folder, f"key{rounds - 1}")}


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "save":
        save(Path(args[0]), args[1], int(args[2]), Path(args[3]))
    elif cmd == "poll":
        poll(Path(args[0]), float(args[1]), Path(args[2]))
    elif cmd == "hold":
        hold(Path(args[0]))
    elif cmd == "race":
        print(json.dumps(race(*(int(a) for a in args[:2])), indent=1))
