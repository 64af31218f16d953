"""Chapter 05's work as jobs of a process pool (:func:`c3lib.parallel.pool_map`): the frozen towers' features
of each split, each space, each candidate head of a ``clip`` space and each point of the Fig 5 temperature
sweep is one job. A job seeds itself and runs at the book's thread count, so it gives the same bits in a
worker as in this process; the config is set once per worker by :func:`_init_space_jobs`.

:func:`train_spaces` runs them in waves, each needing only what the waves before it made: the features and
the spaces that read none, then the heads on the features, then the spaces bound to a chosen head.
"""

from __future__ import annotations

from typing import Any

from c3lib.spaces import SpaceConfig, choose_head, clip_run, flickr_features, space, train_space, world_features

_SPACE_JOBS: dict[str, Any] = {}


def _init_space_jobs(cfg: SpaceConfig) -> None:
    from c3lib import threads

    threads.configure()
    _SPACE_JOBS.clear()
    _SPACE_JOBS["cfg"] = cfg


def pool_job(kind: str, name: str, head: str = "", init_temperature: float | None = None) -> dict[str, Any]:
    """One job: ``("features", "world:<split>:<image|text>" | "flickr8k:<split>:<limit>")`` computes (caches)
    frozen features; ``("space", name)`` trains (or loads) a space by its recipe; ``("head", name, head, t0)``
    one candidate head of a ``clip`` space (``t0``: a starting temperature other than the recipe's, for the
    sweep)."""
    cfg = _SPACE_JOBS["cfg"]
    if kind == "features":
        data, split, what = name.split(":")
        if data == "world":
            n = {"train": cfg.n_train, "val": cfg.n_select, "test": cfg.n_test}[split]
            world_features(cfg, split, n, (what,))
        else:
            flickr_features(cfg, split, int(what), progress=False)
        return {}
    if kind == "head":
        return clip_run(cfg, name, head, init_temperature, progress=False)
    return train_space(cfg, name, progress=False)


def run_space_jobs(cfg: SpaceConfig, jobs: list[tuple], workers: int = 0, progress: bool = True,
                   desc: str = "spaces") -> list[dict]:
    """``[pool_job(*job) for job in jobs]`` in a pool of ``workers`` processes (0:
    :func:`c3lib.parallel.default_workers`)."""
    from c3lib import parallel

    return parallel.pool_map(pool_job, jobs, workers or parallel.default_workers(), _init_space_jobs, (cfg,),
                             desc=desc, progress=progress)


def feature_jobs(cfg: SpaceConfig, names: list[str] | tuple[str, ...]) -> list[tuple]:
    """The feature jobs the ``clip``, ``bound`` and ``flickr8k-locked`` spaces of ``names`` read."""
    recs = [space(n) for n in names]
    jobs = []
    if any(r.data == "world" and r.recipe in ("clip", "bound") for r in recs):
        jobs += [("features", f"world:{s}:{p}") for s in ("train", "val", "test") for p in ("image", "text")]
    if any(r.data == "flickr8k" for r in recs):  # every Flickr8k space reads prefixes of the same two
        jobs += [("features", f"flickr8k:train:{cfg.clip_flickr_train}"), ("features", f"flickr8k:val:{cfg.flickr_test}")]
    return jobs


def train_spaces(cfg: SpaceConfig, names: list[str] | tuple[str, ...], workers: int = 0, progress: bool = True,
                 sweep: dict[str, tuple[float, ...]] | None = None) -> tuple[dict[str, dict], dict[tuple, dict]]:
    """Every space of ``names`` trained (or loaded) in three waves of pool jobs: the features and the spaces
    that read none; the candidate heads and the locked heads; the bound spaces (on the chosen image head),
    beside ``sweep`` (space -> starting temperatures: its chosen head trained from each, the Fig 5 sweep).
    Each wave starts its longest jobs first, so its two ends meet. Returns ``(reports, sweep_reports)``: the
    same reports as :func:`~c3lib.spaces.train_space` one by one, and each sweep run by ``(space, t0)``."""
    bound_to = [space(n).bound_to for n in names if space(n).bound_to]
    recs = {n: space(n) for n in dict.fromkeys(bound_to + list(names))}  # what a bound space needs goes first
    free = sorted((("space", n) for n, r in recs.items() if r.recipe in ("fixed", "clip-scratch") and r.data == "world"),
                  key=lambda job: recs[job[1]].recipe != "clip-scratch")  # the from-scratch CLIP towers take longest
    features = feature_jobs(cfg, list(recs))
    first = [j for j in features if j[1].startswith(("flickr8k:train", "world:train:image"))]
    heads = [("head", n, h) for n, r in recs.items() if r.recipe == "clip" for h in cfg.clip_heads]
    heads += [("space", n) for n, r in recs.items() if r.recipe == "fixed" and r.data != "world"]
    bound = sorted((("space", n) for n, r in recs.items() if r.recipe == "bound"), key=lambda job: "video" not in job[1])
    done: dict[tuple, dict] = {}

    def run(wave: list[tuple], i: int) -> None:
        if wave:
            done.update(zip(wave, run_space_jobs(cfg, wave, workers, progress, desc=f"spaces, wave {i}/3")))

    run(first + free + [j for j in features if j not in first], 1)
    run(heads, 2)
    chosen = {n: choose_head({h: done[("head", n, h)] for h in cfg.clip_heads}) for n, r in recs.items()
              if r.recipe == "clip"}
    swept = [("head", n, chosen[n]["head"], t0) for n, temps in (sweep or {}).items() if n in chosen for t0 in temps]
    run(bound + swept, 3)
    return ({n: chosen[n] if n in chosen else done[("space", n)] for n in names},
            {(job[1], job[3]): done[job] for job in swept})
