"""Text-only decoders of the captioning tasks (paper section 5.1, Appendix E), kept in the run store.

:class:`CaptionSetup` is what every captioning chapter (06, 07, 09, 11) shares: the sizes of the tasks, the
noise of Corrupt and the decoder's training settings, per preset. The same setup finds the same decoders.

:func:`train_or_load` trains one captioner (one variant, one seed) on a task's text and keeps it under
``runs/06_captioning/<space>/<variant>/seed<k>/`` (:mod:`c3lib.runstore`), keyed by the full contents of
the task's embeddings and captions and every setting; a rerun loads it, a changed input retrains it.
Each run carries the image encoder spec the evaluation command (:mod:`c3lib.evaluate`) needs.
:func:`run_grid` trains (or loads) and scores every (space, variant, seed) of a chapter.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from c3lib.checks import AT_LEAST_1
from c3lib.config import PRESET_NAMES, RunContext
from c3lib import resume, runstore
from c3lib.cache import content_digest, key_of
from c3lib.metrics import TABLE_METRICS, caption_scores
from c3lib.paths import REPO_ROOT
from c3lib.spaces import space
from c3lib.tasks import TASK_SPACES, CrossModalTask, build_task
from c3lib.trainer import TrainConfig, convergence

CHAPTER = "06_captioning"  # the decoders are chapter 06's; chapters 07, 09 and 11 load them from its store
CODE_VERSION = 3  # bump when training code changes what a saved decoder would be
GRID_KEYS = TABLE_METRICS + ("attr_precision", "attr_recall")


@dataclasses.dataclass(frozen=True)
class CaptionSetup:
    """The captioning tasks and their decoder, as every captioning chapter sets them up."""

    space_preset: str = ""  # chapter 05 preset of the spaces; "" = the chapter's preset
    n_train_captions: int = 3000  # decoder training captions (text only), Flickr8k / COCO; 0: all of them
    world_train_captions: int = 2000  # the same on the world (short template captions: fewer suffice)
    n_val_captions: int = 500  # held-out captions for early stopping
    n_test_images: int = 500  # test images (world test split; Flickr8k val)
    noise_std: float = math.sqrt(0.016)  # corrupt: N(0, 0.016 I), the official code's variance
    decoder: TrainConfig = dataclasses.field(default_factory=TrainConfig)  # built from TrainConfig.PRESETS
    # Flickr8k CLIP-recipe tasks: decoder captions (0 = all 30,025 after validation) and an epoch ceiling (the
    # validation loss ends training before it)
    clip_train_captions: int = 3000
    clip_max_epochs: int = 40

    RANGES: ClassVar[dict] = dict.fromkeys(("world_train_captions", "n_val_captions", "n_test_images"), AT_LEAST_1)
    CHOICES: ClassVar[dict] = {"space_preset": ("", *PRESET_NAMES)}
    PRESETS: ClassVar[dict] = {
        "smoke": {"world_train_captions": 400, "n_val_captions": 64, "n_test_images": 32, "clip_train_captions": 400,
                  "clip_max_epochs": 2},
        "default": {},
        "paper": {"n_train_captions": 0, "world_train_captions": 20000, "n_val_captions": 2000,
                  "n_test_images": 5000, "clip_train_captions": 0, "clip_max_epochs": 12},
    }

    def train_captions(self, task: str) -> int:
        if task in TASK_SPACES and TASK_SPACES[task][1] == "world":
            return self.world_train_captions
        return self.clip_train_captions if task.startswith("flickr8k-clip") else self.n_train_captions

    def decoder_for(self, task: str) -> TrainConfig:
        """The decoder's settings on ``task``: on a space with CLIP's geometry (registry role ``clip``) its epoch
        ceiling is ``clip_max_epochs``; everywhere the validation loss ends training."""
        if task in TASK_SPACES and space(TASK_SPACES[task][0]).role == "clip":
            return dataclasses.replace(self.decoder, num_epochs=self.clip_max_epochs)
        return self.decoder

    def task(self, name: str, ctx: RunContext, progress: bool = False) -> CrossModalTask:
        """The captioning task ``name`` on the chapter 05 space of this setup (trained when missing)."""
        return build_task(name, ctx.with_preset(self.space_preset), self.train_captions(name), self.n_val_captions,
                          self.n_test_images, progress=progress)


def run_path(task: str, variant: str, seed: int, root: Path | None = None) -> Path:
    """``runs/06_captioning/<task>/<variant>/seed<k>/`` (what :mod:`c3lib.evaluate` loads); ``task`` is a
    :attr:`CrossModalTask.run_name` (``world``, or ``world-smoke`` for the smoke preset)."""
    return runstore.run_path(CHAPTER, task, variant, seed, root)


def train_key(task: CrossModalTask, variant: str, tcfg: TrainConfig, noise_std: float) -> str:
    """Hash of everything a trained captioner depends on: every byte of the task's training, validation and
    unpaired embeddings and captions, every setting, and the training code's version."""
    data = content_digest([task.train_emb, task.train_targets, task.val_emb, task.val_targets, task.unpaired_emb])
    return key_of({"task": task.name, "variant": variant, "train": dataclasses.asdict(tcfg),
                   "noise_std": noise_std, "data": data, "code": CODE_VERSION})


