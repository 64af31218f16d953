"""Cross-modal tasks: what a chapter needs from one contrastive space to learn from one modality alone.

A :class:`CrossModalTask` holds, for one space:

* the *source* modality's training embeddings with their targets (captions for captioning, images for
  text-to-image generation), and held-out ones for early stopping;
* unpaired embeddings of the *other* (target) modality, whose mean the C3 transform subtracts at inference,
  with their own targets where the data pairs them (chapter 07 fine-tunes on those pairs);
* test items of the other modality with their references (and, on the world, the scene ground truth).

A task is named after its space (:data:`TASK_SPACES`: the chapter 05 space and where the decoder's text
comes from). The spaces with CLIP's geometry: ``world-clip`` (world renders and captions), ``flickr8k-clip``
(Flickr8k text) and ``flickr8k-clip-coco`` (COCO text on the same space); the ablations ``world-scratch``,
``world-clip-scratch``, ``flickr8k`` and ``flickr8k-coco`` (the locked-tower space); at ``paper``,
``coco-clip`` (CLIP ViT-B/32 ``openai`` over MS-COCO Karpathy). Test images are always held out of the
space's training.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from c3lib import spaces
from c3lib.spaces import space
from c3lib.cache import embeddings
from c3lib.config import RunContext
from c3lib.contrastive import embed
from c3lib.data.loaders import KARPATHY_TRAIN, load_coco_captions, load_coco_karpathy, resolve_data_dir

# task -> (the chapter 05 space, the decoder's text); coco-clip, the paper's own setting, is built apart
TASK_SPACES = {"world-clip": ("world-clip", "world"), "flickr8k-clip": ("flickr8k-clip", "flickr8k"),
               "flickr8k-clip-coco": ("flickr8k-clip", "coco"), "world-scratch": ("world-scratch", "world"),
               "world-clip-scratch": ("world-clip-scratch", "world"), "flickr8k": ("flickr8k-locked", "flickr8k"),
               "flickr8k-coco": ("flickr8k-locked", "coco")}
TASKS = (*TASK_SPACES, "coco-clip")
_NOUNS = {"text": "captions", "image": "images", "audio": "clips", "video": "videos"}


@dataclasses.dataclass
class CrossModalTask:
    """One space's data for learning from the source modality alone; embeddings are raw (the transform
    normalises). Captioning: source text, target image."""

    name: str  # the space's task name, the run store's folder (with :attr:`run_name`)
    train_emb: np.ndarray  # (n, d) source embeddings the model trains on
    train_targets: list  # what the model learns to produce from them (captions, or images)
    val_emb: np.ndarray  # (m, d) held-out source embeddings, for early stopping
    val_targets: list
    unpaired_emb: np.ndarray  # (k, d) target-modality embeddings, unpaired: only their mean is used
    test_emb: np.ndarray  # (t, d) test embeddings of the target modality
    test_refs: list[list[str]]  # references per test item (reference captions)
    test_ids: list[str]  # image file names or world scene ids
    source: str = "text"  # the modality trained on
    target: str = "image"  # the modality seen only at inference
    pair_targets: list | None = None  # the targets of the unpaired items, where the data pairs them
    pair_source_emb: np.ndarray | None = None  # (k, d) source embedding of each unpaired item's first target
    attributes: list[dict] | None = None  # world scene ground truth per test item
    encoder: dict | None = None  # target encoder spec saved with each model (for c3lib.evaluate)
    encoder_files: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)
    test_paths: list[Path] | None = None  # test image files (Flickr8k)
    test_pixels: np.ndarray | None = None  # (t, H, W, 3) uint8 test images (world)
    info: dict = dataclasses.field(default_factory=dict)
    preset: str = "default"  # preset of the space; runs of other presets than default are kept apart

    @property
    def run_name(self) -> str:
        """Folder name in the run store: the task, suffixed by the preset unless default."""
        return self.name if self.preset == "default" else f"{self.name}-{self.preset}"

    def pairs(self) -> tuple[np.ndarray, list]:
        """``(unpaired_emb, pair_targets)``: target-modality items with their own targets."""
        if self.pair_targets is None:
            raise ValueError(f"task {self.name!r} has no paired data (pair_targets is None)")
        return self.unpaired_emb, self.pair_targets

    def describe(self) -> dict:
        src, tgt = _NOUNS.get(self.source, self.source), _NOUNS.get(self.target, self.target)
        return {"task": self.name, "dim": int(self.train_emb.shape[1]), f"n_train_{src}": len(self.train_targets),
                f"n_val_{src}": len(self.val_targets), f"n_unpaired_{tgt}": len(self.unpaired_emb),
                f"n_test_{tgt}": len(self.test_emb), **self.info}


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


def _world_side(sp: dict, split: str, n: int) -> dict:
    """A world space's embeddings of ``n`` scenes of ``split``: ``image`` ``(n, d)``, ``text`` ``(n, 5, d)``, with
    the ``captions``, ``scenes`` and rendered ``pixels`` ``(n, H, W, 3)`` uint8. Frozen-tower spaces embed the
    cached features through their heads; towers trained from random init embed renders and token ids."""
    import torch

    ccfg, model = sp["config"], sp["model"]
    if space(sp["space"]).recipe == "clip":
        f = spaces.world_features(ccfg, split, n)
        img = embed(model.tower_a, torch.from_numpy(f["image"]))
        txt = embed(model.tower_b, torch.from_numpy(f["text"].reshape(n * 5, -1)))
        pixels = spaces.modality_input(ccfg, "image", f["scenes"], split)
        scenes, caps = f["scenes"], f["captions"]
    else:
        d = spaces.world_data(ccfg, ("image", "text"), split, n, vocab=sp["vocab"])
        img, pixels, scenes, caps = embed(model.tower_a, d["a"]), d["a"], d["scenes"], d["captions"]
        txt = embed(model.tower_b, d["b"].reshape(-1, d["b"].shape[-1]))
    return {"image": img, "text": txt.reshape(n, 5, -1), "captions": caps, "scenes": scenes,
            "pixels": (pixels.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)}


def world_task(ctx: RunContext, n_train: int, n_val: int, n_test: int, space_overrides: dict | None = None,
               progress: bool = True, name: str = "world-clip") -> CrossModalTask:
    """A world space of chapter 05 (``world-clip``, ``world-scratch``, ``world-clip-scratch``): decoder text =
    train-split captions; unpaired images = train-split scenes; test = test-split scenes."""
    sp = spaces.load_or_train_space(TASK_SPACES[name][0], ctx, space_overrides, progress)
    ccfg = sp["config"]
    train, test = _world_side(sp, "train", ccfg.n_train), _world_side(sp, "test", min(n_test, ccfg.n_test))
    caps = [c for five in train["captions"] for c in five]
    txt = train["text"].reshape(len(caps), -1)
    tr_e, tr_c, va_e, va_c = _split_texts(txt, caps, n_train, n_val, ctx.seed)
    if space(sp["space"]).recipe == "clip":
        encoder, files = _head_encoder(sp)
        encoder_files = {"encoder_head.safetensors": files}
    else:
        tower = sp["model"].tower_a
        encoder = {"name": "world-image-tower", "dim": int(txt.shape[1]), "image_size": int(ccfg.image_size),
                   "weights": "image_tower.safetensors", "clip_head": bool(sp["space"] == "world-clip-scratch"
                                                                           and ccfg.scratch_clip_head)}
        encoder_files = {"image_tower.safetensors": {k: v.detach().cpu().numpy() for k, v in tower.state_dict().items()}}
    n = len(test["image"])
    return CrossModalTask(
        name=name, train_emb=tr_e, train_targets=tr_c, val_emb=va_e, val_targets=va_c,
        unpaired_emb=train["image"], pair_targets=[list(five) for five in train["captions"]],
        pair_source_emb=train["text"][:, 0], test_emb=test["image"],
        test_refs=[list(five) for five in test["captions"]], test_ids=[f"test-{i:05d}" for i in range(n)],
        attributes=[test["scenes"].attributes(i) for i in range(n)], test_pixels=test["pixels"],
        encoder=encoder, encoder_files=encoder_files,
        info={"space": f"world {sp['space']} (chapter 05: {space(sp['space']).towers})",
              "space_recall": sp["trained"]["recall"], "space_gap": sp["trained"]["gap"]})


def coco_text_features(data_dir: str, limit: int, seed: int, progress: bool = True) -> tuple[np.ndarray, list[str]]:
    """MiniLM embeddings (cached) of ``limit`` seeded MS-COCO caption texts (all 40,504 when ``limit`` <= 0)."""
    from c3lib.encoders.frozen import minilm_features

    pool = load_coco_captions(resolve_data_dir(data_dir, required=True))
    idx = np.random.default_rng(seed).permutation(len(pool))[:limit if limit > 0 else len(pool)]
    caps = [pool[i] for i in sorted(idx)]
    emb = embeddings("coco-minilm", "all-MiniLM-L6-v2", caps, lambda: minilm_features(caps, progress=progress),
                     max_len=64)
    return emb, caps


def _head_encoder(space: dict) -> tuple[dict, dict]:
    """The image head's spec and weights for :mod:`c3lib.evaluate` (linear for the locked space, else MLP)."""
    head = space["model"].tower_a
    if hasattr(head, "head"):  # Projection: one Linear
        return ({"name": "efficientnet-projection", "head": "encoder_head.safetensors"},
                {"weight": head.head.weight.detach().numpy().astype(np.float64),
                 "bias": head.head.bias.detach().numpy().astype(np.float64)})
    depth, ccfg = int(space["head"].split("-")[0]), space["config"]
    spec = {"name": "efficientnet-head", "head": "encoder_head.safetensors", "depth": depth,
            "norm": space["head"].endswith("-ln"), "width": ccfg.clip_width, "dim": ccfg.clip_dim}
    return spec, {k: v.detach().numpy() for k, v in head.state_dict().items()}


