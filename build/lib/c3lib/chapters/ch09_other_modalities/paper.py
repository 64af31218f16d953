"""Chapter 09 at the ``paper`` preset: ImageBind (huge) embeddings of MS-COCO (image), Clotho (audio) and
MSR-VTT (video), as the paper's Table 4 ("the same settings as image captioning with CLIP").

For each dataset a text-only decoder is trained on ImageBind text embeddings of its training captions
(chapter 06's paper settings: GPT-2, AdamW 2e-5, batch 40, 10 epochs, early stopping on validation *text*),
and captions the dataset's test media; each modality's mean comes from unpaired training media of that
dataset. Every input is checked before anything heavy starts: the data folders (:mod:`c3lib.avdata`,
:func:`c3lib.data.load_coco_karpathy`), then the weights and the package (:mod:`c3lib.encoders.imagebind`).
This path needs a GPU and the files named in the errors; it has not been run on this CPU machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DATASETS = {"image": "coco-karpathy", "audio": "clotho", "video": "msrvtt"}


def media(root, modality: str, n_test: int, n_unpaired: int) -> dict[str, Any]:
    """Training captions, unpaired training media and test media (with references) of one modality."""
    from c3lib.data import avdata
    from c3lib.data.loaders import KARPATHY_TRAIN, load_coco_karpathy

    if modality == "image":
        train, test = load_coco_karpathy(root, KARPATHY_TRAIN), load_coco_karpathy(root, ("test",), limit=n_test)
        train_paths, test_paths = list(train.image_paths), list(test.image_paths)
    elif modality == "audio":
        train, test = avdata.load_clotho(root, "development"), avdata.load_clotho(root, "evaluation", n_test)
        train_paths, test_paths = train.paths, test.paths
    else:
        train, test = avdata.load_msrvtt(root, "train"), avdata.load_msrvtt(root, "test", n_test)
        train_paths, test_paths = train.paths, test.paths
    rng = np.random.default_rng(0)
    unpaired = [train_paths[i] for i in np.sort(rng.permutation(len(train_paths))[:n_unpaired])]
    return {"captions": [c for five in train.captions for c in five], "unpaired": unpaired,
            "test": test_paths, "refs": [list(c) for c in test.captions]}


def build_task(modality: str, m: dict, model, n_val: int, seed: int):
    """The fields of a :class:`c3lib.tasks.CrossModalTask` of ImageBind embeddings, cached by the inputs'
    contents."""
    from c3lib.cache import embeddings
    from c3lib.encoders import imagebind as ib

    embed_media = {"image": ib.embed_images, "audio": ib.embed_audio, "video": ib.embed_videos}[modality]
    txt = embeddings("imagebind-text", "imagebind_huge", m["captions"], lambda: ib.embed_texts(model(), m["captions"]))
    unpaired = embeddings(f"imagebind-{modality}", "imagebind_huge", m["unpaired"],
                          lambda: embed_media(model(), m["unpaired"]))
    test = embeddings(f"imagebind-{modality}", "imagebind_huge", m["test"], lambda: embed_media(model(), m["test"]))
    order = np.random.default_rng(seed).permutation(len(txt))
    tr, va = order[n_val:], order[:n_val]
    return dict(name=f"imagebind-{DATASETS[modality]}", train_emb=txt[tr],
                train_targets=[m["captions"][i] for i in tr], val_emb=txt[va],
                val_targets=[m["captions"][i] for i in va], unpaired_emb=unpaired, test_emb=test,
                test_refs=m["refs"], test_ids=[p.name for p in m["test"]], preset="paper",
                info={"space": "ImageBind huge", "data": DATASETS[modality]})


def run(cfg, decoders_of, score_modality, summarise, progress: bool = False) -> dict[str, Any]:
    """Table 4 and Fig 9 on ImageBind: same outputs as the world run (no attribute scores: no ground truth).
    The chapter passes its own ``decoders_of`` (chapter 06's decoders on a task), ``score_modality`` and
    ``summarise``, so this module needs nothing else from it."""
    from c3lib.data.loaders import resolve_data_dir
    from c3lib.encoders import imagebind as ib

    root = resolve_data_dir(cfg.data_dir, required=True)
    n_test, n_unpaired = 5000, 5000
    data = {mod: media(root, mod, n_test, n_unpaired) for mod in cfg.modalities}  # every folder checked first
    ib.weights_path(cfg.imagebind_weights)
    ib._package()
    loaded: list = []

    def model():
        if not loaded:
            loaded.append(ib.load_imagebind(cfg.imagebind_weights))
        return loaded[0]

    runs, summary_emb, examples = [], {}, {}
    for mod in cfg.modalities:
        task, decoders = decoders_of(cfg, progress, build_task(mod, data[mod], model, cfg.n_val, cfg.seed))
        for (variant, seed), cap in decoders.items():
            m, preds = score_modality(cap, task.unpaired_emb, task.test_emb, task.test_refs, None, cfg.meteor)
            runs.append({"modality": mod, "variant": variant, "seed": seed, **m})
            if seed == cfg.seeds[0]:
                examples.setdefault(mod, {})[variant] = preds[:cfg.n_examples]
        first = [refs[0] for refs in task.test_refs]
        summary_emb[mod] = (task.test_emb, ib.embed_texts(model(), first))
    from c3lib.binding import against_text

    report = {mod: against_text({mod: x}, t)[mod] for mod, (x, t) in summary_emb.items()}
    return {"runs": runs, "summary": summarise(runs), "binding": report, "examples": examples,
            "timing": {}, "n_test": n_test, "space": {"dim": 1024}, "thumbs": []}