def _write_encoder(task: CrossModalTask, folder: Path) -> None:
    """The weights the task's image encoder spec names, beside the decoder (for :mod:`c3lib.evaluate`)."""
    from safetensors.numpy import save_file

    from c3lib.atomic import atomic_path

    for fname, tensors in task.encoder_files.items():
        with atomic_path(folder / fname) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp))


def train_or_load(task: CrossModalTask, variant: str, seed: int, tcfg: TrainConfig, noise_std: float,
                  root: Path | None = None, save: bool = True):
    """``(captioner, training log)`` of ``variant`` (``C1`` ... ``span-only``) trained on ``task``'s text with
    seed ``seed``: loaded from the run store when saved with the same key, trained (and saved) otherwise."""
    from c3lib.atomic import write_json
    from c3lib.captioner import Captioner
    from c3lib.trainer import fit_captioner
    from c3lib.transform import C3Transform

    tcfg = dataclasses.replace(tcfg, seed=seed)
    key = train_key(task, variant, tcfg, noise_std)
    folder = run_path(task.run_name, variant, seed, root)
    partial = folder.with_name(f".{folder.name}.resume") if save else None  # per-epoch checkpoints, see c3lib.resume

    def fit():
        log: list = []
        cap = fit_captioner(task.train_emb, task.train_targets, C3Transform.variant(variant, noise_std=noise_std),
                            tcfg, task.val_emb, task.val_targets, target_emb=task.unpaired_emb, log=log,
                            resume_dir=partial, resume_key=key)
        cap.extra.update({"encoder": task.encoder, "train_key": key, "task": task.name, "variant": variant,
                          "seed": seed, "noise_std": noise_std})
        return cap, log

    def write(model, folder: Path) -> None:
        cap, log = model
        _write_encoder(task, folder)
        write_json(folder / "train_log.json", log)
        cap.save(folder)

    def read(folder: Path):
        return Captioner.load(folder), json.loads((folder / "train_log.json").read_text())

    (cap, log), _ = runstore.train_or_load(folder, key, fit, write, read, save=save)
    resume.clear(partial)
    return cap, log


SUPERVISED = "supervised"  # the ceiling: the same decoder trained on image embeddings with their captions


def supervised_pairs(task: CrossModalTask, n_val_captions: int, seed: int, n_train_captions: int = 0):
    """``(train_emb, train_caps, val_emb, val_caps)``: the task's paired training images (``task.pairs()``),
    one row per (image, caption), split by image (seeded) so that about ``n_val_captions`` captions of
    whole images are held out for early stopping; training takes every other image, or whole images up to
    ``n_train_captions`` captions. Test images are never among them."""
    img, caps = task.pairs()
    per = max(1.0, float(np.mean([len(c) for c in caps])))
    k = min(len(img) - 1, max(1, round(n_val_captions / per)))
    order = np.random.default_rng([seed, 13]).permutation(len(img))
    m = len(img) - k if n_train_captions <= 0 else min(len(img) - k, max(1, round(n_train_captions / per)))

    def flat(idx):
        idx = np.sort(idx)
        return img[[i for i in idx for _ in caps[i]]], [c for i in idx for c in caps[i]]
    return (*flat(order[k:k + m]), *flat(order[:k]))


