"""The evaluation command end to end on a tiny Flickr8k-format folder written by the test; the seal of the run
it reads, and the code, files and downloads a run's config may ask for."""

from __future__ import annotations

import json
import shutil
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from c3lib import runstore
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
    other = fit_captioner(emb, ["one two .", "three four .", "five six .", "seven ."], C3Transform.variant("C1"),
                          TrainConfig(num_epochs=1, batch_size=4, warmup_steps=1, n_layer=1, n_embd=16, n_head=2),
                          target_emb=emb)
    root = tmp_path_factory.mktemp("runs")
    runstore.save_run(root / "other", "other", lambda tmp: other.save(tmp))
    return runstore.save_run(root / "tiny", "key", lambda tmp: cap.save(tmp)), folder


def _main(run, folder, out, *extra):
    return main(["--run", str(run), "--data-dir", str(folder), "--out", str(out), "--no-meteor", *extra])


def test_cli_end_to_end(run_dir, tmp_path):
    run, folder = run_dir
    out = tmp_path / "m.json"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sealed, intact run: read without a warning
        main(["--run", str(run), "--data-dir", str(folder), "--split", "test", "--out", str(out), "--no-meteor",
              "--trust-code"])
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


def _flip(path, at=0.5):
    data = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little") if path.suffix == ".safetensors" else 0
    data[start + int((len(data) - start) * at)] ^= 0x10
    path.write_bytes(bytes(data))


def _negate_mean(folder):
    state = json.loads((folder / "transform.json").read_text())
    state["mean_target"] = [-v for v in state["mean_target"]]
    (folder / "transform.json").write_text(json.dumps(state))


DAMAGE = {"model.safetensors": lambda f: _flip(f / "model.safetensors"),
          "transform.json": _negate_mean,
          "tokenizer.json": lambda f: shutil.copy(f.parent / "other" / "tokenizer.json", f / "tokenizer.json"),
          "config.json": lambda f: (f / "config.json").write_text((f / "config.json").read_text().replace("16", "17"))}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_a_damaged_sealed_run_is_refused_naming_the_file(run_dir, name, tmp_path):
    run, folder = run_dir
    bad = run.parent / f"bad-{name}"
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(run, bad)
    DAMAGE[name](bad)
    with pytest.raises(ValueError, match=rf"refusing the run .*{name}"):
        _main(bad, folder, tmp_path / "o.json", "--trust-code")
    assert not (tmp_path / "o.json").exists()


def test_a_run_without_manifest_is_read_with_a_warning(run_dir, tmp_path):
    run, folder = run_dir
    bare = tmp_path / "bare"
    shutil.copytree(run, bare)
    (bare / runstore.MANIFEST).unlink()
    with pytest.warns(RuntimeWarning, match="no manifest.json"):
        assert _main(bare, folder, tmp_path / "o.json", "--trust-code")["n_images"] == 4


def test_the_import_encoder_runs_only_with_trust_code(run_dir, tmp_path):
    """A module shipped beside a run is importable under ``python -m`` (the current folder is on the path)."""
    run, folder = run_dir
    shipped = tmp_path / "shipped"
    shutil.copytree(run, shipped)
    cfg = json.loads((shipped / "config.json").read_text())
    cfg["extra"]["encoder"] = {"name": "import", "target": "c3_shipped_helper:encode"}
    (shipped / "config.json").write_text(json.dumps(cfg))
    (shipped / runstore.MANIFEST).unlink()
    (shipped / "c3_shipped_helper.py").write_text(
        "from pathlib import Path\nimport numpy as np\n"
        "def encode(paths, run_dir, spec):\n"
        "    Path(run_dir, 'ran').write_text('x')\n"
        "    return np.random.default_rng(0).normal(size=(len(paths), 16))\n")
    sys.path.insert(0, str(shipped))
    try:
        with pytest.warns(RuntimeWarning, match="manifest"), pytest.raises(ValueError, match="--trust-code"):
            _main(shipped, folder, tmp_path / "o.json")
        assert not (shipped / "ran").exists(), "the run's code must not have run"
        with pytest.raises(ValueError, match="trust_code"):
            embed_images([], shipped, {"name": "import", "target": "c3_shipped_helper:encode"})
        with pytest.warns(RuntimeWarning, match="manifest"):
            assert _main(shipped, folder, tmp_path / "o.json", "--trust-code")["n_images"] == 4
        assert (shipped / "ran").exists()
    finally:
        sys.path.remove(str(shipped))
        sys.modules.pop("c3_shipped_helper", None)


def test_cider_of_one_image_is_unavailable_and_explained(run_dir, tmp_path):
    run, folder = run_dir
    one = _main(run, folder, tmp_path / "o.json", "--trust-code", "--limit", "1")
    assert one["metrics"]["CIDEr"] is None and one["metrics"]["BLEU-1"] > 99  # a perfect caption, not CIDEr 0
    assert any("CIDEr unavailable" in n for n in one["notes"])
    two = _main(run, folder, tmp_path / "o.json", "--trust-code", "--limit", "2")
    assert two["metrics"]["CIDEr"] is not None and any("only 2 images" in n for n in two["notes"])
