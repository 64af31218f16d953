"""Image-free captioning on a contrastive space (paper section 5.1, Table 2, Appendix E; chapters 06, 07, 11).

A *task* is what the paper's protocol needs from one space:

* source (text) embeddings of captions, to train the decoder on (text reconstruction, no image seen),
  and held-out caption embeddings for early stopping;
* unpaired target (image) embeddings, whose mean the C3 transform subtracts at inference;
* test images' embeddings with their reference captions (and, on the world, the scene ground truth).

Tasks built here: ``world`` (the chapter 05 world image-text space), ``flickr8k`` (the locked-tower
Flickr8k space, decoder trained on Flickr8k caption text) and ``flickr8k-coco`` (the same space, decoder
trained on the 40k MS-COCO caption texts). Test images are always held out of the space's training.

:func:`train_or_load` trains one captioner (one variant, one seed) and saves it under
``runs/06_captioning/<task>/<variant>/seed<k>/``, reusing a saved one whose training settings match (a
rerun resumes where an interrupted one stopped). Flickr8k runs carry the image encoder spec the evaluation
command (:mod:`c3lib.evaluate`) needs; world runs carry the world image tower.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from c3lib.cache import cached, key_of
from c3lib.evaluate import register_encoder
from c3lib.metrics import caption_metrics
from c3lib.results import REPO_ROOT

METRICS = ("BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE")
TASKS = ("world", "flickr8k", "flickr8k-coco", "coco-clip")  # coco-clip: the paper's own setting (paper preset)
# Paper Table 2 / Table 7 (MS-COCO, CLIP ViT-B/32 + GPT-2), in METRICS order.
PAPER_TABLE2 = {
    "C1": (28.1, 2.4, 12.2, 25.4, 13.0, 6.8),
    "C2-collapse": (44.4, 6.1, 15.5, 33.6, 25.2, 9.2),
    "C2-corrupt": (69.0, 25.5, 24.3, 50.8, 87.6, 17.6),
    "C3": (71.0, 27.7, 25.0, 52.0, 93.3, 18.3),
}
PAPER_C3_STD = (0.1, 0.1, 0.0, 0.0, 0.3, 0.1)
PAPER_TABLE7 = {**PAPER_TABLE2, "span-only": (41.2, 6.2, 14.9, 33.6, 22.8, 8.3)}


@dataclasses.dataclass
class CaptionTask:
    """One space's data for image-free captioning; embeddings are raw (the transform normalises)."""

    name: str
    train_emb: np.ndarray  # (n, d) source (text) embeddings for decoder training
    train_caps: list[str]
    val_emb: np.ndarray  # (m, d) held-out text, for early stopping
    val_caps: list[str]
    image_emb: np.ndarray  # (k, d) unpaired target (image) embeddings: only their mean is used
    test_emb: np.ndarray  # (t, d) test image embeddings
    test_refs: list[list[str]]  # reference captions per test image
    test_ids: list[str]  # image file names or world scene ids
    attributes: list[dict] | None = None  # world scene ground truth per test image
    encoder: dict | None = None  # image encoder spec saved with each captioner (for c3lib.evaluate)
    encoder_files: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)
    test_paths: list[Path] | None = None  # test image files (Flickr8k)
    test_pixels: np.ndarray | None = None  # (t, H, W, 3) uint8 test images (world)
    info: dict = dataclasses.field(default_factory=dict)
    preset: str = "default"  # preset of the space; runs of other presets than default are kept apart

    @property
    def run_name(self) -> str:
        """Folder name under ``runs/06_captioning/``: the task, suffixed by the preset unless default."""
        return self.name if self.preset == "default" else f"{self.name}-{self.preset}"

    def describe(self) -> dict:
        return {"task": self.name, "dim": int(self.train_emb.shape[1]), "n_train_captions": len(self.train_caps),
                "n_val_captions": len(self.val_caps), "n_unpaired_images": len(self.image_emb),
                "n_test_images": len(self.test_emb), **self.info}


