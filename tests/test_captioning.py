"""Captioning tasks, saved/resumed decoder runs, the ablation summary and the evaluate round trip.

A tiny world-like task is built by hand (random 8x8 images through a random world image tower, template
captions), so these run without data in a few seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from c3lib import decoders, tasks
from c3lib.config import RunContext
from c3lib.chapters.ch06_captioning import claims
from c3lib.decoders import run_path, summarise, train_or_load
from c3lib.tasks import CrossModalTask, write_flickr_folder
from c3lib.encoders.towers import ImageTower
from c3lib.evaluate import evaluate_run
from c3lib.trainer import TrainConfig, finetune_captioner

WORDS = ["red", "blue", "green", "small", "large"]
SHAPES = ["circle", "square", "ring"]


def _captions(rng, n):
    return [f"a {WORDS[rng.integers(5)]} {SHAPES[rng.integers(3)]} ." for _ in range(n)]


@pytest.fixture(scope="module")
def tiny_task():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    tower = ImageTower(16)
    pixels = rng.integers(0, 256, size=(12, 8, 8, 3), dtype=np.uint8)
    with torch.no_grad():
        img = tower(torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255).numpy().astype(np.float64)
    caps = _captions(rng, 60)
    text = rng.normal(size=(60, 16)) + 2.0  # a text cloud away from the images: a modality gap
    return CrossModalTask(
        name="tiny", train_emb=text[:48], train_targets=caps[:48], val_emb=text[48:], val_targets=caps[48:],
        unpaired_emb=img, test_emb=img, test_refs=[[c] for c in _captions(rng, 12)],
        test_ids=[f"img-{i:02d}" for i in range(12)], test_pixels=pixels,
        encoder={"name": "world-image-tower", "dim": 16, "image_size": 8, "weights": "image_tower.safetensors"},
        encoder_files={"image_tower.safetensors": {k: v.numpy() for k, v in tower.state_dict().items()}})


TCFG = TrainConfig(n_layer=1, n_embd=32, n_head=2, num_epochs=3, batch_size=16, warmup_steps=2, lr=3e-3)


def test_runs_are_saved_reused_and_retrained_when_settings_change(tiny_task, tmp_path, monkeypatch):
    calls = []
    import c3lib.trainer as tc

    def counting(*a, **k):
        calls.append(1)
        return tc_fit(*a, **k)

    tc_fit = tc.fit_captioner
    monkeypatch.setattr(tc, "fit_captioner", counting)
    cap1, log1 = train_or_load(tiny_task, "C3", 0, TCFG, 0.1, root=tmp_path)
    folder = run_path("tiny", "C3", 0, tmp_path)
    assert (folder / "config.json").exists() and (folder / "image_tower.safetensors").exists()
    cap2, log2 = train_or_load(tiny_task, "C3", 0, TCFG, 0.1, root=tmp_path)  # same settings: loaded
    assert len(calls) == 1 and log2 == log1
    x = tiny_task.test_emb
    assert cap1.caption_raw(x) == cap2.caption_raw(x)
    train_or_load(tiny_task, "C3", 0, TCFG, 0.2, root=tmp_path)  # another noise level: retrained
    assert len(calls) == 2


def test_evaluate_command_matches_the_chapter_score(tiny_task, tmp_path):
    cap, _ = train_or_load(tiny_task, "C3", 1, TCFG, 0.1, root=tmp_path)
    chapter, preds = decoders.score(cap, tiny_task, meteor=False)
    folder = write_flickr_folder(tiny_task, tmp_path / "fresh")
    assert len((folder / "captions.tsv").read_text().splitlines()) == 1 + 12
    ev = evaluate_run(run_path("tiny", "C3", 1, tmp_path), folder, "test", meteor=False)
    assert ev["n_images"] == 12
    assert [e["caption"] for e in ev["examples"]] == preds[:10]
    for k, v in ev["metrics"].items():
        assert (v is None and chapter[k] is None) or abs(v - chapter[k]) < 1e-6, k


def test_summary_mean_std():
    runs = [{"task": "t", "variant": v, "seed": s, "CIDEr": c, "SPICE": None}
            for v, cs in {"C1": (10, 12), "C2-collapse": (14, 16), "C2-corrupt": (9, 9), "C3": (20, 22)}.items()
            for s, c in enumerate(cs)]
    summ = summarise(runs)
    c3 = next(r for r in summ if r["variant"] == "C3")
    assert c3["CIDEr"] == 21 and c3["CIDEr std"] == 1 and c3["SPICE"] is None and c3["n_seeds"] == 2


def _runs(task, scores):
    """Run rows of one space: variant -> one per-item CIDEr array per seed."""
    return [{"task": task, "variant": v, "seed": s, "items": {"CIDEr": list(x)}}
            for v, per in scores.items() for s, x in enumerate(per)]


def test_claims_are_paired_verdicts_per_space():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 40, size=60)  # per-image difficulty: cancels in the paired differences
    wobble = np.tile([3.0, -3.0], 30)  # mean 0, large per image: an ordering inside the noise

    def seeds(shift, k=3):
        return [base + shift + rng.normal(0, 0.5, 60) for _ in range(k)]

    runs = _runs("clear", {"C1": seeds(0), "C2-collapse": seeds(5), "C2-corrupt": seeds(10), "C3": seeds(15),
                           "supervised": seeds(30)})
    runs += _runs("mixed", {"C1": [base], "C2-collapse": [base + wobble], "C2-corrupt": [base - 8],
                            "C3": [base + 20]})
    runs += _runs("ablation", {"C1": [base], "C3": [base + 4]})
    found = claims(runs, ["clear", "mixed", "ablation"])
    got = {v.key: v for v in found}
    assert [v.space for v in found] == ["clear"] * 5 + ["mixed"] * 5 + ["ablation"]
    assert got["v_ablation_gain"].verdict == "held" and got["v_ablation_gain"].effect == pytest.approx(4.0)
    assert {k: got[f"v_clear_{k}"].verdict for k in ("best", "collapse", "corrupt", "order", "gap")} == \
        dict.fromkeys(("best", "collapse", "corrupt", "order", "gap"), "held")
    clear = got["v_clear_collapse"]
    assert clear.n == 60 and clear.seeds == 3 and clear.low < 5 < clear.high and "seeds" in clear.method
    assert got["v_mixed_collapse"].verdict == "within noise" and abs(got["v_mixed_collapse"].effect) < 1e-9
    assert got["v_mixed_corrupt"].verdict == "not held" and got["v_mixed_corrupt"].high < 0
    assert got["v_mixed_order"].verdict == "not held"  # corrupt below collapse: Table 2's order reversed
    assert got["v_mixed_best"].verdict == "held" and "weakest" in got["v_mixed_best"].statistic
    assert got["v_mixed_gap"].verdict == "not run at this preset"  # no supervised decoder in that space
    assert got["v_mixed_best"].seeds == 1 and "one seed" in got["v_mixed_best"].method


def test_claims_refuse_runs_without_per_item_scores_on_the_same_images():
    runs = _runs("t", {"C1": [np.ones(5)], "C3": [np.ones(4)]})
    with pytest.raises(ValueError, match="same n items"):
        claims(runs, ["t"])


def test_finetune_on_images_lowers_their_loss_and_checks_inputs(tiny_task):
    from c3lib.trainer import encode_captions, text_loss
    cap, _ = train_or_load(tiny_task, "C3", 0, TCFG, 0.1, save=False)
    caps = [r[0] for r in tiny_task.test_refs]
    x = torch.as_tensor(cap.transform.transform(tiny_task.test_emb, "target", train=False), dtype=torch.float32)
    ids = encode_captions(cap.tokenizer, caps)
    before = text_loss(cap.model, x, ids, cap.tokenizer.pad_id, 64)
    tuned = finetune_captioner(cap, tiny_task.test_emb, caps, TrainConfig(num_epochs=8, batch_size=4, lr=3e-3,
                                                                         warmup_steps=1, patience=8))
    assert text_loss(tuned.model, x, ids, cap.tokenizer.pad_id, 64) < before - 0.1
    assert text_loss(cap.model, x, ids, cap.tokenizer.pad_id, 64) == pytest.approx(before)  # original untouched
    with pytest.raises(ValueError, match="fitted on dim 16"):
        finetune_captioner(cap, np.ones((3, 5)), caps[:3], TCFG)
    with pytest.raises(ValueError, match="NaN"):
        finetune_captioner(cap, np.full((3, 16), np.nan), caps[:3], TCFG)
    with pytest.raises(ValueError, match="as many captions"):
        finetune_captioner(cap, tiny_task.test_emb, [], TCFG)


def test_bad_task_requests():
    with pytest.raises(ValueError, match="unknown captioning task 'nope'"):
        tasks.build_task("nope", RunContext("smoke"), 10, 2, 2)
    with pytest.raises(ValueError, match="only 5 exist"):
        tasks._split_texts(np.zeros((5, 2)), ["a"] * 5, 4, 2, 0)
    with pytest.raises(ValueError, match="text_source"):
        tasks.flickr_task("imagenet", RunContext("smoke"), 10, 2, 2)


def test_saved_run_is_plain_json_and_safetensors(tiny_task, tmp_path):
    train_or_load(tiny_task, "C1", 0, TCFG, 0.1, root=tmp_path)
    folder = run_path("tiny", "C1", 0, tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["extra"]["variant"] == "C1" and cfg["extra"]["encoder"]["name"] == "world-image-tower"
    assert not list(folder.glob("*.pt")) and not list(folder.glob("*.tmp*"))


def test_coco_clip_task_on_a_fake_karpathy_copy(tmp_path, monkeypatch):
    """The paper's task end to end without downloads: random-init ViT-B-32 stands in for 'openai'."""
    from test_geometry_stats import _fake_karpathy, _no_download

    from c3lib.data.loaders import DataNotFoundError
    from c3lib.encoders import openclip as oc

    _no_download(monkeypatch)
    with pytest.raises(DataNotFoundError, match="dataset_coco.json"):
        tasks.build_task("coco-clip", RunContext("paper", 0, str(tmp_path)), 0, 2, 5)
    _fake_karpathy(tmp_path)
    monkeypatch.setenv("C3_CACHE", str(tmp_path / "cache"))
    real_load, loads = oc.load_openclip, []

    def stand_in(name, weights=None, seed=0, allow_download=False):
        assert (name, weights, allow_download) == ("ViT-B-32", "openai", True)
        loads.append(name)
        return real_load(name, None, seed=0)

    monkeypatch.setattr(oc, "load_openclip", stand_in)
    task = tasks.build_task("coco-clip", RunContext("paper", 0, str(tmp_path)), 0, 2, 5, progress=False)
    assert task.run_name == "coco-clip-paper" and task.encoder["name"] == "openclip"
    assert task.train_emb.shape == (6, 512) and len(task.val_targets) == 2  # 4 train+restval images x 2 captions
    assert task.test_emb.shape == (1, 512) and task.test_refs == [["A picture number 3.", "Another caption 3."]]
    assert not set(task.train_targets) & set(task.val_targets) and loads == ["ViT-B-32"]
    tasks.build_task("coco-clip", RunContext("paper", 0, str(tmp_path)), 0, 2, 5, progress=False)
    assert loads == ["ViT-B-32"]  # every embedding cached: the model is not loaded again


