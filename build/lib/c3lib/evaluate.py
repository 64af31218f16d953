"""Evaluate a saved captioner on the images of a Flickr8k-format folder.

    python -m c3lib.evaluate --run RUN_DIR --data-dir DIR --split SPLIT --out FILE.json

``DIR`` holds ``images/`` and ``captions.tsv`` (header ``image split caption``). The images are embedded
by the image encoder the run was trained with: the run's ``config.json`` carries ``extra.encoder``, a spec
looked up in the explicit registry :data:`c3lib.encoders.registry.ENCODERS`. The embeddings are then
transformed as *inference* inputs of the target modality (normalise, subtract the fitted image mean,
renormalise), captioned greedily, and scored against the folder's captions.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

from c3lib.atomic import write_json
from c3lib.checks import AT_LEAST_1, number, optional_count
from c3lib.encoders.registry import embed_images

def evaluate_run(run: str | Path, data_dir: str | Path, split: str = "test", limit: int | None = None,
                 meteor: bool = True, beam_size: int = 1) -> dict:
    """Caption the images of ``data_dir`` (a Flickr8k-format folder) with the captioner in ``run``."""
    from c3lib.captioner import Captioner
    from c3lib.data.loaders import load_flickr8k
    from c3lib.metrics import SPICE_NOTE, caption_metrics

    start = time.perf_counter()
    optional_count("limit", limit)
    number("beam_size", beam_size, AT_LEAST_1, integer=True)
    run, data_dir = Path(run), Path(data_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"--run {str(run)!r} is not a folder: give a run dir saved by a chapter")
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data-dir {str(data_dir)!r} is not a folder: give a folder holding images/ "
                                "and captions.tsv")
    cap = Captioner.load(run)
    where = data_dir.resolve()  # "." has no name of its own: read the folder it stands for
    data = load_flickr8k(where.parent, split, limit=limit, folder=where.name)
    emb = embed_images(data.image_paths, run, cap.extra.get("encoder"))
    preds = cap.caption_raw(emb, modality="target", beam_size=beam_size)
    metrics = caption_metrics(preds, data.captions, meteor=meteor)
    return {"run": str(run), "data_dir": str(data_dir), "split": split, "n_images": len(preds),
            "metrics": metrics, "notes": [SPICE_NOTE],
            "examples": [{"image": p.name, "caption": c, "references": r}
                         for p, c, r in list(zip(data.image_paths, preds, data.captions))[:10]],
            "wall_time_s": time.perf_counter() - start}


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m c3lib.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="run dir saved by a chapter (config.json, model.safetensors)")
    ap.add_argument("--data-dir", required=True, help="Flickr8k-format folder: images/ and captions.tsv")
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", required=True, help="metrics JSON to write")
    ap.add_argument("--limit", type=int, default=None, help="first N images only")
    ap.add_argument("--beam-size", type=int, default=1)
    ap.add_argument("--no-meteor", action="store_true", help="skip METEOR (Java)")
    args = ap.parse_args(argv)
    for flag, value in (("--limit", args.limit), ("--beam-size", args.beam_size)):
        if value is not None and value < 1:
            ap.error(f"{flag} must be >= 1, got {value}")
    result = evaluate_run(args.run, args.data_dir, args.split, args.limit, not args.no_meteor, args.beam_size)
    write_json(args.out, result)
    print(f"{result['n_images']} images: " + ", ".join(
        f"{k} {'unavailable' if v is None else f'{v:.1f}'}" for k, v in result["metrics"].items()))
    return result


if __name__ == "__main__":
    main()
