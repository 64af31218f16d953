"""Chapter 06, image-free captioning (paper section 5.1, Table 2, Fig 10).

A decoder trained on text embeddings alone captions images, with C1 (no change), C2-collapse (subtract each
modality's mean), C2-corrupt (noise in training) and C3 (both), on every captioning space of the book; three
decoder seeds each (the ablation spaces one seed of C1 and C3: C3's gain over C1 against their gap). The
tasks and decoders are :mod:`c3lib.tasks` and :mod:`c3lib.decoders`; the config is :mod:`.setting`, the
claims :mod:`.claims`, the page's sentences and the paper beside ours :mod:`.page`.

The gap's cost: the same decoder trained on the training images' embeddings with their captions
(``supervised``, the reference) against C1 on the same held-out images; cost = 1 - CIDEr(C1) / CIDEr(supervised)
per space, and C3's gain over C1 against each space's gap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from c3lib.chapter import ChapterResult
from c3lib.chapters.ch06_captioning.claims import claims, gap_cost, item_scores
from c3lib.chapters.ch06_captioning.page import comparison, cost_table, page, paper_gain, paper_values
from c3lib.chapters.ch06_captioning.setting import CHAPTER, CLAIM_METRIC, SUPERVISED, TEXT_ONLY, CaptioningConfig
from c3lib.decoders import run_grid, run_path, summarise
from c3lib.paper import TABLE2

__all__ = ["CHAPTER", "CLAIM_METRIC", "TEXT_ONLY", "CaptioningConfig", "claims", "evaluate_command_check",
           "gap_cost", "item_scores", "run"]


def evaluate_command_check(cfg: CaptioningConfig, grid: dict[str, Any]) -> list[dict[str, Any]]:
    """``python -m c3lib.evaluate`` run as a separate process on a fresh Flickr8k-format folder of each space's
    test images (the seed-0 C3 decoder of every space, and C1 of the first; ``-coco`` spaces share their
    Flickr8k space's images and encoder): its metrics beside the chapter's for the same decoder."""
    from c3lib.tasks import write_flickr_folder

    checks = []
    for name in [t for t in cfg.tasks if not t.endswith("-coco")]:
        task = grid["task_objects"][name]
        for variant in ("C1", "C3") if name == cfg.tasks[0] else ("C3",):
            with tempfile.TemporaryDirectory() as tmp:
                folder = write_flickr_folder(task, Path(tmp) / "fresh")
                run_dir = run_path(task.run_name, variant, cfg.seeds[0])
                cmd = [sys.executable, "-m", "c3lib.evaluate", "--run", str(run_dir), "--data-dir", str(folder),
                       "--split", "test", "--out", str(Path(tmp) / "m.json")] + ([] if cfg.meteor else ["--no-meteor"])
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode:
                    raise RuntimeError(proc.stderr[-2000:])
                ev = json.loads((Path(tmp) / "m.json").read_text())["metrics"]
            ours = next(r for r in grid["runs"]
                        if r["task"] == name and r["variant"] == variant and r["seed"] == cfg.seeds[0])
            checks.append({"space": name, "variant": variant, "command CIDEr": ev["CIDEr"],
                           "chapter CIDEr": ours["CIDEr"], "command BLEU-4": ev["BLEU-4"],
                           "chapter BLEU-4": ours["BLEU-4"],
                           "max |difference|": max(abs(ev[k] - ours[k]) for k in ev if ev[k] is not None)})
    return checks


def run(cfg: CaptioningConfig, progress: bool = True) -> ChapterResult:
    """Every (space, variant, seed) decoder trained (or loaded) and scored, in one pool of processes
    (:func:`c3lib.decoders.run_grid`; the ablation tasks with ``ablation_seeds`` and ``ablation_variants``, the
    others with ``seeds`` and ``variants``),
    the gap's cost, the evaluate command's check, the claims per space and the page's sentences.

    ``metrics``: ``runs`` (one row per decoder, with its per-item scores), ``summary`` (mean and std over
    seeds), ``gap_cost``, ``spaces``, ``examples``, ``evaluate_command_check``. ``artifacts``: the thumbnails,
    the task objects, the paper's Table 2 and gain point, and the gap-cost table (for the page's figures)."""
    ablation = {task: task in cfg.ablation_tasks for task in cfg.tasks}
    seeds = {task: cfg.ablation_seeds if ablation[task] else cfg.seeds for task in cfg.tasks}
    variants = {task: [v for v in cfg.variants if v in cfg.ablation_variants] if ablation[task] else cfg.variants
                for task in cfg.tasks}
    grid = run_grid(cfg.setup, cfg.context, cfg.tasks, variants, seeds, cfg.meteor, cfg.n_examples, progress,
                    variant_seeds={SUPERVISED: cfg.supervised_seeds})
    summary = summarise(grid["runs"])
    cost = gap_cost(summary, grid["tasks"])
    checks = evaluate_command_check(cfg, grid)
    found = claims(grid["runs"], cfg.tasks)
    prose, markdown = page(grid, summary, cost, found, checks)
    metrics = {"runs": grid["runs"], "summary": summary, "gap_cost": cost, "spaces": grid["tasks"],
               "examples": grid["examples"], "evaluate_command_check": checks}
    artifacts = {"thumbs": grid["thumbs"], "task_objects": grid["task_objects"], "paper_table2": TABLE2,
                 "paper_gain": paper_gain(), "cost_table": cost_table(cost)}
    return ChapterResult(CHAPTER, metrics, found, comparison(summary, cost), paper_values(), prose, markdown,
                         artifacts)