def test_supervised_ceiling_trains_on_whole_training_images_and_is_saved(tiny_task, tmp_path):
    import dataclasses

    rng = np.random.default_rng(1)
    task = dataclasses.replace(tiny_task, pair_targets=[_captions(rng, 2) for _ in range(12)])
    tr_e, tr_c, va_e, va_c = decoders.supervised_pairs(task, n_val_captions=4, seed=0)
    assert len(tr_c) == 20 and len(va_c) == 4  # whole images: two held out with both their captions
    train_rows = {tuple(r) for r in tr_e}
    assert not train_rows & {tuple(r) for r in va_e}  # no image on both sides
    assert train_rows | {tuple(r) for r in va_e} == {tuple(r) for r in task.unpaired_emb}
    cap, log = decoders.train_or_load_supervised(task, 0, TCFG, 4, root=tmp_path)
    folder = run_path("tiny", "supervised", 0, tmp_path)
    assert (folder / "image_tower.safetensors").exists() and cap.extra["variant"] == "supervised"
    again, log2 = decoders.train_or_load_supervised(task, 0, TCFG, 4, root=tmp_path)
    assert log2 == log and again.caption_raw(task.test_emb) == cap.caption_raw(task.test_emb)


def test_gap_cost_from_a_constructed_summary():
    from c3lib.chapters.ch06_captioning import gap_cost

    summary = [{"task": "s", "variant": v, "CIDEr": x, "n_seeds": 3}
               for v, x in (("C1", 20.0), ("C3", 50.0), ("supervised", 80.0))]
    summary.append({"task": "no-ceiling", "variant": "C1", "CIDEr": 5.0, "n_seeds": 1})
    summary += [{"task": "ablation", "variant": v, "CIDEr": x, "n_seeds": 1} for v, x in (("C1", 10.0), ("C3", 4.0))]
    out = gap_cost(summary, {"s": {"modality_gap": 0.9}, "no-ceiling": {"modality_gap": 0.1},
                             "ablation": {"modality_gap": 0.2}})
    assert set(out) == {"s", "ablation"}  # C1 alone says nothing; C1 and C3 give the gain without a reference
    assert out["ablation"]["gap_cost"] is None and out["ablation"]["C3_gain_over_C1"] == pytest.approx(-6.0)
    assert out["s"]["gap_cost"] == pytest.approx(0.75) and out["s"]["C3_gain_over_C1"] == pytest.approx(30.0)
    assert out["s"]["C3_share_of_ceiling"] == pytest.approx(0.625) and out["s"]["modality_gap"] == 0.9