def flickr_task(text_source: str, ctx: RunContext, n_train: int, n_val: int, n_test: int,
                space_overrides: dict | None = None, progress: bool = True,
                space_name: str = "flickr8k-locked") -> CrossModalTask:
    """A Flickr8k space (``flickr8k-locked`` or ``flickr8k-clip``); decoder text from Flickr8k train captions
    or MS-COCO caption texts."""
    import torch

    if text_source not in ("flickr8k", "coco"):
        raise ValueError(f"text_source must be 'flickr8k' or 'coco', got {text_source!r}")
    space = spaces.load_or_train_space(space_name, ctx, space_overrides, progress)
    ccfg, model = space["config"], space["model"]
    tr = spaces.flickr_features(ccfg, "train", ccfg.flickr_train if space_name == "flickr8k-locked"
                                else ccfg.clip_flickr_train)
    te = spaces.flickr_features(ccfg, "val", ccfg.flickr_test)
    if text_source == "flickr8k":
        feats, caps = tr["b"].reshape(-1, tr["b"].shape[-1]), [c for five in tr["captions"] for c in five]
        name = "flickr8k" if space_name == "flickr8k-locked" else space_name
    else:
        feats, caps = coco_text_features(ctx.data_dir, n_train + n_val if n_train > 0 else 0, ctx.seed, progress)
        name = "flickr8k-coco" if space_name == "flickr8k-locked" else f"{space_name}-coco"
    txt = embed(model.tower_b, torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)))
    tr_e, tr_c, va_e, va_c = _split_texts(txt, caps, n_train, n_val, ctx.seed)
    k = min(n_test, len(te["a"]))
    paired = txt[::5] if text_source == "flickr8k" else embed(  # each training photo's first caption
        model.tower_b, torch.from_numpy(np.ascontiguousarray(tr["b"][:, 0], dtype=np.float32)))
    enc_spec, enc_weights = _head_encoder(space)
    return CrossModalTask(
        name=name, train_emb=tr_e, train_targets=tr_c, val_emb=va_e, val_targets=va_c,
        unpaired_emb=embed(model.tower_a, torch.from_numpy(tr["a"])),
        pair_targets=[list(five) for five in tr["captions"]], pair_source_emb=paired,
        test_emb=embed(model.tower_a, torch.from_numpy(te["a"][:k])),
        test_refs=[list(five) for five in te["captions"][:k]], test_ids=[p.name for p in te["paths"][:k]],
        test_paths=list(te["paths"][:k]),
        encoder=enc_spec, encoder_files={"encoder_head.safetensors": enc_weights},
        info={"space": f"Flickr8k {space_name} (EfficientNet-Lite0 + MiniLM, chapter 05)",
              "text_source": "Flickr8k train captions" if text_source == "flickr8k" else "MS-COCO caption texts",
              "test_images": "Flickr8k val (never seen by the space or the decoder)",
              "space_recall": space["trained"]["recall"], "space_gap": space["trained"]["gap"]})


