"""Chapter 09 (other modalities): claims logic on constructed summaries, retargeting a decoder without
changing it, config checks, and the bound space at smoke (bound to the space's own image tower)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from c3lib.c3 import C3Transform
from c3lib.captioner import Captioner, CaptionerSpec, ClipCap
from c3lib.chapters import ch09_other_modalities as ch
from c3lib.config import ConfigError, make_config


def _summary(values: dict[str, dict[str, float]]) -> dict:
    return {m: {v: {"BLEU-1": x, "n_seeds": 3} for v, x in per.items()} for m, per in values.items()}


def test_claims_hold_on_the_papers_own_numbers():
    paper = {m: {v: t[0] for v, t in per.items()} for m, per in ch.PAPER_TABLE4.items()}
    c = ch.claims(_summary(paper))
    assert all(all(v is True for v in per.values()) for per in c.values()), c


def test_claims_fail_where_they_should():
    c = ch.claims(_summary({
        "audio": {"C1": 30.0, "C2-collapse": 20.0, "C2-corrupt": 25.0, "C3": 28.0},  # C1 best
        "video": {"C1": 10.0, "C2-collapse": 20.0, "C2-corrupt": 20.0, "C3": 30.0},  # a tie: order unknown
        "image": {"C1": 10.0, "C2-collapse": 40.0, "C2-corrupt": 30.0, "C3": 50.0},  # helps, order differs
    }))
    assert c["audio"] == {"C3 beats C1": False, "each component helps": False, "ranking matches the paper's": False}
    assert c["video"]["C3 beats C1"] and c["video"]["each component helps"]
    assert c["video"]["ranking matches the paper's"] is False
    assert c["image"]["each component helps"] and c["image"]["ranking matches the paper's"] is False


def test_claims_untested_when_variants_or_metric_are_missing():
    c = ch.claims(_summary({"audio": {"C1": 10.0, "C3": 20.0}}))
    assert c["audio"] == {"C3 beats C1": True, "each component helps": None, "ranking matches the paper's": None}
    s = {"audio": {v: {"BLEU-1": 1.0, "METEOR": None} for v in ch.VARIANTS}}
    assert set(ch.claims(s, "METEOR")["audio"].values()) == {None}


def test_summarise_means_over_seeds():
    runs = [{"modality": "audio", "variant": "C3", "seed": s, **{k: float(s) for k in ch.METRICS}} for s in (0, 1, 2)]
    runs[0]["METEOR"] = None
    s = ch.summarise(runs)["audio"]["C3"]
    assert s["n_seeds"] == 3 and s["BLEU-1"] == 1.0 and s["METEOR"] == 1.5
    assert s["BLEU-1 std"] == pytest.approx(np.std([0, 1, 2]))


def _captioner(d: int) -> Captioner:
    spec = CaptionerSpec(d_in=d, n_layer=1, n_embd=16, n_head=2, vocab_size=12)
    rng = np.random.default_rng(0)
    t = C3Transform.variant("C3").fit(rng.normal(size=(50, d)) + 1, rng.normal(size=(50, d)) - 1)
    return Captioner(ClipCap(spec, pretrained=False), tokenizer=None, transform=t)


def test_retarget_refits_the_target_mean_and_leaves_the_decoder_as_it_is():
    cap = _captioner(8)
    before = (cap.transform.mean_source_.copy(), cap.transform.mean_target_.copy())
    audio = np.random.default_rng(1).normal(size=(40, 8)) + 5.0
    new = ch.retarget(cap, audio)
    unit = audio / np.linalg.norm(audio, axis=1, keepdims=True)
    np.testing.assert_allclose(new.transform.mean_target_, unit.mean(0))
    np.testing.assert_array_equal(new.transform.mean_source_, before[0])
    np.testing.assert_array_equal(cap.transform.mean_target_, before[1])  # the stored decoder is untouched
    assert new.model is cap.model
    out = new.transform.transform(audio, modality="target", train=False)
    assert np.linalg.norm(out.mean(0)) < 0.2, "audio collapsed with its own mean is centred"


def test_a_decoder_of_another_width_is_refused():
    with pytest.raises(ValueError, match="reads 8-d embeddings but this space embeds in 16 dims"):
        ch.retarget(_captioner(8), np.ones((4, 16)))


def test_config_checks():
    cfg = make_config(ch.OtherModalitiesConfig, "smoke")
    assert cfg.seeds == (0,) and cfg.modalities == ch.MODALITIES
    assert make_config(ch.OtherModalitiesConfig, "default").seeds == (0, 1, 2)
    with pytest.raises(ConfigError, match="valid: image, audio, video"):
        make_config(ch.OtherModalitiesConfig, "smoke", {"modalities": ["image", "smell"]})
    with pytest.raises(ConfigError, match="unknown parameter"):
        make_config(ch.OtherModalitiesConfig, "smoke", {"n_epochs": 3})
    assert set(ch.EXPRESSIBLE) == set(ch.MODALITIES) == set(ch.PAPER_TABLE4)


def test_bound_space_binds_to_the_image_tower_of_the_image_text_space(tmp_path, monkeypatch):
    """Fails if the audio or video tower is bound to any image tower but the world image-text space's."""
    from c3lib import binding, connect

    torch.set_num_threads(1)
    monkeypatch.setenv("C3_RUNS", str(tmp_path))
    cfg = make_config(ch.OtherModalitiesConfig, "smoke", {"n_val": 32, "control": False})
    space = connect.load_or_train_space("image-text", "smoke", 0, "", progress=False)
    sha = binding.weights_sha(space["model"].tower_a)
    bs = ch.bound_space(cfg, 32)
    assert binding.weights_sha(bs["space"]["model"].tower_a) == sha, "binding changed the space's image tower"
    for mod in ("audio", "video"):
        manifest = json.loads((tmp_path / ch.CHAPTER / "world-smoke" / f"bind-{mod}" / "seed0" /
                               "manifest.json").read_text())
        assert manifest["image_tower_sha256"] == sha, f"{mod} was bound to another image tower"
        assert bs["test"][mod].shape == bs["test"]["text"].shape == (32, bs["ccfg"].dim)
    again = ch.bound_space(cfg, 32)
    assert all(again["binds"][m]["loaded"] for m in ("audio", "video"))
    np.testing.assert_array_equal(again["test"]["audio"], bs["test"]["audio"])  # same seed, same numbers
