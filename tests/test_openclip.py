"""The paper-scale open_clip path, exercised offline on local stand-ins (no mocks of open_clip)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from c3lib import download
from c3lib.data import standins as synthetic
from c3lib.encoders import openclip


def test_random_init_is_seeded_and_round_trips_through_safetensors(tmp_path):
    a = openclip.load_openclip("ViT-B-32", None, seed=1)
    b = openclip.load_openclip("ViT-B-32", None, seed=1)
    images, texts = synthetic.random_images(3, 64, 0), synthetic.random_captions(3, 0)
    ea, ta = openclip.encode_images(a, images, progress=False), openclip.encode_texts(a, texts, progress=False)
    np.testing.assert_array_equal(ea, openclip.encode_images(b, images, progress=False))
    path = openclip.save_state_dict(a.model, tmp_path / "vit.safetensors")
    c = openclip.load_openclip("ViT-B-32", path, seed=99)  # the seed must not matter once weights load
    np.testing.assert_array_equal(ea, openclip.encode_images(c, images, progress=False))
    np.testing.assert_array_equal(ta, openclip.encode_texts(c, texts, progress=False))


def test_pretrained_weights_need_the_paper_preset():
    with pytest.raises(RuntimeError, match="only at the paper preset"):
        openclip.load_openclip("ViT-B-32", "openai")
    with pytest.raises(ValueError, match="unknown open_clip model"):
        openclip.load_openclip("ViT-Z-99")


def test_download_is_checked(tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(b"c3 weights")
    good = hashlib.sha256(b"c3 weights").hexdigest()
    dest = download.download_checked(src.as_uri(), good, tmp_path / "out" / "w.bin")
    assert dest.read_bytes() == b"c3 weights"
    with pytest.raises(ValueError, match="checksum mismatch"):
        download.download_checked(src.as_uri(), "0" * 64, tmp_path / "out" / "bad.bin")
    assert not (tmp_path / "out" / "bad.bin").exists(), "a file failing its checksum must not be kept"
    with pytest.raises(ValueError, match="checksum mismatch"):  # right bytes, wrong length: refused too
        download.download_checked(src.as_uri(), good, tmp_path / "out" / "short.bin", size=3)
    with pytest.raises(RuntimeError, match="could not download"):
        download.download_checked((tmp_path / "absent").as_uri(), good, tmp_path / "out" / "x.bin")