def test_supervised_pairs_can_cap_the_captions_read(tiny_task):
    import dataclasses

    rng = np.random.default_rng(2)
    task = dataclasses.replace(tiny_task, pair_targets=[_captions(rng, 2) for _ in range(12)])
    tr_e, tr_c, va_e, va_c = decoders.supervised_pairs(task, 4, 0, n_train_captions=6)
    assert len(tr_c) == 6 and len(va_c) == 4 and not {tuple(r) for r in tr_e} & {tuple(r) for r in va_e}


def test_supervised_ceiling_reads_every_training_image_not_the_text_decoders_budget(tiny_task, tmp_path,
                                                                                     monkeypatch):
    import dataclasses

    from c3lib import trainer

    rng = np.random.default_rng(3)
    task = dataclasses.replace(tiny_task, pair_targets=[_captions(rng, 5) for _ in range(12)],
                               train_targets=tiny_task.train_targets[:10], train_emb=tiny_task.train_emb[:10])
    seen = {}
    real = trainer.fit_captioner

    def spy(emb, caps, *a, **k):
        seen["n"] = len(caps)
        return real(emb, caps, *a, **k)
    monkeypatch.setattr(trainer, "fit_captioner", spy)
    decoders.train_or_load_supervised(task, 0, TCFG, 5, root=tmp_path)
    assert seen["n"] == 55  # 11 of 12 images (one held out for validation) x 5 captions, not the text budget of 10