def coco_clip_task(n_train: int, n_val: int, n_test: int, seed: int = 0, data_dir: str = "",
                   n_unpaired: int = 5000, progress: bool = True) -> CrossModalTask:
    """The paper's setting: CLIP ViT-B/32 ``openai`` (a checked download), decoder text = MS-COCO Karpathy
    train + restval captions, unpaired image mean from ``n_unpaired`` seeded train images, test = Karpathy
    test images. Needs ``<data_dir>/coco-karpathy/`` (:func:`c3lib.data.loaders.load_coco_karpathy`); runs on a GPU
    when one is present. Embeddings are cached, keyed by the exact files and captions."""
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
    txt = embeddings("coco-clip-text", "ViT-B-32/openai", caps,
                     lambda: encode_texts(model(), caps, 256, progress=progress))
    img = embeddings("coco-clip-images", "ViT-B-32/openai", unpaired,
                     lambda: encode_images(model(), unpaired, 256, progress=progress))
    tst = embeddings("coco-clip-images", "ViT-B-32/openai", test.image_paths,
                     lambda: encode_images(model(), test.image_paths, 256, progress=progress))
    tr_e, tr_c, va_e, va_c = _split_texts(txt, caps, n_train, n_val, seed)
    return CrossModalTask(
        name="coco-clip", train_emb=tr_e, train_targets=tr_c, val_emb=va_e, val_targets=va_c, unpaired_emb=img,
        test_emb=tst, test_refs=[list(c) for c in test.captions], test_ids=[p.name for p in test.image_paths],
        test_paths=list(test.image_paths), encoder={"name": "openclip", "model": "ViT-B-32", "weights": "openai"},
        info={"space": "CLIP ViT-B/32 openai (the paper's)", "text_source": "MS-COCO Karpathy train+restval",
              "test_images": "MS-COCO Karpathy test"})


