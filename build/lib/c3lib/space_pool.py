"""Chapter 05's trainings as jobs of a process pool (:func:`c3lib.parallel.pool_map`): each space, each
candidate head of ``flickr8k-clip`` and each point of the Fig 5 temperature sweep is one job. A job seeds
itself and runs at the book's thread count, so it gives the same bits in a worker as in this process; the
config is set once per worker by :func:`_init_space_jobs`.
"""

from __future__ import annotations

from typing import Any

from c3lib.spaces import (SpaceConfig, choose_head, flickr_clip_data, flickr_clip_run, flickr_features, train_space,
                          world_clip_space)

_SPACE_JOBS: dict[str, Any] = {}


def _init_space_jobs(cfg: SpaceConfig) -> None:
    from c3lib import threads

    threads.configure()
    _SPACE_JOBS.clear()
    _SPACE_JOBS["cfg"] = cfg


def space_job(space: str, head: str = "", init_temperature: float | None = None) -> dict[str, Any]:
    """One training of the pool: ``space`` trained (or loaded) by :func:`~c3lib.spaces.train_space`, or, for
    ``flickr8k-clip``, its candidate ``head`` (and for both CLIP-recipe spaces a starting temperature other
    than the recipe's: the Fig 5 sweep). Each seeds itself, so it gives the same bits in any worker."""
    cfg = _SPACE_JOBS["cfg"]
    t0 = cfg.clip_init_temperature if init_temperature is None else init_temperature
    if space == "flickr8k-clip" and head:
        if "data" not in _SPACE_JOBS:  # read once per worker (the parent computed it into the cache)
            _SPACE_JOBS["data"] = flickr_clip_data(cfg)
        return flickr_clip_run(cfg, head, t0, _SPACE_JOBS["data"], progress=False)
    if space == "world-clip":
        return world_clip_space(cfg, progress=False, init_temperature=t0)
    return train_space(cfg, space, progress=False)


def run_space_jobs(cfg: SpaceConfig, jobs: list[tuple], workers: int = 0, progress: bool = True) -> list[dict]:
    """``[space_job(*job) for job in jobs]`` in a pool of ``workers`` processes (0:
    :func:`c3lib.parallel.default_workers`). The Flickr8k features are computed here first, so the workers
    read them from the cache instead of each computing them."""
    from c3lib import parallel

    spaces = {job[0] for job in jobs}
    if "flickr8k-clip" in spaces:
        flickr_clip_data(cfg)
    if "flickr8k-locked" in spaces:
        flickr_features(cfg, "train", cfg.flickr_train)
        flickr_features(cfg, "val", cfg.flickr_test)
    return parallel.pool_map(space_job, jobs, workers or parallel.default_workers(), _init_space_jobs, (cfg,),
                             desc="spaces", progress=progress)


def train_spaces(cfg: SpaceConfig, names: list[str] | tuple[str, ...], workers: int = 0,
                 progress: bool = True) -> dict[str, dict[str, Any]]:
    """:func:`~c3lib.spaces.train_space` of every space in ``names``, each space (and each candidate head of
    ``flickr8k-clip``) one job of :func:`run_space_jobs`; the same reports as one by one."""
    jobs = [(name, h) for name in names for h in (cfg.clip_heads if name == "flickr8k-clip" else ("",))]
    done = dict(zip(jobs, run_space_jobs(cfg, jobs, workers, progress)))
    return {name: (choose_head({h: done[(name, h)] for h in cfg.clip_heads}) if name == "flickr8k-clip"
                   else done[(name, "")]) for name in names}