def test_grid_takes_variants_and_seeds_per_task_and_per_variant(tiny_task, tmp_path, monkeypatch):
    from c3lib import parallel

    asked = []
    monkeypatch.setattr(parallel, "pool_map", lambda fn, jobs, *a, **k: asked.extend(jobs) or
                        [({"task": t, "variant": v, "seed": s}, ["x"] * 12) for t, v, s in jobs])
    monkeypatch.setattr(decoders.CaptionSetup, "task", lambda self, name, ctx, progress=False: tiny_task)
    monkeypatch.setattr(decoders, "modality_gap", lambda task: 0.5)
    decoders.run_grid(decoders.CaptionSetup(), RunContext(), ["a", "b"],
                      {"a": ["C1", "C3", "supervised"], "b": ["C1", "C3"]}, {"a": [0, 1], "b": [0]},
                      variant_seeds={"supervised": [0]})
    assert asked == [("a", "C1", 0), ("a", "C1", 1), ("a", "C3", 0), ("a", "C3", 1), ("a", "supervised", 0),
                     ("b", "C1", 0), ("b", "C3", 0)]


def test_chapter06_trains_only_c1_and_c3_on_ablation_spaces_and_one_supervised_seed(monkeypatch):
    from c3lib.chapters import ch06_captioning as ch06
    from c3lib.config import make_config

    cfg = make_config(ch06.CaptioningConfig, "default")
    got = {}

    def fake_grid(setup, ctx, tasks_, variants, seeds, *a, variant_seeds=None, **k):
        got.update(variants=variants, seeds=seeds, variant_seeds=variant_seeds)
        raise RuntimeError("stop here")
    monkeypatch.setattr(ch06, "run_grid", fake_grid)
    with pytest.raises(RuntimeError, match="stop here"):
        ch06.run(cfg, progress=False)
    for task in cfg.tasks:
        ablation = task in cfg.ablation_tasks
        assert list(got["variants"][task]) == (["C1", "C3"] if ablation else list(cfg.variants)), task
        assert list(got["seeds"][task]) == ([0] if ablation else [0, 1, 2]), task
    assert list(got["variant_seeds"]["supervised"]) == [0]


