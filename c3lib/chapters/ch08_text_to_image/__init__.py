"""Chapter 08, text-to-image from image-only training (paper section 5.2, Table 3, Fig 11, Appendix F).

The mirror of captioning: a generator (:mod:`c3lib.generator`: a latent diffusion model, an image autoencoder
per space and a conditional latent denoiser per variant and seed) learns to rebuild training images from their
own *image* embeddings, passed through a training transform (source modality: image); it never sees text. At
test time it draws from the *text* embeddings of held-out captions, normalised, minus the text mean,
renormalised (no noise): the C3 transform with the roles swapped.

Spaces: chapter 05's two spaces with CLIP's geometry, ``world-clip`` (frozen EfficientNet-Lite0 over the world's
renders; every prompt has ground-truth attributes) and ``flickr8k-clip`` (Flickr8k photos: the photos the space
trained on to train, val photos as the reference and their captions as prompts); the ablations ``world-clip-scratch``
and ``world-scratch`` on request; at ``paper``, ``coco-clip``: the paper's own setting, CLIP ViT-B/32 ``openai``
over MS-COCO at chapter 06's Karpathy split, with the Inception Score from torch-fidelity. Rows: C1, C2-collapse,
C2-corrupt, C3, LAFITE's own perturbation (official code: ``normalise((1 - xi) h + xi u)``, ``u`` a random unit
direction, ``xi = 0.75`` for image features), each over the seeds; the supervised ceiling (the C1 generator,
whose training input is the clean image embedding, conditioned on the test images' own embeddings: in
distribution, and no noise has thrown information away) and real vs real images (the floor at the same N).
Every row is scored on the same N prompts (``n_eval``): FID and KID in the space's own image encoder over all N,
in Inception-v3 features over the first ``n_inception``, attribute accuracy (world) and the text-image cosine.
The autoencoders, the real images' features and the classifier are a first stage of jobs of a process pool
(:func:`c3lib.parallel.pool_map`), the generators a second; each job runs at the book's thread count with its
own seed, so the numbers do not depend on ``workers``.

Modules: :mod:`.setting` (the configuration), :mod:`.generation` (autoencoders, generators, the pool's jobs, the
scores), :mod:`.claims` (Table 3's orderings as verdicts), :mod:`.page` (the paper beside ours, the page's
sentences), :mod:`.live` (Fig 11 live in Jupyter).
"""

from __future__ import annotations

from typing import Any

from c3lib import image_metrics as im
from c3lib import parallel
from c3lib.chapter import ChapterResult
from c3lib.chapters.ch08_text_to_image import live, page
from c3lib.chapters.ch08_text_to_image.claims import (BEST, MEASURES, METRICS, ORDER, SHORT, claims, fid_gaps,
                                                      ordering, space_claims, summarise)
from c3lib.chapters.ch08_text_to_image.generation import (LafitePerturbation, _init_jobs, _job, _SHIPPED,
                                                          attribute_classifier, attribute_hits, item_scores,
                                                          real_vs_real, score, text_image_cosines,
                                                          train_generator, train_transform)
from c3lib.chapters.ch08_text_to_image.setting import (CHAPTER, LAFITE_LEVEL, REFERENCES, VARIANTS,
                                                       TextToImageConfig)
from c3lib.image_tasks import SPACES, as_float, build_task

__all__ = ["BEST", "CHAPTER", "LAFITE_LEVEL", "LafitePerturbation", "MEASURES", "METRICS", "ORDER", "REFERENCES",
           "SHORT", "SPACES", "TextToImageConfig", "VARIANTS", "_init_jobs", "_job", "attribute_classifier",
           "attribute_hits", "claims", "fid_gaps", "generate", "item_scores", "live", "ordering", "real_vs_real", "run",
           "score", "space_claims", "summarise", "text_image_cosines", "train_generator", "train_transform"]