def train_or_load_supervised(task: CrossModalTask, seed: int, tcfg: TrainConfig, n_val_captions: int,
                             root: Path | None = None, save: bool = True):
    """The supervised ceiling of ``task`` (variant ``supervised``): the same decoder and stopping rule, trained
    on every training image's embedding (C1: normalised only) with its captions (validation: about
    ``n_val_captions`` captions of held-out training images); saved beside the text-only variants."""
    from c3lib.atomic import write_json
    from c3lib.captioner import Captioner
    from c3lib.trainer import fit_captioner
    from c3lib.transform import C3Transform

    tcfg = dataclasses.replace(tcfg, seed=seed)
    tr_e, tr_c, va_e, va_c = supervised_pairs(task, n_val_captions, seed)
    key = key_of({"task": task.name, "variant": SUPERVISED, "train": dataclasses.asdict(tcfg),
                  "data": content_digest([tr_e, tr_c, va_e, va_c]), "code": CODE_VERSION})

    def fit():
        log: list = []
        cap = fit_captioner(tr_e, tr_c, C3Transform.variant("C1"), tcfg, va_e, va_c, target_emb=tr_e, log=log)
        cap.extra.update({"encoder": task.encoder, "train_key": key, "task": task.name, "variant": SUPERVISED,
                          "seed": seed})
        return cap, log

    def write(model, folder: Path) -> None:
        _write_encoder(task, folder)
        write_json(folder / "train_log.json", model[1])
        model[0].save(folder)

    def read(folder: Path):
        return Captioner.load(folder), json.loads((folder / "train_log.json").read_text())

    (cap, log), _ = runstore.train_or_load(run_path(task.run_name, SUPERVISED, seed, root), key, fit, write, read,
                                           save=save)
    return cap, log


def score(cap, task: CrossModalTask, meteor: bool = True) -> tuple[dict, list[str]]:
    """Caption the test images (image-free zero-shot) -> (metrics, captions); world adds attribute P/R.
    ``metrics["items"]`` holds the per-item scores (:data:`c3lib.metrics.ITEM_METRICS`) the verdicts pair."""
    preds = cap.caption_raw(task.test_emb, modality="target")
    m, items = caption_scores(preds, task.test_refs, meteor=meteor)
    m["items"] = {k: [round(float(x), 4) for x in v] for k, v in items.items()}
    if task.attributes is not None:
        from c3lib.data.world import score_caption
        s = [score_caption(p, a) for p, a in zip(preds, task.attributes)]
        m["attr_precision"] = 100.0 * float(np.mean([x["precision"] for x in s]))
        m["attr_recall"] = 100.0 * float(np.mean([x["recall"] for x in s]))
    return m, preds


def modality_gap(task: CrossModalTask) -> float:
    """Distance between the means of the normalised text (training) and image (test) embeddings."""
    def unit(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)
    return float(np.linalg.norm(unit(task.train_emb).mean(0) - unit(task.test_emb).mean(0)))


def _relative(folder: Path) -> str:
    try:
        return str(folder.relative_to(REPO_ROOT))
    except ValueError:
        return str(folder)


# --- run_grid's pool: what its jobs need is set once per worker by _init_grid ---
_GRID: dict[str, Any] = {}


def _init_grid(setup: CaptionSetup, tasks: dict[str, CrossModalTask], meteor: bool, root: Path | None = None) -> None:
    from c3lib import threads

    threads.configure()
    _GRID.clear()
    _GRID.update({"setup": setup, "tasks": tasks, "meteor": meteor, "root": root})


