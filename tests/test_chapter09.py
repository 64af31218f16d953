"""Chapter 09 (other modalities): claims logic on constructed summaries, retargeting a decoder without
changing it, config checks, and the bound space at smoke (bound to the space's own image tower)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from c3lib.transform import C3Transform
from c3lib.captioner import Captioner, CaptionerSpec, ClipCap
from c3lib.chapters import ch09_other_modalities as ch
from c3lib.config import ConfigError, RunContext, make_config


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
    from c3lib import binding, spaces

    torch.set_num_threads(1)
    monkeypatch.setenv("C3_RUNS", str(tmp_path))
    cfg = make_config(ch.OtherModalitiesConfig, "smoke", {"n_val": 32, "control": False})
    space = spaces.load_or_train_space("image-text", RunContext("smoke"), progress=False)
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


# ---- the paper preset: real loaders on stand-ins the test writes; clear errors where files are missing ----
def _write_wav(path, seconds=0.1, rate=44100):
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes((np.sin(np.arange(int(rate * seconds)) * 0.1) * 3000).astype("<i2").tobytes())


def test_clotho_loader_on_a_stand_in(tmp_path):
    from c3lib.data import avdata

    root = tmp_path / "clotho"
    rows = ["file_name,caption_1,caption_2,caption_3,caption_4,caption_5",
            'a.wav,rain on a roof,"rain falls, steadily",water drips,a storm,rain',
            "b.wav,a dog barks,,,,"]
    root.mkdir()
    (root / "clotho_captions_evaluation.csv").write_text("\n".join(rows) + "\n")
    for name in ("a.wav", "b.wav"):
        _write_wav(root / "evaluation" / name)
    clips = avdata.load_clotho(tmp_path, "evaluation")
    assert [p.name for p in clips.paths] == ["a.wav", "b.wav"]
    assert clips.captions[0][1] == "rain falls, steadily" and clips.captions[1] == ["a dog barks"]
    assert len(avdata.load_clotho(tmp_path, "evaluation", limit=1)) == 1
    (root / "evaluation" / "b.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"b.wav is missing: fetch Clotho v2.1"):
        avdata.load_clotho(tmp_path, "evaluation")
    with pytest.raises(FileNotFoundError, match="clotho_captions_development.csv"):
        avdata.load_clotho(tmp_path, "development")
    with pytest.raises(ValueError, match="valid: development, validation, evaluation"):
        avdata.load_clotho(tmp_path, "test")


def test_msrvtt_loader_on_a_stand_in(tmp_path):
    from c3lib.data import avdata

    root = tmp_path / "msrvtt"
    (root / "videos").mkdir(parents=True)
    info = {"videos": [{"video_id": "video0", "split": "train"}, {"video_id": "video7010", "split": "test"},
                       {"video_id": "video7011", "split": "test"}],
            "sentences": [{"video_id": "video7010", "caption": "a man is cooking"},
                          {"video_id": "video0", "caption": "a cat plays"},
                          {"video_id": "video7010", "caption": "someone cooks food"},
                          {"video_id": "video7011", "caption": "cars race"}]}
    (root / "videodatainfo.json").write_text(json.dumps(info))
    for v in ("video0", "video7010", "video7011"):
        (root / "videos" / f"{v}.mp4").write_bytes(b"\0")
    test = avdata.load_msrvtt(tmp_path, "test")
    assert [p.stem for p in test.paths] == ["video7010", "video7011"]
    assert test.captions == [["a man is cooking", "someone cooks food"], ["cars race"]]
    (root / "videos" / "video7011.mp4").unlink()
    with pytest.raises(FileNotFoundError, match="videos/<video_id>.mp4"):
        avdata.load_msrvtt(tmp_path, "test")
    assert len(avdata.load_msrvtt(tmp_path, "train")) == 1


def test_imagebind_weights_and_package_errors_say_what_to_fetch(tmp_path, monkeypatch):
    from c3lib.encoders import imagebind as ib

    monkeypatch.setenv("C3_WEIGHTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}/imagebind_huge.pth.*fetch imagebind_huge.pth"):
        ib.load_imagebind()
    stand_in = tmp_path / "imagebind_huge.pth"
    torch.save({"w": torch.zeros(1)}, stand_in)
    assert ib.weights_path() == stand_in
    try:
        import imagebind  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install imagebind-unofficial==0.1.1"):
            ib.load_imagebind(stand_in)
    else:  # the package is there: the stand-in is not ImageBind's checkpoint and must be refused
        with pytest.raises(RuntimeError):
            ib.load_imagebind(stand_in, device="cpu")


def test_paper_preset_stops_on_missing_data_before_loading_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("C3_WEIGHTS", str(tmp_path / "weights"))
    cfg = make_config(ch.OtherModalitiesConfig, "paper", {"modalities": ["audio"]}, data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="clotho_captions_development.csv is missing: fetch Clotho"):
        ch.run(cfg)


def test_paper_preset_with_data_but_no_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("C3_WEIGHTS", str(tmp_path / "weights"))
    root = tmp_path / "clotho"
    for split in ("development", "evaluation"):
        root.mkdir(exist_ok=True)
        (root / f"clotho_captions_{split}.csv").write_text(
            "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\na.wav,rain,rain falls,drops,storm,wet\n")
        _write_wav(root / split / "a.wav")
    cfg = make_config(ch.OtherModalitiesConfig, "paper", {"modalities": ["audio"]}, data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"weights/imagebind_huge.pth: fetch imagebind_huge.pth"):
        ch.run(cfg)
