"""The evaluation command end to end on a tiny Flickr8k-format folder written by the test."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from c3lib.transform import C3Transform
from c3lib.encoders.registry import ENCODERS, embed_images
from c3lib.evaluate import main
from c3lib.trainer import TrainConfig, fit_captioner

COLORS = {"red.png": ((220, 20, 20), "a red square ."), "green.png": ((20, 200, 20), "a green field ."),
          "blue.png": ((20, 20, 220), "a blue sky ."), "white.png": ((240, 240, 240), "a white wall .")}
PROJ = np.random.default_rng(0).normal(size=(3, 16))


def pixel_encoder(paths, run_dir, spec):
    """A stand-in image tower: mean RGB projected to 16 dims, (n, 16)."""
    rgb = np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float64).mean(axis=(0, 1)) for p in paths])
    return (rgb / 255.0 - 0.5) @ PROJ


def _write_folder(root, empty_split=False):
    folder = root / "tinyflickr"
    (folder / "images").mkdir(parents=True)
    lines = ["image\tsplit\tcaption"]
    for name, (rgb, cap) in COLORS.items():
        Image.new("RGB", (8, 8), rgb).save(folder / "images" / name)
        lines.append(f"{name}\t{'val' if empty_split else 'test'}\t{cap}")
    (folder / "captions.tsv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = _write_folder(tmp_path_factory.mktemp("data"))
    emb = pixel_encoder([folder / "images" / n for n in COLORS], None, {})
    cfg = TrainConfig(num_epochs=40, batch_size=4, warmup_steps=2, patience=1000, n_layer=1, n_embd=64,
                      n_head=2, lr=3e-3)
    cap = fit_captioner(emb, [c for _, c in COLORS.values()], C3Transform.variant("C1"), cfg, target_emb=emb)
    cap.extra["encoder"] = {"name": "import", "target": f"{__name__}:pixel_encoder"}
    return cap.save(tmp_path_factory.mktemp("runs") / "tiny"), folder


def test_cli_end_to_end(run_dir, tmp_path):
    run, folder = run_dir
    out = tmp_path / "m.json"
    main(["--run", str(run), "--data-dir", str(folder), "--split", "test", "--out", str(out), "--no-meteor"])
    res = json.loads(out.read_text())
    assert res["n_images"] == 4
    assert res["metrics"]["BLEU-1"] > 99 and res["metrics"]["SPICE"] is None
    assert {e["caption"] for e in res["examples"]} == {c.replace(" .", ".") for _, c in COLORS.values()}


def test_registry_hook_and_errors(run_dir, tmp_path):
    run, folder = run_dir
    ENCODERS["pixels"] = pixel_encoder
    try:
        assert embed_images([folder / "images" / "red.png"], run, {"name": "pixels"}).shape == (1, 16)
    finally:
        del ENCODERS["pixels"]
    with pytest.raises(ValueError, match="unknown image encoder 'nope'"):
        embed_images([], run, {"name": "nope"})
    with pytest.raises(ValueError, match="names no image encoder"):
        embed_images([], run, None)
    with pytest.raises(FileNotFoundError, match="no trained captioner"):
        main(["--run", str(tmp_path), "--data-dir", str(folder), "--out", str(tmp_path / "x.json")])


def test_empty_caption_file_is_a_clear_error(run_dir, tmp_path):
    run, _ = run_dir
    folder = _write_folder(tmp_path, empty_split=True)  # no 'test' rows
    with pytest.raises(ValueError, match="no captions for split 'test'"):
        main(["--run", str(run), "--data-dir", str(folder), "--split", "test", "--out", str(tmp_path / "o.json")])
    (folder / "captions.tsv").write_text("image\tsplit\tcaption\n")
    with pytest.raises(ValueError, match="no captions"):
        main(["--run", str(run), "--data-dir", str(folder), "--split", "test", "--out", str(tmp_path / "o.json")])