def test_gap_cost_is_none_when_the_ceiling_scores_zero():
    from c3lib.chapters.ch06_captioning import gap_cost

    summary = [{"task": "s", "variant": v, "CIDEr": 0.0, "n_seeds": 1} for v in ("C1", "C3", "supervised")]
    out = gap_cost(summary, {"s": {"modality_gap": 0.5}})["s"]
    assert out["gap_cost"] is None and out["C3_over_C1"] is None and out["C3_gain_over_C1"] == 0.0


def test_grid_jobs_give_the_same_numbers_in_a_pool_of_two_and_in_process(tiny_task, tmp_path):
    """run_grid's decoders are pool jobs: 2 spawned workers train and score them bit for bit as this process
    does (each job seeds itself and runs at the book's threads), whichever worker takes which job."""
    from c3lib import parallel

    setup = decoders.CaptionSetup(decoder=TCFG)
    jobs = [("tiny", "C1", 0), ("tiny", "C3", 0), ("tiny", "C3", 1)]
    rows = {}
    for workers in (1, 2):
        root = tmp_path / f"workers{workers}"
        rows[workers] = parallel.pool_map(decoders.grid_job, jobs, workers, decoders._init_grid,
                                          (setup, {"tiny": tiny_task}, False, root))
    for (a, preds_a), (b, preds_b), job in zip(rows[1], rows[2], jobs):
        assert preds_a == preds_b and {k: v for k, v in a.items() if k != "run_dir"} == \
            {k: v for k, v in b.items() if k != "run_dir"}, job
        weights = [sorted(run_path(*job, tmp_path / f"workers{w}").glob("*.safetensors")) for w in (1, 2)]
        assert weights[0] and [p.read_bytes() for p in weights[0]] == [p.read_bytes() for p in weights[1]], job
    losses = [r["best_val_loss"] for r, _ in rows[1]]
    assert len(set(losses)) == 3, f"variants and seeds must train different decoders: {losses}"