def _split_texts(emb: np.ndarray, caps: Sequence[str], n_train: int, n_val: int, seed: int):
    """Seeded disjoint training and validation captions; ``n_train <= 0`` takes every caption not in validation."""
    if n_train <= 0:
        n_train = len(caps) - n_val
    if n_train + n_val > len(caps) or n_train <= 0:
        raise ValueError(f"asked for {n_train} training + {n_val} validation captions but only {len(caps)} exist; "
                         f"lower n_train_captions")
    order = np.random.default_rng(seed).permutation(len(caps))
    tr, va = order[:n_train], order[n_train:n_train + n_val]
    return emb[tr], [caps[i] for i in tr], emb[va], [caps[i] for i in va]


def world_task(space_preset: str, n_train: int, n_val: int, n_test: int, seed: int = 0, data_dir: str = "",
               space_overrides: dict | None = None, progress: bool = True) -> CaptionTask:
    """The world image-text space of chapter 05: decoder text = train-split captions; test = test-split scenes."""
    from c3lib import connect
    from c3lib.config import make_config
    from c3lib.contrastive import embed

    space = connect.load_or_train_space("image-text", space_preset, seed, data_dir, space_overrides, progress)
    ccfg = make_config(connect.ConnectConfig, space_preset, space_overrides, seed=seed, data_dir=data_dir)
    model, vocab = space["model"], space["vocab"]
    train = connect.world_data(ccfg, "image-text", "train", ccfg.n_train, vocab=vocab)
    test = connect.world_data(ccfg, "image-text", "test", min(n_test, ccfg.n_test), vocab=vocab)
    ids = train["b"]  # [n, 5, L]
    txt = embed(model.tower_b, ids.reshape(-1, ids.shape[-1]))  # [n*5, d]
    caps = [c for five in train["captions"] for c in five]
    tr_e, tr_c, va_e, va_c = _split_texts(txt, caps, n_train, n_val, seed)
    tower = model.tower_a
    return CaptionTask(
        name="world", train_emb=tr_e, train_caps=tr_c, val_emb=va_e, val_caps=va_c,
        image_emb=embed(tower, train["a"]), test_emb=embed(tower, test["a"]),
        test_refs=[list(five) for five in test["captions"]],
        test_ids=[f"test-{i:05d}" for i in range(len(test["a"]))],
        attributes=[test["scenes"].attributes(i) for i in range(len(test["a"]))],
        test_pixels=(test["a"].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8),
        encoder={"name": "world-image-tower", "dim": int(txt.shape[1]), "image_size": int(ccfg.image_size),
                 "weights": "image_tower.safetensors"},
        encoder_files={"image_tower.safetensors": {k: v.detach().cpu().numpy()
                                                   for k, v in tower.state_dict().items()}},
        info={"space": "world image-text (chapter 05)", "space_recall": space["trained"]["recall"],
              "space_gap": space["trained"]["gap"]})


def coco_text_features(data_dir: str, limit: int, seed: int, progress: bool = True) -> tuple[np.ndarray, list[str]]:
    """MiniLM embeddings (cached) of ``limit`` seeded MS-COCO caption texts (all 40,504 when ``limit`` <= 0)."""
    from c3lib.data import load_coco_captions, resolve_data_dir
    from c3lib.encoders.frozen import minilm_features

    pool = load_coco_captions(resolve_data_dir(data_dir, required=True))
    idx = np.random.default_rng(seed).permutation(len(pool))[:limit if limit > 0 else len(pool)]
    caps = [pool[i] for i in sorted(idx)]
    emb = cached("coco-minilm", {"data": "coco-caption-text", "model": "all-MiniLM-L6-v2", "captions": caps,
                                 "max_len": 64}, lambda: minilm_features(caps, progress=progress))
    return emb, caps