def grid_job(name: str, variant: str, seed: int) -> tuple[dict[str, Any], list[str]]:
    """One decoder of :func:`run_grid`: train (or load) ``variant`` with ``seed`` on task ``name`` and caption
    its test images -> (the run's row, the captions). Runs in a pool worker or in this process, same bits."""
    setup, task, root = _GRID["setup"], _GRID["tasks"][name], _GRID["root"]
    tcfg = setup.decoder_for(name)
    if variant == SUPERVISED:
        cap, log = train_or_load_supervised(task, seed, tcfg, setup.n_val_captions, root)
    else:
        cap, log = train_or_load(task, variant, seed, tcfg, setup.noise_std, root)
    m, preds = score(cap, task, _GRID["meteor"])
    return {"task": name, "variant": variant, "seed": seed, **m, **convergence(log, tcfg.num_epochs),
            "run_dir": _relative(run_path(task.run_name, variant, seed, root))}, preds


def run_grid(setup: CaptionSetup, ctx: RunContext, tasks: Sequence[str],
             variants: Sequence[str] | Mapping[str, Sequence[str]],
             seeds: Sequence[int] | Mapping[str, Sequence[int]], meteor: bool = True,
             n_examples: int = 6, progress: bool = True, workers: int = 0,
             variant_seeds: Mapping[str, Sequence[int]] | None = None) -> dict[str, Any]:
    """Every (task, variant, seed): train (or load) a captioner on text, caption the test images, score.

    ``variants`` and ``seeds`` are each one list for every task or a list per task; ``variant_seeds`` gives a
    variant its own seeds on every task (e.g. one seed of the costly ``supervised`` reference). The decoders
    are independent jobs of a process pool (:func:`c3lib.parallel.pool_map`; ``workers`` processes, 0: :func:`c3lib.parallel.default_workers`),
    each seeded by its own seed, so the numbers do not depend on ``workers``. Returns JSON-able ``runs`` (one
    dict per decoder, in task, variant, seed order), ``tasks`` (descriptions), ``examples`` (first-seed
    captions of the first test images), and, not for saving, ``thumbs`` (those images) and ``task_objects``
    (the :class:`CrossModalTask` of each space, for further experiments).
    """
    from c3lib import parallel

    seeds_of = {name: list(seeds[name] if isinstance(seeds, Mapping) else seeds) for name in tasks}
    variants_of = {name: list(variants[name] if isinstance(variants, Mapping) else variants) for name in tasks}
    examples, described, thumbs, built = {}, {}, {}, {}
    for name in tasks:
        task = setup.task(name, ctx)
        built[name] = task
        described[name] = {**task.describe(), "modality_gap": modality_gap(task)}
        thumbs[name] = (list(task.test_pixels[:n_examples]) if task.test_pixels is not None
                        else list(task.test_paths[:n_examples]))
        examples[name] = {"ids": task.test_ids[:n_examples], "references": task.test_refs[:n_examples],
                          "attributes": (task.attributes or [None] * n_examples)[:n_examples]}
    jobs = [(name, variant, s) for name in tasks for variant in variants_of[name]
            for s in (variant_seeds or {}).get(variant, seeds_of[name])]
    done = parallel.pool_map(grid_job, jobs, workers or parallel.default_workers(), _init_grid,
                             (setup, built, meteor), desc="captioners", progress=progress)
    runs = []
    for (name, variant, s), (row, preds) in zip(jobs, done):
        runs.append(row)
        if s == seeds_of[name][0]:
            examples[name][variant] = preds[:n_examples]
    return {"runs": runs, "tasks": described, "examples": examples, "thumbs": thumbs, "task_objects": built}


def summarise(runs: list[dict]) -> list[dict]:
    """Mean and std over seeds per (space, variant) of :func:`run_grid`'s runs (SPICE kept, as unavailable)."""
    from c3lib.report import summarise as by_group

    return by_group(runs, ("task", "variant"), GRID_KEYS, keep_missing=("SPICE",))
