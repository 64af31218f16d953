"""Chapter 09 (other modalities): paired claims on constructed per-item scores, the page's sentences,
retargeting a decoder without changing it, config checks, and the bound space at smoke (bound to the space's
own image tower)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from c3lib import paper
from c3lib.captioner import Captioner, CaptionerSpec, ClipCap
from c3lib.transform import C3Transform
from c3lib.chapters import ch09_other_modalities as ch
from c3lib.config import ConfigError, RunContext, make_config


def _runs(means: dict[str, dict[str, float]], seeds=(0, 1, 2), n: int = 200, spread: float = 0.0) -> list[dict]:
    """Runs whose per-item ROUGE-L has the given mean per (modality, variant): a difficulty per item shared
    by every variant (paired), plus independent noise of ``spread`` per seed and item."""
    rng = np.random.default_rng(0)
    hard = rng.normal(0.0, 10.0, size=n)
    hard -= hard.mean()
    out = []
    for mod, per in means.items():
        for v, mu in per.items():
            for s in seeds:
                noise = rng.normal(0.0, spread, size=n)
                out.append({"modality": mod, "variant": v, "seed": s,
                            "items": {"ROUGE-L": list(mu + hard + noise - noise.mean())}})
    return out


def _words(found) -> dict[str, str]:
    return {v.key: v.verdict for v in found}


def test_claims_hold_on_the_papers_own_numbers():
    rouge_l = paper.TABLE4_METRICS.index("ROUGE-L")
    table = {m: {v: t[rouge_l] for v, t in per.items()} for m, per in paper.TABLE4.items()}
    found = ch.claims(_runs(table, spread=1.0), ch.MODALITIES)
    assert len(found) == 6 * len(ch.MODALITIES)
    assert {v.verdict for v in found} == {"held"}, [(v.key, v.interval()) for v in found if v.verdict != "held"]
    best = next(v for v in found if v.key == "v_audio_best")
    assert best.statistic.startswith("ROUGE-L, C3 − baseline") and best.n == 200 and best.seeds == 3
    assert abs(best.effect - (23.0 - 21.4)) < 1e-9  # audio: the weakest part is C3 − C2-collapse


def test_claims_fail_or_stay_open_where_they_should():
    found = _words(ch.claims(_runs({
        "audio": {"C1": 30.0, "C2-collapse": 20.0, "C2-corrupt": 25.0, "C3": 28.0},  # C1 best: not held
        "video": {"C1": 10.0, "C2-collapse": 20.0, "C2-corrupt": 30.0, "C3": 30.0},  # C3 ties corrupt
    }, spread=3.0), ("audio", "video")))
    assert found["v_audio_c3_c1"] == found["v_audio_best"] == found["v_audio_collapse"] == "not held"
    assert found["v_audio_c3_collapse"] == found["v_audio_c3_corrupt"] == "held"
    assert found["v_video_c3_corrupt"] == found["v_video_best"] == "within noise"
    assert found["v_video_c3_c1"] == found["v_video_corrupt"] == "held"


def test_one_seed_gives_item_noise_only_and_a_missing_variant_is_not_run():
    found = ch.claims(_runs({"image": {"C1": 10.0, "C3": 20.0}}, seeds=(0,)), ("image",))
    words = _words(found)
    assert words["v_image_c3_c1"] == "held" and words["v_image_best"] == "not run at this preset"
    assert words["v_image_c3_collapse"] == words["v_image_collapse"] == "not run at this preset"
    one = next(v for v in found if v.key == "v_image_c3_c1")
    assert one.seeds == 1 and "one seed" in one.method


def test_the_page_states_the_verdicts_it_computed():
    runs = _runs({"image": {"C1": 30.0, "C2-collapse": 20.0, "C2-corrupt": 35.0, "C3": 40.0}}, spread=1.0)
    for r in runs:
        r.update({k: float(np.mean(r["items"]["ROUGE-L"])) for k in ch.METRICS})
    found = ch.claims(runs, ("image",))
    cfg = make_config(ch.OtherModalitiesConfig, "smoke", {"modalities": ["image"]})
    b = {"image": {"R@1": 0.5, "R@5": 0.9, "chance_R@1": 0.01, "chance_R@5": 0.05, "gap_length": 0.3}}
    out = {"binding": b, "summary": ch.summarise(runs), "n_test": 200, "space": {"dim": 64}, "timing": {}}
    prose, md = ch.page(out, found, cfg)
    assert "collapse alone improves on C1: **not held**" in md["table4_lines"]
    assert "C3 improves on every baseline: **held**" in md["table4_lines"]
    assert "corrupt alone improves on C1: **held**" in md["table4_lines"]
    assert "image 5 of 6" in md["beside"] and "shorter than CLIP's 0.83" in md["beside"]
    assert prose["p_audio_c1"] == paper.TABLE4["audio"]["C1"][2] and prose["img_r1"] == 0.5


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
    assert set(ch.EXPRESSIBLE) == set(ch.MODALITIES) == set(paper.TABLE4)


def test_bound_space_loads_chapter05s_towers_bound_to_world_clips_image_head(tmp_path, monkeypatch):
    """Fails if the audio or video tower is bound to any image head but world-clip's, or if loading them
    changes that head; the control binds to a fresh head and retrieves text no better than chance allows."""
    from c3lib import binding, spaces

    torch.set_num_threads(1)
    monkeypatch.setenv("C3_RUNS", str(tmp_path))
    cfg = make_config(ch.OtherModalitiesConfig, "smoke", {"seeds": (0,)})
    space = spaces.load_or_train_space("world-clip", RunContext("smoke"), progress=False)
    sha = binding.weights_sha(space["model"].tower_a)
    bs = ch.bound_space(cfg, 32)
    assert binding.weights_sha(bs["space"]["model"].tower_a) == sha, "binding changed the space's image head"
    ccfg = space["config"]
    for mod in ("audio", "video"):
        folder = spaces.run_dir(ccfg, f"world-clip-{mod}")
        assert (folder / "model.safetensors").exists(), f"{mod} was not bound in chapter 05's store"
        assert bs["test"][mod].shape == bs["test"]["text"].shape == (32, ccfg.clip_dim)
    manifest = json.loads((tmp_path / ch.CHAPTER / "world-clip-smoke" / "bind-audio-fresh-image" / "seed0" /
                           "manifest.json").read_text())
    assert manifest["image_tower_sha256"] != sha, "the control is bound to a fresh head, not world-clip's"
    again = ch.bound_space(cfg, 32)
    assert again["binds"]["audio (fresh image head)"]["loaded"]
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


def test_chapter09_asks_for_chapter06s_own_decoders(monkeypatch):
    """The decoders chapter 09 retargets are chapter 06's: the same task and the same settings per task (the
    CLIP spaces' decoders train to chapter 06's epoch ceiling), so the run store hands back the very runs."""
    from c3lib.chapters.ch09_other_modalities import world as w

    asked = []
    task = w.CrossModalTask(name="world-clip", train_emb=np.zeros((2, 4)), train_targets=["a", "b"],
                            val_emb=np.zeros((1, 4)), val_targets=["a"], unpaired_emb=np.zeros((2, 4)),
                            test_emb=np.zeros((1, 4)), test_refs=[["a"]], test_ids=["0"])
    monkeypatch.setattr(w, "train_or_load", lambda t, v, s, tcfg, noise: asked.append(tcfg) or (None, False))
    cfg = make_config(ch.OtherModalitiesConfig, "default", {"seeds": (0,), "variants": ("C1",),
                                                             "setup": {"clip_max_epochs": 7}})
    w.chapter06_decoders(cfg, task_fields=vars(task))
    assert asked == [cfg.setup.decoder_for("world-clip")] and asked[0] != cfg.setup.decoder