def flickr_task(text_source: str, space_preset: str, n_train: int, n_val: int, n_test: int, seed: int = 0,
                data_dir: str = "", space_overrides: dict | None = None, progress: bool = True) -> CaptionTask:
    """The Flickr8k locked-tower space; decoder text from Flickr8k train captions or MS-COCO caption texts."""
    import torch

    from c3lib import connect
    from c3lib.config import make_config
    from c3lib.contrastive import embed

    if text_source not in ("flickr8k", "coco"):
        raise ValueError(f"text_source must be 'flickr8k' or 'coco', got {text_source!r}")
    space = connect.load_or_train_space("flickr8k-locked", space_preset, seed, data_dir, space_overrides, progress)
    ccfg = make_config(connect.ConnectConfig, space_preset, space_overrides, seed=seed, data_dir=data_dir)
    model = space["model"]
    tr = connect.flickr_features(ccfg, "train", ccfg.flickr_train)
    te = connect.flickr_features(ccfg, "val", ccfg.flickr_test)
    if text_source == "flickr8k":
        feats, caps = tr["b"].reshape(-1, tr["b"].shape[-1]), [c for five in tr["captions"] for c in five]
        name = "flickr8k"
    else:
        feats, caps = coco_text_features(data_dir, n_train + n_val, seed, progress)
        name = "flickr8k-coco"
    txt = embed(model.tower_b, torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)))
    tr_e, tr_c, va_e, va_c = _split_texts(txt, caps, n_train, n_val, seed)
    k = min(n_test, len(te["a"]))
    head = model.tower_a.head
    return CaptionTask(
        name=name, train_emb=tr_e, train_caps=tr_c, val_emb=va_e, val_caps=va_c,
        image_emb=embed(model.tower_a, torch.from_numpy(tr["a"])),
        test_emb=embed(model.tower_a, torch.from_numpy(te["a"][:k])),
        test_refs=[list(five) for five in te["captions"][:k]], test_ids=[p.name for p in te["paths"][:k]],
        test_paths=list(te["paths"][:k]),
        encoder={"name": "efficientnet-projection", "head": "encoder_head.safetensors"},
        encoder_files={"encoder_head.safetensors": {"weight": head.weight.detach().numpy().astype(np.float64),
                                                    "bias": head.bias.detach().numpy().astype(np.float64)}},
        info={"space": "Flickr8k locked towers (EfficientNet-Lite0 + MiniLM, chapter 05)",
              "text_source": "Flickr8k train captions" if text_source == "flickr8k" else "MS-COCO caption texts",
              "test_images": "Flickr8k val (never seen by the space or the decoder)",
              "space_recall": space["trained"]["recall"], "space_gap": space["trained"]["gap"]})


def coco_clip_task(n_train: int, n_val: int, n_test: int, seed: int = 0, data_dir: str = "",
                   n_unpaired: int = 5000, progress: bool = True) -> CaptionTask:
    """The paper's setting: CLIP ViT-B/32 ``openai`` (a checked download), decoder text = MS-COCO Karpathy
    train + restval captions, unpaired image mean from ``n_unpaired`` seeded train images, test = Karpathy
    test images. Needs ``<data_dir>/coco-karpathy/`` (:func:`c3lib.data.load_coco_karpathy`); runs on a GPU
    when one is present. Embeddings are cached, keyed by the exact files and captions."""
    import hashlib

    from c3lib.data import KARPATHY_TRAIN, load_coco_karpathy, resolve_data_dir
    from c3lib.encoders.openclip import encode_images, encode_texts, lazy_openclip

    root = resolve_data_dir(data_dir, required=True)
    train = load_coco_karpathy(root, KARPATHY_TRAIN)  # checked before any download
    test = load_coco_karpathy(root, ("test",), limit=n_test)
    caps = [c for five in train.captions for c in five]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(len(caps))[:(n_train + n_val) if n_train > 0 else len(caps)])
    caps = [caps[i] for i in pick]
    unpaired = [train.image_paths[i] for i in np.sort(rng.permutation(len(train.image_paths))[:n_unpaired])]
    model = lazy_openclip("ViT-B-32", "openai")

    def sig(items) -> str:
        return hashlib.sha256("\n".join(map(str, items)).encode()).hexdigest()

    base = {"model": "ViT-B-32", "weights": "openai", "data": "coco-karpathy"}
    txt = cached("coco-clip-text", {**base, "captions": sig(caps)},
                 lambda: encode_texts(model(), caps, 256, progress=progress))
    img = cached("coco-clip-images", {**base, "images": sig(p.relative_to(root) for p in unpaired)},
                 lambda: encode_images(model(), unpaired, 256, progress=progress))
    tst = cached("coco-clip-images", {**base, "images": sig(p.relative_to(root) for p in test.image_paths)},
                 lambda: encode_images(model(), test.image_paths, 256, progress=progress))
    tr_e, tr_c, va_e, va_c = _split_texts(txt, caps, n_train, n_val, seed)
    return CaptionTask(
        name="coco-clip", train_emb=tr_e, train_caps=tr_c, val_emb=va_e, val_caps=va_c, image_emb=img,
        test_emb=tst, test_refs=[list(c) for c in test.captions], test_ids=[p.name for p in test.image_paths],
        test_paths=list(test.image_paths), encoder={"name": "openclip", "model": "ViT-B-32", "weights": "openai"},
        info={"space": "CLIP ViT-B/32 openai (the paper's)", "text_source": "MS-COCO Karpathy train+restval",
              "test_images": "MS-COCO Karpathy test"})


