"""The data folder: resolution order, clear errors when data is missing, Flickr8k-format parsing."""

from __future__ import annotations

import numpy as np
import pytest

from c3lib.data import loaders as data
from c3lib.chapters.ch01_dimensional_collapse import CollapseConfig, precomputed_spaces
from c3lib.config import make_config


def test_missing_data_dir_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("C3_DATA", raising=False)
    assert data.resolve_data_dir("") is None
    with pytest.raises(data.DataNotFoundError, match=r"data_dir=.*C3_DATA"):
        data.resolve_data_dir("", required=True)
    with pytest.raises(data.DataNotFoundError, match="does not exist"):
        data.resolve_data_dir(tmp_path / "nowhere")


def test_env_var_is_the_fallback(monkeypatch, tmp_path):
    monkeypatch.setenv("C3_DATA", str(tmp_path))
    assert data.resolve_data_dir("") == tmp_path.resolve()


def test_missing_file_says_what_to_get(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="modality-gap-features/.*Mind the Gap"):
        data.load_pair_features(tmp_path, "clip")


def test_default_preset_requires_data(monkeypatch):
    monkeypatch.delenv("C3_DATA", raising=False)
    with pytest.raises(data.DataNotFoundError):
        precomputed_spaces(make_config(CollapseConfig, "default"))
    assert precomputed_spaces(make_config(CollapseConfig, "smoke")) == {}


def _write_flickr(tmp_path, rows, images=("a.jpg", "b.jpg")):
    from PIL import Image

    folder = tmp_path / "flickr8k"
    (folder / "images").mkdir(parents=True)
    for name in images:
        Image.new("RGB", (8, 8)).save(folder / "images" / name)
    (folder / "captions.tsv").write_text("image\tsplit\tcaption\n" + "".join("\t".join(r) + "\n" for r in rows))
    return tmp_path


def test_flickr_format_groups_captions_by_image(tmp_path):
    root = _write_flickr(tmp_path, [("a.jpg", "val", "one"), ("b.jpg", "val", "two"), ("a.jpg", "val", "three"),
                                    ("b.jpg", "train", "four")])
    got = data.load_flickr8k(root, "val")
    assert [p.name for p in got.image_paths] == ["a.jpg", "b.jpg"]
    assert got.captions == [["one", "three"], ["two"]]
    assert len(data.load_flickr8k(root, "val", limit=1).image_paths) == 1


def test_flickr_empty_split_and_missing_image_are_errors(tmp_path):
    root = _write_flickr(tmp_path, [("a.jpg", "val", "x"), ("zzz.jpg", "test", "y")], images=("a.jpg",))
    with pytest.raises(ValueError, match="no captions for split 'train'"):
        data.load_flickr8k(root, "train")
    with pytest.raises(data.DataNotFoundError, match="missing"):
        data.load_flickr8k(root, "test")


def test_real_pair_features_are_paired_and_normalised(data_root):
    x, y = data.load_pair_features(data_root, "clip_random")
    assert x.shape == y.shape == (500, 512)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-3)


# ---- captions.tsv as written, or an error naming the file and the line ---------------------------------------
def _tsv(tmp_path, body: bytes, images=("a.jpg", "b.jpg")):
    from PIL import Image

    folder = tmp_path / "flickr8k"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name in images:
        Image.new("RGB", (8, 8)).save(folder / "images" / name)
    (folder / "captions.tsv").write_bytes(body)
    return tmp_path


HEAD = b"image\tsplit\tcaption\n"


@pytest.mark.parametrize("line, why", [(b"b.jpg\tval\ta dog\truns .\n", "4 TAB-separated fields"),
                                       (b"b.jpg\tval\n", "2 TAB-separated fields"),
                                       ("b.jpg\tval\tun caf\xe9 .\n".encode("latin-1"), "not UTF-8"),
                                       (b"../../x.jpg\tval\tx .\n", "not a file inside"),
                                       (b"/etc/x.jpg\tval\tx .\n", "not a file inside")])
def test_a_bad_line_is_refused_naming_the_file_and_line(tmp_path, line, why):
    root = _tsv(tmp_path, HEAD + b"a.jpg\tval\tone .\n" + line)
    with pytest.raises(ValueError, match=rf"captions\.tsv, line 3: .*{why}"):
        data.load_flickr8k(root, "val")


def test_a_bom_and_quotes_are_read_as_written(tmp_path):
    root = _tsv(tmp_path, b"\xef\xbb\xbf" + HEAD + b'a.jpg\tval\ta "big" dog .\nb.jpg\tval\t"quoted" start\n')
    got = data.load_flickr8k(root, "val")
    assert [p.name for p in got.image_paths] == ["a.jpg", "b.jpg"]
    assert got.captions == [['a "big" dog .'], ['"quoted" start']]


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    from PIL import Image

    from c3lib.encoders.frozen import _image_tensor

    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    assert abs(int(data.photo_pixels([path], 4)[0, 0, 0, 0]) - 128) <= 1
    assert abs(float(_image_tensor([path])[0, 0, 0, 0]) - (128 - 127) / 128) < 0.01  # EfficientNet's input
    eight = tmp_path / "grey8.png"
    Image.fromarray(np.full((8, 8), 128, np.uint8)).save(eight)
    np.testing.assert_array_equal(data.photo_pixels([eight], 4), data.photo_pixels([path], 4))


def test_an_unreadable_image_is_named(tmp_path):
    from PIL import Image

    from c3lib.encoders.frozen import _image_tensor

    jpg = tmp_path / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(jpg, quality=95)
    jpg.write_bytes(jpg.read_bytes()[:800])
    for read in (lambda: data.photo_pixels([jpg], 8), lambda: _image_tensor([jpg])):
        with pytest.raises(ValueError, match="cut.jpg"):
            read()