def selection_targets(name: str, ctx: RunContext, n: int, progress: bool = False) -> tuple[np.ndarray, list[list[str]]]:
    """``(image embeddings (m, d), reference captions)`` of up to ``n`` held-out images for choosing a setting
    (chapter 11's sigma): never the test images, never seen by a decoder. World: validation-split scenes;
    Flickr8k: the val photos after the test ones (the test set is the first ``flickr_test``)."""
    import torch

    if name not in TASK_SPACES:
        raise ValueError(f"no held-out selection images for task {name!r}; valid: {', '.join(TASK_SPACES)}")
    sp = spaces.load_or_train_space(TASK_SPACES[name][0], ctx, progress=progress)
    if space(sp["space"]).data == "world":
        val = _world_side(sp, "val", n)
        return val["image"], [list(five) for five in val["captions"]]
    k = sp["config"].flickr_test
    va = spaces.flickr_features(sp["config"], "val", k + n)
    if len(va["a"]) <= k:
        raise ValueError(f"Flickr8k val has {len(va['a'])} photos, all of them test photos (flickr_test={k}): "
                         "none is left to choose a setting on")
    return embed(sp["model"].tower_a, torch.from_numpy(va["a"][k:])), [list(f) for f in va["captions"][k:]]


def build_task(name: str, ctx: RunContext, n_train: int, n_val: int, n_test: int, progress: bool = True
               ) -> CrossModalTask:
    """One of :data:`TASKS` on the chapter 05 space of ``ctx`` (its preset, seed and data; trained when missing)."""
    if name == "coco-clip":
        task = coco_clip_task(n_train, n_val, n_test, ctx.seed, ctx.data_dir, progress=progress)
    elif name not in TASK_SPACES:
        raise ValueError(f"unknown captioning task {name!r}; valid: {', '.join(TASKS)}")
    elif TASK_SPACES[name][1] == "world":
        task = world_task(ctx, n_train, n_val, n_test, progress=progress, name=name)
    else:
        space_name, text = TASK_SPACES[name]
        task = flickr_task(text, ctx, n_train, n_val, n_test, progress=progress, space_name=space_name)
    task.preset = ctx.preset
    return task


def write_flickr_folder(task: CrossModalTask, folder: str | Path, split: str = "test") -> Path:
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