@register_encoder("openclip")
def _openclip_encoder(paths: Sequence[Path], run_dir: Path, spec: dict) -> np.ndarray:
    from c3lib.encoders.openclip import encode_images, lazy_openclip

    return encode_images(lazy_openclip(spec["model"], spec["weights"])(), list(paths), 256,
                         progress=False).astype(np.float64)


def build_task(name: str, space_preset: str, n_train: int, n_val: int, n_test: int, seed: int = 0,
               data_dir: str = "", progress: bool = True) -> CaptionTask:
    """One of :data:`TASKS` on the chapter 05 space of preset ``space_preset`` (trained when missing)."""
    if name == "world":
        task = world_task(space_preset, n_train, n_val, n_test, seed, data_dir, progress=progress)
    elif name == "coco-clip":
        task = coco_clip_task(n_train, n_val, n_test, seed, data_dir, progress=progress)
    elif name in ("flickr8k", "flickr8k-coco"):
        task = flickr_task("flickr8k" if name == "flickr8k" else "coco", space_preset, n_train, n_val, n_test,
                           seed, data_dir, progress=progress)
    else:
        raise ValueError(f"unknown captioning task {name!r}; valid: {', '.join(TASKS)}")
    task.preset = space_preset
    return task


def write_flickr_folder(task: CaptionTask, folder: str | Path, split: str = "test") -> Path:
    """Write ``task``'s test images as a Flickr8k-format folder (``images/``, ``captions.tsv``) for the
    evaluation command: world images as PNG files, Flickr8k photos as symbolic links to the originals."""
    from PIL import Image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    names = []
    for i, ident in enumerate(task.test_ids):
        if task.test_pixels is not None:
            name = f"{ident}.png"
            Image.fromarray(task.test_pixels[i]).save(folder / "images" / name)
        elif task.test_paths is not None:
            name = task.test_paths[i].name
            link = folder / "images" / name
            if not link.exists():
                link.symlink_to(Path(task.test_paths[i]).resolve())
        else:
            raise ValueError(f"task {task.name!r} keeps neither test pixels nor test image paths")
        names.append(name)
    lines = ["image\tsplit\tcaption"] + [f"{n}\t{split}\t{c}" for n, refs in zip(names, task.test_refs)
                                          for c in refs]
    (folder / "captions.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# ---- world image tower for the evaluation command -------------------------------------------------------
@register_encoder("world-image-tower")
def world_image_encoder(paths: Sequence[Path], run_dir: Path, spec: dict) -> np.ndarray:
    """World images (PNG files) through the saved world image tower -> (n, dim)."""
    import torch
    from PIL import Image
    from safetensors.torch import load_file

    from c3lib.contrastive import embed
    from c3lib.encoders.towers import ImageTower

    tower = ImageTower(spec["dim"])
    tower.load_state_dict(load_file(str(Path(run_dir) / spec["weights"])))
    size = spec["image_size"]
    arr = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size)), dtype=np.float32) for p in paths])
    return embed(tower, torch.from_numpy(arr).permute(0, 3, 1, 2) / 255).astype(np.float64)


# ---- train, save, load, score ---------------------------------------------------------------------------
def run_path(task: str, variant: str, seed: int, root: Path | None = None) -> Path:
    """``runs/06_captioning/<task>/<variant>/seed<k>/`` (what :mod:`c3lib.evaluate` loads); ``task`` is a
    :attr:`CaptionTask.run_name` (``world``, or ``world-smoke`` for the smoke preset)."""
    return (root or REPO_ROOT / "runs" / "06_captioning") / task / variant / f"seed{seed}"