def generate(cfg: TextToImageConfig, progress: bool = True) -> dict[str, Any]:
    """Every space's autoencoder, every (space, variant, seed) generator and the reference rows, scored: ``runs``
    (one row per generator, supervised ceiling and real-vs-real, each with its per-prompt ``items``), ``examples``
    (Fig 11's images), ``spaces`` (each space's size and gap), ``autoencoders`` (their training) and ``workers``."""
    n, k, n_ex = cfg.n_eval, cfg.n_inc, cfg.n_examples
    if cfg.preset == "paper" and not im.inception_score_available():  # before hours of training, not after
        raise ModuleNotFoundError("the paper preset reports the Inception Score with torch-fidelity: "
                                  "pip install 'torch-fidelity>=0.3,<0.5'")
    tasks = {space: build_task(space, cfg.context, cfg.n_train, cfg.n_eval, cfg.image_size)
             for space in cfg.spaces}
    shipped = {space: {key: t[key] for key in _SHIPPED if key in t} for space, t in tasks.items()}
    workers = cfg.workers or parallel.default_workers()
    # stage 1: each space's autoencoder (the generators decode with it), its real images' features, the classifier
    first = ([("autoencoder", sp) for sp in cfg.spaces] + [("classifier", sp) for sp in cfg.spaces
             if "attrs_test" in tasks[sp]] + [("real", sp) for sp in cfg.spaces])
    done = dict(zip(first, parallel.pool_map(_job, first, workers, _init_jobs, (cfg, shipped),
                                             desc="autoencoders and references", progress=progress)))
    autoencoders = {}
    for space in cfg.spaces:
        ae, latents, loaded = done[("autoencoder", space)]
        shipped[space].update(autoencoder=ae, lat_train=latents)
        autoencoders[space] = {"loaded": loaded, "train_seconds": ae.history.get("seconds"),
                               "final_loss": ae.history["loss"][-1], "latent_dim": ae.cfg.latent_dim}
    # stage 2: the generators
    gen_jobs = [("generator", space, v, s) for space in cfg.spaces for v in cfg.variants for s in cfg.seeds]
    done.update(zip(gen_jobs, parallel.pool_map(_job, gen_jobs, workers, _init_jobs, (cfg, shipped),
                                                desc="generators", progress=progress)))
    out: dict[str, Any] = {"runs": [], "examples": {}, "spaces": {}, "autoencoders": autoencoders}
    for space in cfg.spaces:
        task, real_feats = tasks[space], done[("real", space)]
        ref = {"inc_ref": real_feats["inception"][:k], "tower_ref": real_feats["tower"][:n]}
        info = {}
        if ("classifier", space) in done:
            ref["classifier"], info["classifier_held_out_accuracy"], info["nearest_render_accuracy"] = \
                done[("classifier", space)]
        ex = {"prompts": task["prompts"][:n_ex], "real": as_float(task["images_test"][:n_ex])}
        for variant in cfg.variants:
            for seed in cfg.seeds:
                g = done[("generator", space, variant, seed)]
                out["runs"].append({"space": space, "variant": variant, "seed": seed, "loaded": g["loaded"],
                                    "train_seconds": g["train_seconds"], "final_loss": g["final_loss"],
                                    **score(task, g["images"], g["images_features"], ref, g["images_is"])})
                if variant == "C1":
                    out["runs"].append({"space": space, "variant": "supervised", "seed": seed,
                                        **score(task, g["supervised"], g["supervised_features"], ref,
                                                g["supervised_is"])})
                if seed == cfg.seeds[0]:
                    ex[variant] = as_float(g["images"][:n_ex])
                    if variant == "C1":
                        ex["supervised"] = as_float(g["supervised"][:n_ex])
        out["runs"].append({"space": space, "variant": "real-vs-real", "seed": 0,
                            **real_vs_real(task, real_feats, ref, n, k)})
        out["examples"][space] = ex
        out["spaces"][space] = {"n_train_images": len(task["images_train"]), "n_eval": n, "n_inception": k,
                                "n_real_vs_real": min(n, len(task["images_test"]) - n),
                                "dim": int(task["img_train"].shape[1]), "image_size": cfg.image_size,
                                "n_seeds": len(cfg.seeds), "modality_gap": task["space_gap"], **info,
                                "inception_score_note": im.inception_score(None, cfg.preset == "paper")[1]}
    out["workers"] = workers
    return out


def run(cfg: TextToImageConfig, progress: bool = True) -> ChapterResult:
    """The generators, their scores, Table 3's orderings as verdicts per space, and the page's sentences."""
    out = generate(cfg, progress)
    runs = out["runs"]
    summary = summarise(runs, cfg.n_eval, cfg.n_inc)
    gaps = fid_gaps(summary)
    verdicts = claims(runs, cfg.spaces)
    coco = ("the paper's setting: CLIP ViT-B/32 openai over MS-COCO (Karpathy split)" if "coco-clip" in cfg.spaces
            else "the paper's MS-COCO setting runs at the paper preset only (CLIP download, MS-COCO images)")
    metrics = {"summary": summary, "runs": runs, "fid_gaps": gaps, "spaces": out["spaces"],
               "autoencoders": out["autoencoders"],
               "examples": {sp: {"prompts": e["prompts"]} for sp, e in out["examples"].items()},
               "notes": {"seeds": {sp: len(cfg.seeds) for sp in cfg.spaces}, "coco": coco}}
    markdown = {"fid_lines": page.fid_lines(summary, gaps, out["spaces"]),
                "ceiling_lines": page.ceiling_lines(summary, out["spaces"]), "order_table": page.order_table(verdicts),
                "order_sentence": page.order_sentence(verdicts, cfg.image_size)}
    return ChapterResult(CHAPTER, metrics, verdicts, page.comparison(summary), page.paper(),
                         page.prose(cfg, runs, out["workers"]), markdown,
                         {"examples": out["examples"], "table": page.table(summary), "workers": out["workers"]})
