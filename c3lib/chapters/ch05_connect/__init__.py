"""Chapter 05, Connect (paper section 2.3): train the contrastive spaces every later chapter stands on.

The spaces themselves (towers, data, training, the saved runs) live in :mod:`c3lib.spaces` and train as pool
jobs (:mod:`c3lib.space_pool`); this chapter trains (or loads) each of them for its preset, measures
retrieval and the gap before and after training, puts the paper's Table 1 of every space beside pretrained
CLIP's (``features_clip.npy``, through the same :func:`c3lib.geometry.gap_statistics` as chapter 04), sweeps
the starting temperature of each CLIP space's chosen head (the paper's Fig 5 / Lemma 2 in a real space),
follows the gap epoch by epoch, and times the world's generators (:mod:`.measures`). The claims:
:mod:`.verdicts`; the page: :mod:`.page`; the config and the project's targets: :mod:`.setting`.
"""

from __future__ import annotations

from c3lib import space_pool
from c3lib.chapter import ChapterResult
from c3lib.chapters.ch05_connect import page, verdicts
from c3lib.chapters.ch05_connect.measures import (chance_loss, clip_row, gap_by_epoch, space_row, sweep_plan, table1,
                                                  targets_met, temperature_sweep, world_throughput)
from c3lib.chapters.ch05_connect.setting import NAME, PAPER, TARGETS, ConnectConfig
from c3lib.data.loaders import resolve_data_dir
from c3lib.spaces import CLIP_SPACES, space

__all__ = ["CLIP_SPACES", "NAME", "PAPER", "TARGETS", "ConnectConfig", "chance_loss", "clip_row", "gap_by_epoch",
           "run", "space_row", "table1", "targets_met", "temperature_sweep", "world_throughput"]


def run(cfg: ConnectConfig, progress: bool = True) -> ChapterResult:
    """The chapter: every space trained or loaded (the Flickr8k ones only with a data folder), Table 1 per
    space and for pretrained CLIP, the targets, the Fig 5 sweep, the towers at initialisation, the claims.

    ``artifacts``: ``reports`` (each space's report from :func:`c3lib.space_pool.train_spaces`, with its model
    and test pairs), ``table`` (the Table 1 rows, CLIP's included), ``sweep`` (the sweep's points),
    ``gaps`` (the gap by epoch)."""
    speed = world_throughput(cfg.space)
    root = resolve_data_dir(cfg.data_dir, required=cfg.preset != "smoke")
    to_train = [s for s in cfg.spaces if space(s).data != "flickr8k" or root is not None]
    reports, sweep_runs = space_pool.train_spaces(cfg.space, to_train, progress=progress,  # $C3_WORKERS processes
                                                  sweep=sweep_plan(cfg, to_train))
    table = {name: space_row(rep, cfg.group_size, cfg.seed) for name, rep in reports.items()}
    if root is not None:
        table["CLIP (pretrained)"] = clip_row(root, cfg.group_size, cfg.seed)
    met = {s: targets_met(table[s]) for s in CLIP_SPACES if s in table}
    sweep, sweep_pairs = temperature_sweep(cfg, sweep_runs)
    gaps = gap_by_epoch(reports)
    found = verdicts.claims(cfg, reports, table, sweep, sweep_pairs)
    return ChapterResult(NAME, page.metrics(reports, table, sweep, met, speed, gaps), found,
                         page.comparison(reports, table), PAPER, page.prose(reports),
                         page.markdown(cfg, reports, table, met, sweep, found, gaps),
                         {"reports": reports, "table": table, "sweep": sweep, "gaps": gaps})