def train_key(task: CaptionTask, variant: str, tcfg, noise_std: float, extra: dict | None = None) -> str:
    """Hash of everything a trained captioner depends on: a changed setting never reuses a stale run."""
    emb_sig = [float(np.round(task.train_emb[:8].sum(), 6)), task.train_emb.shape, len(task.train_caps),
               task.train_caps[:3], float(np.round(task.image_emb.mean(), 8))]
    return key_of({"task": task.name, "variant": variant, "train": dataclasses.asdict(tcfg),
                   "noise_std": noise_std, "data": emb_sig, **(extra or {})})


def train_or_load(task: CaptionTask, variant: str, seed: int, tcfg, noise_std: float, root: Path | None = None,
                  log: list | None = None, save: bool = True):
    """The captioner of ``variant`` (``C1`` ... ``span-only``) trained on ``task``'s text, seed ``seed``.

    Loaded from its run folder when one was saved with the same settings; trained (and saved) otherwise.
    """
    from safetensors.numpy import save_file

    from c3lib.c3 import C3Transform
    from c3lib.captioner import Captioner
    from c3lib.atomic import atomic_path
    from c3lib.train_captioner import fit_captioner

    tcfg = dataclasses.replace(tcfg, seed=seed)
    key = train_key(task, variant, tcfg, noise_std)
    folder = run_path(task.run_name, variant, seed, root)
    if save and (folder / "config.json").exists():
        try:
            cap = Captioner.load(folder)
            if cap.extra.get("train_key") == key:
                return cap, json.loads((folder / "train_log.json").read_text())
        except (OSError, ValueError, KeyError, RuntimeError):
            pass  # unreadable or stale: retrained below
    log = [] if log is None else log
    transform = C3Transform.variant(variant, noise_std=noise_std)
    cap = fit_captioner(task.train_emb, task.train_caps, transform, tcfg, task.val_emb, task.val_caps,
                        target_emb=task.image_emb, log=log)
    cap.extra.update({"encoder": task.encoder, "train_key": key, "task": task.name, "variant": variant,
                      "seed": seed, "noise_std": noise_std})
    if save:
        from c3lib.atomic import write_json
        for fname, tensors in task.encoder_files.items():
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(folder / fname) as tmp:
                save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp))
        write_json(folder / "train_log.json", log)
        cap.save(folder)  # config.json (with the key) last: a run is complete only when it exists
    return cap, log


def score(cap, task: CaptionTask, meteor: bool = True) -> tuple[dict, list[str]]:
    """Caption the test images (image-free zero-shot) -> (metrics, captions); world adds attribute P/R."""
    preds = cap.caption_raw(task.test_emb, modality="target")
    m = caption_metrics(preds, task.test_refs, meteor=meteor)
    if task.attributes is not None:
        from c3lib.world import score_caption
        s = [score_caption(p, a) for p, a in zip(preds, task.attributes)]
        m["attr_precision"] = 100.0 * float(np.mean([x["precision"] for x in s]))
        m["attr_recall"] = 100.0 * float(np.mean([x["recall"] for x in s]))
    return m, preds


def mean_std(rows: list[dict], keys: Sequence[str]) -> dict[str, tuple[float | None, float | None]]:
    """Per metric: mean and sample std (ddof=0 as the paper's 'std with 3 runs') over rows; None stays None."""
    out = {}
    for k in keys:
        vals = [r[k] for r in rows if r.get(k) is not None]
        out[k] = (float(np.mean(vals)), float(np.std(vals))) if vals else (None, None)
    return out


# ---- chapters 06 and 11: the ablation table ------------------------------------------------------------
import math  # noqa: E402

from c3lib.config import ChapterConfig  # noqa: E402


