"""The paper preset's download manifest: every file pinned (revision, size, SHA-256), fetched into
``$C3_WEIGHTS/<model>/<revision>/``, refused when its bytes differ, and read by the loaders from there.

The real files cannot be fetched here (no network): the loaders are exercised on local stand-ins served from
``file://`` addresses (a random-init open_clip ViT-B/32 and a tiny GPT-2), through the same code paths."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import numpy as np
import pytest

from c3lib import download
from c3lib.data import standins as synthetic


def _serve(tmp_path, monkeypatch, key: str, files: dict[str, bytes]) -> download.Model:
    """Replace ``MODELS[key]`` by a model served from ``tmp_path/src`` holding ``files``."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for name, data in files.items():
        (src / name).write_bytes(data)
    entries = tuple(download.File(n, len(d), hashlib.sha256(d).hexdigest()) for n, d in files.items())
    model = dataclasses.replace(download.MODELS[key], source=src.as_uri(), files=entries)
    monkeypatch.setitem(download.MODELS, key, model)
    monkeypatch.setenv("C3_WEIGHTS", str(tmp_path / "weights"))
    return model


def test_every_paper_file_is_pinned():
    keys = download.PRESETS["paper"]
    assert set(keys) == {"clip-vit-b-32-openai", "gpt2", "inception-torch-fidelity"}
    for key in keys:
        m = download.MODELS[key]
        assert re.fullmatch(r"[0-9a-f]{40}|v\d+\.\d+\.\d+", m.revision), m.revision  # a commit or a release tag
        assert m.provenance and m.license and m.files
        for f in m.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256) and f.size > 0, f
    assert download.PRESETS["smoke"] == download.PRESETS["default"] == ()
    clip = download.MODELS["clip-vit-b-32-openai"]
    assert clip.url(clip.files[0]) == ("https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/"
                                       "a6f597a30f7b82c51704746581f9a4e41421e878/open_clip_model.safetensors")


def test_list_prints_every_file_and_fetches_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("C3_WEIGHTS", str(tmp_path / "w"))
    assert download.main(["--preset", "paper", "--list"]) == 0
    out = capsys.readouterr().out
    for key in download.PRESETS["paper"]:
        m = download.MODELS[key]
        assert m.revision in out and all(f.sha256 in out and f.name in out for f in m.files)
    assert "not yet fetched" in out and "GB" in out and not (tmp_path / "w").exists()
    assert download.main(["--preset", "smoke"]) == 0 and "downloads nothing" in capsys.readouterr().out


def test_ensure_fetches_checks_and_refetches_a_damaged_file(tmp_path, monkeypatch):
    m = _serve(tmp_path, monkeypatch, "gpt2", {"a.json": b'{"a": 1}', "b.bin": bytes(range(200))})
    with pytest.raises(FileNotFoundError, match="python -m c3lib.download --only gpt2"):
        download.ensure("gpt2", allow_download=False)
    folder = download.ensure("gpt2")
    assert folder == tmp_path / "weights" / "gpt2" / m.revision
    assert (folder / "b.bin").read_bytes() == bytes(range(200))
    (folder / "b.bin").write_bytes(bytes(200))  # same size, other bytes
    with pytest.raises(FileNotFoundError, match="does not match its SHA-256"):
        download.ensure("gpt2", allow_download=False)
    assert (download.ensure("gpt2") / "b.bin").read_bytes() == bytes(range(200))
    (tmp_path / "src" / "a.json").write_bytes(b'{"a": 2}')  # the source changed under the pinned checksum
    (folder / "a.json").unlink()
    with pytest.raises(ValueError, match="checksum mismatch"):
        download.ensure("gpt2")
    assert not (folder / "a.json").exists()


def test_openai_clip_loads_through_the_manifest(tmp_path, monkeypatch):
    """``load_openclip(.., "openai")`` reads the pinned file with open_clip, with the openai tag's settings."""
    from c3lib.encoders import openclip

    ref = openclip.load_openclip("ViT-B-32", None, seed=3)
    ckpt = openclip.save_state_dict(ref.model, tmp_path / "ref.safetensors")
    _serve(tmp_path, monkeypatch, "clip-vit-b-32-openai", {"open_clip_model.safetensors": ckpt.read_bytes()})
    with pytest.raises(RuntimeError, match="only at the paper preset"):
        openclip.load_openclip("ViT-B-32", "openai")
    clip = openclip.load_openclip("ViT-B-32", "openai", allow_download=True)
    assert clip.weights == "openai"
    images = synthetic.random_images(2, 64, 0)
    # the openai tag uses QuickGELU: same weights, another activation, so other embeddings
    assert not np.allclose(openclip.encode_images(clip, images, progress=False),
                           openclip.encode_images(ref, images, progress=False))
    for name, value in clip.model.state_dict().items():
        assert np.array_equal(value.numpy(), ref.model.state_dict()[name].numpy()), name


def test_gpt2_loads_from_the_pinned_folder(tmp_path, monkeypatch):
    from transformers import GPT2Config, GPT2LMHeadModel

    from c3lib.captioner import CaptionerSpec, build_lm

    tiny = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=32))
    tiny.save_pretrained(tmp_path / "tiny")
    _serve(tmp_path, monkeypatch, "gpt2", {n: (tmp_path / "tiny" / n).read_bytes()
                                           for n in ("config.json", "model.safetensors")})
    lm = build_lm(CaptionerSpec(d_in=8, lm="gpt2"))
    assert lm.config.n_embd == 32
    for name, value in lm.state_dict().items():
        assert np.array_equal(value.numpy(), tiny.state_dict()[name].numpy()), name