@dataclasses.dataclass(frozen=True)
class AblationConfig(ChapterConfig):
    tasks: tuple[str, ...] = TASKS[:3]  # world | flickr8k | flickr8k-coco | coco-clip (paper: needs COCO images)
    variants: tuple[str, ...] = ("C1", "C2-collapse", "C2-corrupt", "C3")
    seeds: tuple[int, ...] = (0, 1, 2)  # decoder seeds (the space is chapter 05's, seed `seed`)
    space_preset: str = ""  # chapter 05 preset of the spaces; "" = this preset
    n_train_captions: int = 3000  # decoder training captions (text only), Flickr8k / COCO; 0: all of them
    world_train_captions: int = 2000  # the same on the world (short template captions: fewer suffice)
    n_val_captions: int = 500  # held-out captions for early stopping
    n_test_images: int = 500  # test images (world test split; Flickr8k val)
    noise_std: float = math.sqrt(0.016)  # corrupt: N(0, 0.016 I), the official code's variance
    lm: str = "small"  # small (random-init GPT-2 config) | gpt2 (124M; paper, downloads)
    n_layer: int = 2
    n_embd: int = 128
    lr: float = 3e-3
    batch_size: int = 64
    num_epochs: int = 5  # max epochs (early stopping on validation text loss)
    min_word_freq: int = 5  # words seen fewer times in the training captions decode as <unk>
    warmup_steps: int = 50
    meteor: bool = True  # METEOR runs Java (~2 s a call)
    n_examples: int = 6  # qualitative examples per variant

    PRESETS = {
        "smoke": {"tasks": ("world",), "seeds": (0,), "world_train_captions": 400, "n_val_captions": 64,
                  "n_test_images": 32, "n_layer": 1, "n_embd": 64, "num_epochs": 2, "meteor": False},
        "default": {},
        "paper": {"tasks": ("coco-clip", "world", "flickr8k", "flickr8k-coco"), "n_train_captions": 0,
                  "world_train_captions": 20000, "n_val_captions": 2000, "n_test_images": 5000, "lm": "gpt2",
                  "lr": 2e-5, "batch_size": 40, "num_epochs": 10, "warmup_steps": 5000},
    }

    def train_captions(self, task: str) -> int:
        return self.world_train_captions if task == "world" else self.n_train_captions

    def train_config(self):
        from c3lib.train_captioner import TrainConfig
        return TrainConfig(lm=self.lm, n_layer=self.n_layer, n_embd=self.n_embd, lr=self.lr,
                           batch_size=self.batch_size, num_epochs=self.num_epochs, warmup_steps=self.warmup_steps,
                           min_word_freq=self.min_word_freq)


def modality_gap(task: CaptionTask) -> float:
    """Distance between the means of the normalised text (training) and image (test) embeddings."""
    def unit(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)
    return float(np.linalg.norm(unit(task.train_emb).mean(0) - unit(task.test_emb).mean(0)))


def run_ablation(cfg: AblationConfig, progress: bool = True, root: Path | None = None) -> dict[str, Any]:
    """Every (task, variant, seed): train (or load) a captioner on text, caption the test images, score.

    Returns JSON-able ``runs`` (one dict per decoder), ``tasks`` (descriptions), ``examples`` (seed-0
    captions of the first test images), and, not for saving, ``thumbs`` (those images) and
    ``task_objects`` (the :class:`CaptionTask` of each space, for further experiments).
    """
    from tqdm.auto import tqdm

    tcfg = cfg.train_config()
    space_preset = cfg.space_preset or cfg.preset
    runs, examples, tasks, thumbs, built = [], {}, {}, {}, {}
    bar = tqdm(total=len(cfg.tasks) * len(cfg.variants) * len(cfg.seeds), desc="captioners", disable=not progress)
    for name in cfg.tasks:
        task = build_task(name, space_preset, cfg.train_captions(name), cfg.n_val_captions, cfg.n_test_images,
                          cfg.seed, cfg.data_dir, progress=False)
        built[name] = task
        tasks[name] = {**task.describe(), "modality_gap": modality_gap(task)}
        thumbs[name] = (list(task.test_pixels[:cfg.n_examples]) if task.test_pixels is not None
                        else list(task.test_paths[:cfg.n_examples]))
        examples[name] = {"ids": task.test_ids[:cfg.n_examples], "references": task.test_refs[:cfg.n_examples],
                          "attributes": (task.attributes or [None] * cfg.n_examples)[:cfg.n_examples]}
        for variant in cfg.variants:
            for seed in cfg.seeds:
                bar.set_postfix_str(f"{name} {variant} seed {seed}")
                cap, log = train_or_load(task, variant, seed, tcfg, cfg.noise_std, root)
                m, preds = score(cap, task, cfg.meteor)
                runs.append({"task": name, "variant": variant, "seed": seed, **m, "epochs": len(log),
                             "best_val_loss": min(r["val_loss"] for r in log),
                             "run_dir": str(run_path(task.run_name, variant, seed, root).relative_to(
                                 root.parent.parent if root else REPO_ROOT))})
                if seed == cfg.seeds[0]:
                    examples[name][variant] = preds[:cfg.n_examples]
                bar.update()
    bar.close()
    return {"runs": runs, "tasks": tasks, "examples": examples, "thumbs": thumbs, "task_objects": built}


def summarise(runs: list[dict], keys: Sequence[str] = METRICS + ("attr_precision", "attr_recall")) -> list[dict]:
    """Mean and std over seeds per (task, variant), in run order."""
    out, seen = [], []
    for r in runs:
        if (r["task"], r["variant"]) not in seen:
            seen.append((r["task"], r["variant"]))
    for task, variant in seen:
        group = [r for r in runs if r["task"] == task and r["variant"] == variant]
        ms = mean_std(group, keys)
        out.append({"task": task, "variant": variant, "n_seeds": len(group),
                    **{k: ms[k][0] for k in keys if ms[k][0] is not None or k == "SPICE"},
                    **{f"{k} std": ms[k][1] for k in keys if ms[k][1] is not None}})
    return out


def claims(summary: list[dict], metric: str = "CIDEr") -> dict[str, dict[str, bool | None]]:
    """Per task, the paper's claims on ``metric``'s mean: C3 best, collapse helps, corrupt helps."""
    out = {}
    for task in dict.fromkeys(r["task"] for r in summary):
        m = {r["variant"]: r.get(metric) for r in summary if r["task"] == task}
        c = {}
        if "C3" in m:
            c["C3 best"] = all(m["C3"] >= v for k, v in m.items() if k != "C3")
        if "C1" in m and "C2-collapse" in m:
            c["collapse helps (C2-collapse > C1)"] = m["C2-collapse"] > m["C1"]
        if "C1" in m and "C2-corrupt" in m:
            c["corrupt helps (C2-corrupt > C1)"] = m["C2-corrupt"] > m["C1"]
        if "span-only" in m and "C2-corrupt" in m:
            c["span-only worse than full corrupt"] = m["span-only"] < m["C2-corrupt"]
        out[task] = c
    return out


def summary_table(summary: list[dict], variants: Sequence[str], paper: dict[str, Sequence[float]],
                  extra: Sequence[str] = ()):
    """A DataFrame of ours (mean ± std) per (space, variant), followed by the paper's rows."""
    import pandas as pd

    cols = list(METRICS) + list(extra)

    def fmt(r, k):
        v, s = r.get(k), r.get(f"{k} std")
        if v is None:
            return "unavailable"
        return f"{v:.1f} ± {s:.1f}" if s is not None and r["n_seeds"] > 1 else f"{v:.1f}"

    ours = [{"space": r["task"], "variant": r["variant"], **{k: fmt(r, k) for k in cols if k in r}} for r in summary]
    theirs = [{"space": "paper (MS-COCO, CLIP + GPT-2)", "variant": v, **{m: f"{x:.1f}" for m, x in zip(METRICS, vals)}}
              for v, vals in paper.items() if v in variants]
    return pd.DataFrame(ours + theirs).fillna("")


COLOURS = {"C1": "tab:gray", "C2-collapse": "tab:blue", "C2-corrupt": "tab:orange", "C3": "tab:green",
           "span-only": "tab:purple"}


def plot_metric(summary: list[dict], tasks: Sequence[str], variants: Sequence[str],
                paper: dict[str, Sequence[float]], metric: str = "CIDEr"):
    """Bars of ``metric`` per variant for each space (error bars: std over seeds) and the paper's."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(3.3 * (len(tasks) + 1), 3.4))
    for ax, task in zip(axes, tasks):
        rs = [r for r in summary if r["task"] == task]
        ax.bar([r["variant"] for r in rs], [r[metric] for r in rs], yerr=[r.get(f"{metric} std", 0) for r in rs],
               color=[COLOURS[r["variant"]] for r in rs], capsize=3)
        ax.set(title=f"ours: {task}", ylabel=metric)
        ax.tick_params(axis="x", rotation=45)
    pv = [v for v in variants if v in paper]
    axes[-1].bar(pv, [paper[v][METRICS.index(metric)] for v in pv], color=[COLOURS[v] for v in pv], alpha=0.6)
    axes[-1].set(title="paper: MS-COCO", ylabel=metric)
    axes[-1].tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig
