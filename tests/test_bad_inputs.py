"""Bad inputs, tried as a new user would: every one must give a clear error or a documented result.

Each case is classified:
- ``clear``: a ValueError / TypeError / OSError / FloatingPointError / RuntimeError raised by c3lib itself (not
  from inside a library), naming what it must (``mention``), or argparse's usage error;
- ``ok``: no error, and the result is the documented one (the case's ``check`` says so);
- ``obscure``: any other exception, one raised inside a library, a message that does not name the input, or an
  error where the case marks its result as due (:func:`due`);
- ``silent``: no error but a wrong result (or a result where an error was due).

``pytest tests/test_bad_inputs.py`` asserts every case is ``clear`` or ``ok``. Run as a script it prints the
table per category (``python tests/test_bad_inputs.py``); with ``PYTHONPATH`` pointing at another checkout
it measures that one (the harness uses only the public API of the starting commit).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

CASES: list[tuple[str, str, object, object, str]] = []  # (category, name, thunk, check, mention)
ERROR = "error"


def case(category: str, name: str, fn, check=ERROR, mention: str = "") -> None:
    CASES.append((category, name, fn, check, mention))


def due(check):
    """Mark a case's check as a result that is due: an error there, however clear, is a failure (``obscure``)."""
    def checked(result):
        return check(result)
    checked.due = True
    return checked


def classify(fn, check, mention: str) -> tuple[str, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fn()
    except SystemExit as err:
        return ("clear" if err.code == 2 and not getattr(check, "due", False) else "obscure"), f"SystemExit({err.code})"
    except Exception as err:  # noqa: BLE001 - classifying is the point
        frames = traceback.extract_tb(err.__traceback__)
        where = frames[-1].filename if frames else ""
        ours = "c3lib" in Path(where).parts or "/c3lib/" in where
        text = f"{type(err).__name__}: {err}"
        typed = isinstance(err, (ValueError, TypeError, OSError, FloatingPointError, RuntimeError))
        named = not mention or re.search(mention, str(err), re.I)
        return ("clear" if ours and typed and named and not getattr(check, "due", False) else "obscure"), text[:160]
    if check == ERROR:
        return "silent", f"returned {str(result)[:100]}"
    try:
        good = bool(check(result))
    except Exception as err:  # noqa: BLE001
        return "silent", f"check failed: {type(err).__name__}: {err}"
    return ("ok" if good else "silent"), f"returned {str(result)[:100]}"


def finite(result) -> bool:
    arr = np.asarray(result.detach().cpu() if hasattr(result, "detach") else result, dtype=np.float64)
    return bool(np.isfinite(arr).all())


# ---- the C3 transform ---------------------------------------------------------------------------------------
def _transform_cases() -> None:
    import torch

    from c3lib.transform import C3Transform

    rng = np.random.default_rng(0)
    src, tgt = rng.normal(size=(20, 6)) + 1, rng.normal(size=(20, 6)) - 1

    def fit(**kw):
        return lambda: C3Transform(**kw).fit(src, tgt).transform(src)
    for v in (float("nan"), float("inf"), -float("inf"), -0.1, "0.1", None, True, 1j):
        case("transform", f"noise_std={v!r}", fit(noise_std=v), mention="noise_std")
    for v in (-1, 1.5, "0"):
        case("transform", f"seed={v!r}", fit(seed=v), mention="seed")
    for v in ("yes", None, 2):
        case("transform", f"collapse={v!r}", fit(collapse=v), mention="collapse")
    case("transform", "span_only='no'", fit(span_only="no"), mention="span_only")
    t = C3Transform().fit(src, tgt)
    bad_x = {"1-d": src[0], "3-d": src[None], "empty": src[:0], "NaN": np.where(src > 2, np.nan, src),
             "inf": np.where(src > 2, np.inf, src), "zero row": np.vstack([src[:3], np.zeros((1, 6))]),
             "strings": np.array([["a"] * 6] * 3), "bools": src > 1, "complex": src + 1j,
             "ragged": [[1.0, 2.0], [1.0]], "wrong dim": src[:, :4], "None": None, "dict": {"a": 1}}
    for name, x in bad_x.items():
        case("transform", f"transform X {name}", lambda x=x: t.transform(x, train=False))
        case("transform", f"fit X_source {name}", lambda x=x: C3Transform().fit(x, tgt))
    case("transform", "unfitted transform", lambda: C3Transform().transform(src), mention="fit")
    case("transform", "modality='image'", lambda: t.transform(src, modality="image"), mention="modality")
    case("transform", "train=True on target", lambda: t.transform(tgt, modality="target", train=True))
    case("transform", "X_target other dim", lambda: C3Transform().fit(src, tgt[:, :3]))
    case("transform", "variant 'C4'", lambda: C3Transform.variant("C4"), mention="C4")
    one = src[:1]
    case("transform", "fit on 1 sample, collapse only, transform it",
         lambda: C3Transform.variant("C2-collapse").fit(one, tgt).transform(one, train=False))
    same = np.repeat(src[:1], 5, axis=0)
    case("transform", "fit on identical rows, collapse only, transform them",
         lambda: C3Transform.variant("C2-collapse").fit(same, tgt).transform(same, train=False))
    case("transform", "fit on identical rows, C3 with noise: finite, unit rows",
         lambda: C3Transform.variant("C3").fit(same, tgt).transform(same),
         check=lambda r: finite(r) and np.allclose(np.linalg.norm(r, axis=1), 1))
    case("transform", "span-only with a zero gap",
         lambda: C3Transform.variant("span-only").fit(src, src.copy()).transform(src), mention="gap")
    case("transform", "span-only without X_target", lambda: C3Transform.variant("span-only").fit(src))
    ref = C3Transform.variant("C2-collapse").fit(src.round(), tgt.round()).transform(src.round(), train=False)
    case("transform", "torch int64 input = its float result",
         lambda: C3Transform.variant("C2-collapse").fit(src.round(), tgt.round()).transform(
             torch.as_tensor(src.round(), dtype=torch.int64), train=False),
         check=lambda r: np.allclose(np.asarray(r, dtype=np.float64), ref, atol=1e-6))
    case("transform", "numpy int input = its float result",
         lambda: C3Transform.variant("C2-collapse").fit(src.round().astype(int), tgt.round()).transform(
             src.round().astype(int), train=False), check=lambda r: np.allclose(r, ref))
    case("transform", "torch bool input",
         lambda: t.transform(torch.as_tensor(src > 1), train=False))
    case("transform", "set_params(noise_std=nan) after fit",
         lambda: C3Transform().fit(src, tgt).set_params(noise_std=float("nan")).transform(src), mention="noise_std")


# ---- geometry statistics -------------------------------------------------------------------------------------
def _geometry_cases() -> None:
    from c3lib import geometry as g

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(60, 5)) + 1, rng.normal(size=(60, 5)) - 1
    for v in (0, 1, -5, 2.5, "10", None, True, 61):
        case("geometry", f"gap_statistics group_size={v!r}", lambda v=v: g.gap_statistics(x, y, v), mention="group")
    case("geometry", "gap_statistics one group (n < 2 groups)", lambda: g.gap_statistics(x[:40], y[:40], 30).summary(),
         check=lambda s: all(math.isfinite(v) for v in s.values()))
    for v in (-1, 1.5):
        case("geometry", f"gap_statistics seed={v!r}", lambda v=v: g.gap_statistics(x, y, 20, v), mention="seed")
    bad = {"shape mismatch": (x, y[:, :3]), "unpaired n": (x, y[:50]), "NaN": (np.where(x > 2, np.nan, x), y),
           "zero row": (np.vstack([x[:-1], np.zeros((1, 5))]), y), "1-d": (x[0], y[0]), "strings": (x.astype(str), y)}
    for name, (a, b) in bad.items():
        case("geometry", f"gap_statistics {name}", lambda a=a, b=b: g.gap_statistics(a, b, 20))
        case("geometry", f"centroid_gap {name}", lambda a=a, b=b: g.centroid_gap(a, b),
             check=(lambda r: finite(r)) if name == "unpaired n" else ERROR)  # means of unpaired data: valid
    for v in (float("nan"), 0.0, 1.5, -1.0, "0.9", None):
        case("geometry", f"effective_dimension threshold={v!r}", lambda v=v: g.effective_dimension(x, v),
             mention="threshold")
    case("geometry", "effective_dimension of identical rows = 0", lambda: g.effective_dimension(np.ones((5, 3))),
         check=lambda r: r == 0)
    case("geometry", "mean_pairwise_cosine one row", lambda: g.mean_pairwise_cosine(x[:1]))
    case("geometry", "normalize zero row", lambda: g.normalize(np.zeros((2, 3))))
    for kw in ({"depth": 0}, {"width": 1}, {"every": 0}, {"n_inputs": 1}):
        case("geometry", f"mlp_collapse_sweep {kw}", lambda kw=kw: g.mlp_collapse_sweep(**{"depth": 2, "width": 8,
                                                                                          "n_inputs": 20, **kw}))


# ---- caption metrics -----------------------------------------------------------------------------------------
def _metric_cases() -> None:
    from c3lib.metrics import caption_metrics, rouge1

    def cm(p, r):
        return lambda: caption_metrics(p, r, meteor=False)
    caps = ["a dog runs on the grass", "two cats sleep"]
    case("metrics", "references as a flat list of strings", cm(caps, caps), mention="list")
    case("metrics", "rouge1 references flat", lambda: rouge1(caps, caps), mention="list")
    case("metrics", "references punctuation only", cm(["a dog"], [["...", "!", " -- ", "…"]]),
         mention="word|reference")
    case("metrics", "references Chinese text: one PTB token, as COCOEvalCap scores it",
         cm(["a dog", "x"], [["一只狗在草地上跑"], ["x"]]), check=lambda m: m["BLEU-1"] < 60 and m["ROUGE-1"] == 50)
    case("metrics", "one of two items with punctuation-only references", cm(caps, [["a dog"], ["?"]]))
    case("metrics", "a punctuation-only reference beside a real one: left out",
         cm(["a dog runs"], [["a dog runs", "..."]]), check=lambda m: m["BLEU-1"] > 99)
    case("metrics", "predictions as a string", cm("a dog", [["a dog"]]))
    case("metrics", "predictions with None", cm([None, "x"], [["a"], ["b"]]))
    case("metrics", "prediction an int", cm([3], [["a"]]))
    case("metrics", "references None", cm(["a"], None))
    case("metrics", "references dict", cm(["a"], {0: ["a"]}))
    case("metrics", "reference item an int", cm(["a"], [[3]]))
    case("metrics", "reference item None", cm(["a"], [[None]]))
    case("metrics", "length mismatch", cm(caps, [["a"]]), mention="predictions")
    case("metrics", "empty", cm([], []))
    case("metrics", "empty reference list", cm(["a"], [[]]))
    case("metrics", "blank references", cm(["a"], [["", "  "]]))
    case("metrics", "identical captions score 100", cm(caps, [[c] for c in caps]),
         check=lambda m: m["BLEU-1"] > 99 and m["ROUGE-L"] > 99)
    case("metrics", "empty prediction scores finite", cm(["", "two cats sleep"], [["a dog"], ["two cats sleep"]]),
         check=lambda m: all(v is None or math.isfinite(v) for v in m.values()))
    case("metrics", "punctuation-only prediction scores finite", cm(["...", "x"], [["a dog"], ["x y"]]),
         check=lambda m: all(v is None or math.isfinite(v) for v in m.values()))


# ---- contrastive training ------------------------------------------------------------------------------------
def _contrastive_cases() -> None:
    import torch
    from torch import nn

    from c3lib.contrastive import PairModel, TrainSpec, train_pair

    gen = torch.Generator().manual_seed(0)
    xa, xb = torch.randn(24, 4, generator=gen), torch.randn(24, 4, generator=gen)

    def tp(spec_kw, a=xa, b=xb, folder=None):
        def run():
            torch.manual_seed(0)
            model = PairModel(nn.Linear(4, 8), nn.Linear(4, 8))
            return train_pair(model, a, b, TrainSpec(**{"num_epochs": 2, "batch_size": 8, **spec_kw}), folder,
                              progress=False)
        return run
    for kw in ({"batch_size": 32}, {"batch_size": 25}, {"batch_size": 1}, {"batch_size": 0}, {"batch_size": -8},
               {"lr": float("inf")}, {"lr": float("nan")}, {"lr": -1.0}, {"lr": 0.0}, {"lr": 1e6},
               {"num_epochs": 0}, {"num_epochs": -1}, {"weight_decay": -1.0}, {"weight_decay": float("nan")},
               {"init_temperature": 0.0}, {"init_temperature": -0.07}, {"init_temperature": float("nan")},
               {"seed": -1}, {"batch_size": 8.5}, {"lr": "1e-3"}):
        case("contrastive", f"TrainSpec {kw}", tp(kw))
    case("contrastive", "xa and xb of different lengths", tp({}, b=xb[:20]))
    case("contrastive", "NaN in xa", tp({}, a=torch.where(xa > 1.5, torch.nan, xa)))
    case("contrastive", "valid settings train finite", tp({}),
         check=lambda h: len(h["loss"]) == 2 and all(map(math.isfinite, h["loss"] + h["temperature"])))


# ---- configs ---------------------------------------------------------------------------------------------------
def _config_cases() -> None:
    from c3lib.config import build, make_config
    from c3lib.spaces import SpaceConfig
    from c3lib.trainer import TrainConfig

    for name in ("n_layer", "n_embd", "n_head", "prefix_len", "batch_size", "num_epochs", "patience"):
        for v in (0, -1):
            case("config", f"TrainConfig {name}={v}", lambda n=name, v=v: build(TrainConfig, "smoke", {n: v}), mention=name)
    for v in (float("nan"), float("inf"), -1e-3, 0.0):
        case("config", f"TrainConfig lr={v}", lambda v=v: build(TrainConfig, "smoke", {"lr": v}), mention="lr")
    case("config", "TrainConfig weight_decay=-1", lambda: build(TrainConfig, "smoke", {"weight_decay": -1.0}))
    case("config", "TrainConfig warmup_steps=-5", lambda: build(TrainConfig, "smoke", {"warmup_steps": -5}))
    for name in ("n_train", "n_test", "image_size", "dim", "num_epochs", "batch_size", "flickr_train"):
        for v in (0, -1):
            case("config", f"SpaceConfig {name}={v}", lambda n=name, v=v: make_config(SpaceConfig, "smoke", {n: v}),
                 mention=name)
    case("config", "SpaceConfig lr=nan", lambda: make_config(SpaceConfig, "smoke", {"lr": float("nan")}))
    case("config", "seed=-1", lambda: make_config(SpaceConfig, "smoke", seed=-1), mention="seed")
    case("config", "overrides preset", lambda: make_config(SpaceConfig, "smoke", {"preset": "paper"}), mention="preset")
    case("config", "unknown key", lambda: make_config(SpaceConfig, "smoke", {"n_trian": 3}), mention="n_trian")
    case("config", "preset 'fast'", lambda: make_config(SpaceConfig, "fast"), mention="fast")
    case("config", "string for int", lambda: make_config(SpaceConfig, "smoke", {"n_train": "100"}))
    case("config", "bool for int", lambda: make_config(SpaceConfig, "smoke", {"n_train": True}))
    case("config", "overrides not a mapping", lambda: make_config(SpaceConfig, "smoke", [("n_train", 3)]))
    try:
        from c3lib.chapters.ch10_gap_shift import GapShiftConfig
        from c3lib.chapters.ch03_alignment_noise_temperature import TemperatureConfig
        from c3lib.decoders import CaptionSetup
    except ImportError:
        return
    case("config", "gap shift var_kept=1.5", lambda: make_config(GapShiftConfig, "smoke", {"var_kept": 1.5}))
    case("config", "gap shift var_kept=0", lambda: make_config(GapShiftConfig, "smoke", {"var_kept": 0.0}))
    case("config", "gap shift norms with nan", lambda: make_config(GapShiftConfig, "smoke", {"norms": [0.0, float("nan")]}))
    case("config", "gap shift n_test=-1", lambda: make_config(GapShiftConfig, "smoke", {"n_test": -1}))
    case("config", "gap shift decoder lr=-1", lambda: make_config(GapShiftConfig, "smoke", {"decoder": {"lr": -1.0}}))
    case("config", "temperature taus with 0", lambda: make_config(TemperatureConfig, "smoke", {"taus": [0.0, 0.1]}))
    case("config", "temperature n=1", lambda: make_config(TemperatureConfig, "smoke", {"n": 1}))
    case("config", "setup noise_std=-0.1", lambda: build(CaptionSetup, "smoke", {"noise_std": -0.1}))
    case("config", "setup n_test_images=0", lambda: build(CaptionSetup, "smoke", {"n_test_images": 0}))
    case("config", "valid override builds", lambda: make_config(GapShiftConfig, "smoke", {"n_test": 7}),
         check=lambda c: c.n_test == 7)


# ---- decoder training and captioning ---------------------------------------------------------------------------
def _decoder_cases() -> None:
    from c3lib.trainer import TrainConfig, fit_captioner
    from c3lib.transform import C3Transform

    rng = np.random.default_rng(2)
    emb = rng.normal(size=(12, 6))
    caps = ["a red ball", "a blue cube", "two green balls"] * 4
    base = dict(n_layer=1, n_embd=16, n_head=2, num_epochs=1, batch_size=4, warmup_steps=1)

    def fc(e=emb, c=caps, **kw):
        return lambda: fit_captioner(e, c, C3Transform.variant("C3"), TrainConfig(**{**base, **kw}), target_emb=e)
    case("decoder", "captions fewer than embeddings", fc(c=caps[:5]))
    case("decoder", "no captions", fc(e=emb[:0], c=[]))
    case("decoder", "captions as one string", fc(c="a red ball"))
    case("decoder", "NaN embedding", fc(e=np.where(emb > 1.5, np.nan, emb)))
    for kw in ({"lr": float("nan")}, {"lr": float("inf")}, {"lr": -1.0}, {"batch_size": 0}, {"num_epochs": 0},
               {"patience": 0}, {"n_head": 0}, {"prefix_len": 0}):
        case("decoder", f"TrainConfig({kw}) built directly", fc(**kw))
    cap = fit_captioner(emb, caps, C3Transform.variant("C3"), TrainConfig(**base), target_emb=emb)
    x = cap.transform.transform(emb, modality="target", train=False)
    for kw in ({"beam_size": 0}, {"beam_size": -1}, {"max_tokens": 0}, {"batch_size": 0}):
        case("decoder", f"caption {kw}", lambda kw=kw: cap.caption(x, **kw))
    case("decoder", "caption non-unit input", lambda: cap.caption(emb))
    case("decoder", "caption wrong dim", lambda: cap.caption(x[:, :3]))
    case("decoder", "caption_raw NaN", lambda: cap.caption_raw(np.where(emb > 1.5, np.nan, emb)))
    case("decoder", "caption_raw modality 'audio'", lambda: cap.caption_raw(emb, modality="audio"))


# ---- the evaluation command and loaders -------------------------------------------------------------------------
def _evaluate_cases(tmp: Path) -> None:
    from PIL import Image

    from c3lib.captioner import Captioner
    from c3lib.data.loaders import load_flickr8k
    from c3lib.evaluate import main
    from c3lib.trainer import TrainConfig, fit_captioner
    from c3lib.transform import C3Transform

    folder = tmp / "tinyflickr"
    (folder / "images").mkdir(parents=True)
    lines = ["image\tsplit\tcaption"]
    for i, (name, cap) in enumerate([("r.png", "a red square ."), ("g.png", "a green field ."),
                                     ("b.png", "a blue sky ."), ("w.png", "a white wall .")]):
        Image.new("RGB", (4, 4), (60 * i, 200 - 40 * i, 30 * i)).save(folder / "images" / name)
        lines.append(f"{name}\ttest\t{cap}")
    (folder / "captions.tsv").write_text("\n".join(lines) + "\n")
    emb = np.random.default_rng(3).normal(size=(4, 8))
    cfg = TrainConfig(num_epochs=1, batch_size=4, warmup_steps=1, n_layer=1, n_embd=16, n_head=2)
    capt = fit_captioner(emb, [l.split("\t")[2] for l in lines[1:]], C3Transform.variant("C1"), cfg, target_emb=emb)
    register_test_encoders()
    capt.extra["encoder"] = {"name": "tiny-test"}
    good = capt.save(tmp / "run")
    out = str(tmp / "out.json")

    def ev(*extra, run=good, data=folder, cwd=None):
        def go():
            old = os.getcwd()
            os.chdir(cwd or old)
            try:
                return main(["--run", str(run), "--data-dir", str(data), "--out", out, "--no-meteor", *extra])
            finally:
                os.chdir(old)
        return go
    case("evaluate", "valid folder scores all 4 images", ev(), check=lambda r: r["n_images"] == 4)
    for lim in ("-1", "0", "-4"):
        case("evaluate", f"--limit {lim}", ev("--limit", lim), mention="limit")
    case("evaluate", "--limit abc", ev("--limit", "abc"))
    for b in ("0", "-1"):
        case("evaluate", f"--beam-size {b}", ev("--beam-size", b), mention="beam")
    case("evaluate", "--data-dir . on a valid folder", ev(data=".", cwd=folder), check=lambda r: r["n_images"] == 4)
    case("evaluate", "--data-dir missing", ev(data=tmp / "nope"))
    case("evaluate", "--data-dir is a file", ev(data=folder / "captions.tsv"))
    case("evaluate", "--run missing", ev(run=tmp / "norun"))
    case("evaluate", "--split absent", ev("--split", "train"))
    for fname, damage in (("config.json", "{not json"), ("transform.json", "{\"params\": "),
                          ("config.json", "{}"), ("transform.json", "[]"), ("model.safetensors", "trunc"),
                          ("tokenizer.json", "trunc"), ("model.safetensors", "missing"), ("tokenizer.json", "missing"),
                          ("transform.json", "missing")):
        bad = tmp / f"run-{fname}-{damage[:5].strip('{[')}"
        capt.save(bad)
        if damage == "trunc":
            (bad / fname).write_bytes((bad / fname).read_bytes()[:50])
        elif damage == "missing":
            (bad / fname).unlink()
        else:
            (bad / fname).write_text(damage)
        case("evaluate", f"{fname} {damage!r}", ev(run=bad), mention=fname.split(".")[0])
    case("loaders", "load_flickr8k limit=-1", lambda: load_flickr8k(tmp, "test", limit=-1, folder="tinyflickr"),
         mention="limit")
    case("loaders", "load_flickr8k limit=0", lambda: load_flickr8k(tmp, "test", limit=0, folder="tinyflickr"))
    case("loaders", "load_flickr8k limit='2'", lambda: load_flickr8k(tmp, "test", limit="2", folder="tinyflickr"))
    case("loaders", "load_flickr8k limit=2", lambda: load_flickr8k(tmp, "test", limit=2, folder="tinyflickr"),
         check=lambda d: len(d.image_paths) == 2)
    case("loaders", "Captioner.load of an empty folder", lambda: Captioner.load(tmp))


def tiny_encoder(paths, run_dir, spec):
    """Image stand-in for the evaluation cases: mean RGB projected to 8 dims."""
    from PIL import Image

    proj = np.random.default_rng(4).normal(size=(3, 8))
    return np.stack([np.asarray(Image.open(p).convert("RGB"), float).mean((0, 1)) / 255 - 0.5 for p in paths]) @ proj


def tiny_head_encoder(paths, run_dir, spec):
    """The same with its projection read from the run's ``encoder_head.safetensors`` (weight (8, 3))."""
    from PIL import Image
    from safetensors.numpy import load_file

    head = load_file(str(Path(run_dir) / spec.get("head", "encoder_head.safetensors")))
    rgb = np.stack([np.asarray(Image.open(p).convert("RGB"), float).mean((0, 1)) / 255 - 0.5 for p in paths])
    return rgb @ head["weight"].T


def register_test_encoders() -> None:
    """The stand-in encoders, entered in the registry as a space defined outside c3lib would be."""
    from c3lib.encoders.registry import ENCODERS

    ENCODERS.setdefault("tiny-test", tiny_encoder)
    ENCODERS.setdefault("tiny-head", tiny_head_encoder)


# ---- keys that cannot go stale ---------------------------------------------------------------------------------
def _key_cases(tmp: Path) -> None:
    from c3lib import cache

    rng = np.random.default_rng(5)
    e = rng.normal(size=(40, 4))
    caps = [f"caption {i}" for i in range(40)]

    def differs(a, b):
        return lambda: cache.content_digest(a) != cache.content_digest(b)
    e30 = e.copy()
    e30[30, 2] += 1e-9
    c20 = list(caps)
    c20[20] = "another caption"
    case("keys", "embedding row 30 changed", differs(e, e30), check=bool)
    case("keys", "caption 20 changed", differs(caps, c20), check=bool)
    case("keys", "dtype changed", differs(e, e.astype(np.float32)), check=bool)
    for d in ("a", "b"):
        (tmp / d).mkdir(parents=True)
        (tmp / d / "img.png").write_bytes(d.encode() * 10)
    case("keys", "same file name, other folder, other bytes",
         lambda: cache.inputs_digest([tmp / "a" / "img.png"]) != cache.inputs_digest([tmp / "b" / "img.png"]), check=bool)


# ---- sealed runs: evaluation checks the manifest of the run it reads -----------------------------------------
def _tiny_folder(root: Path) -> Path:
    from PIL import Image

    folder = root / "tinyflickr"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = ["image\tsplit\tcaption"]
    for i, (name, cap) in enumerate([("r.png", "a red square ."), ("g.png", "a green field ."),
                                     ("b.png", "a blue sky ."), ("w.png", "a white wall .")]):
        Image.new("RGB", (4, 4), (60 * i, 200 - 40 * i, 30 * i)).save(folder / "images" / name)
        lines.append(f"{name}\ttest\t{cap}")
    (folder / "captions.tsv").write_text("\n".join(lines) + "\n")
    return folder


def _tiny_captioner(seed: int = 0, captions=None):
    from c3lib.trainer import TrainConfig, fit_captioner
    from c3lib.transform import C3Transform

    caps = captions or ["a red square .", "a green field .", "a blue sky .", "a white wall ."]
    emb = np.random.default_rng(3).normal(size=(len(caps), 8))
    cfg = TrainConfig(num_epochs=1, batch_size=4, warmup_steps=1, n_layer=1, n_embd=16, n_head=2, seed=seed)
    capt = fit_captioner(emb, caps, C3Transform.variant("C1"), cfg, target_emb=emb)
    capt.extra["encoder"] = {"name": "tiny-head"}
    return capt


def _flip(path: Path, where: float = 0.5) -> None:
    """Flip one bit of ``path``; in a safetensors file, inside its tensor data (past the JSON header)."""
    data = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little") if path.suffix == ".safetensors" else 0
    i = start + int((len(data) - start) * where)
    data[i] ^= 0x10
    path.write_bytes(bytes(data))


def _evaluate(run: Path, data: Path, out: Path, *extra: str, path_dir: Path | None = None):
    """``python -m c3lib.evaluate`` in this process -> (result, warnings); ``path_dir`` is put first on the
    import path, as ``python -m`` does with the folder it is started from."""
    from c3lib.evaluate import main

    if path_dir is not None:
        sys.path.insert(0, str(path_dir))
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            result = main(["--run", str(run), "--data-dir", str(data), "--out", str(out), "--no-meteor", *extra])
    finally:
        if path_dir is not None:
            sys.path.remove(str(path_dir))
    return result, [str(w.message) for w in seen]


def _seal_cases(tmp: Path) -> None:
    import shutil

    from safetensors.numpy import save_file

    from c3lib import runstore

    register_test_encoders()
    data = _tiny_folder(tmp)
    out = tmp / "out.json"
    head = {"weight": np.random.default_rng(4).normal(size=(8, 3))}

    def sealed(capt, name):
        def write(folder):
            save_file(head, str(folder / "encoder_head.safetensors"))
            (folder / "train_log.json").write_text('[{"epoch": 0}]')
            capt.save(folder)
        return runstore.save_run(tmp / name, f"key-{name}", write)
    c0, c1 = _tiny_captioner(0), _tiny_captioner(1)
    good, seed1 = sealed(c0, "seed0"), sealed(c1, "seed1")
    other = sealed(_tiny_captioner(0, ["one two three .", "four five six .", "seven eight .", "nine ten ."]), "other")

    def damaged(name, damage):
        folder = tmp / f"damaged-{name}"
        shutil.copytree(good, folder)
        damage(folder)
        return lambda: _evaluate(folder, data, out)[0]

    def negate_mean(folder):
        state = json.loads((folder / "transform.json").read_text())
        state["mean_target"] = [-v for v in state["mean_target"]]
        (folder / "transform.json").write_text(json.dumps(state, indent=2) + "\n")
    case("seal", "sealed run intact: scored", lambda: _evaluate(good, data, out)[0], check=due(lambda r: r["n_images"] == 4))
    case("seal", "model.safetensors one bit flipped", damaged("model", lambda f: _flip(f / "model.safetensors")),
         mention="model.safetensors")
    case("seal", "encoder_head.safetensors one bit flipped",
         damaged("head", lambda f: _flip(f / "encoder_head.safetensors")), mention="encoder_head")
    case("seal", "transform.json with its mean negated", damaged("mean", negate_mean), mention="transform.json")
    case("seal", "seed 1's weights copied into seed 0's run",
         damaged("seed", lambda f: shutil.copy(seed1 / "model.safetensors", f / "model.safetensors")),
         mention="model.safetensors")
    case("seal", "another run's tokenizer.json",
         damaged("tok", lambda f: shutil.copy(other / "tokenizer.json", f / "tokenizer.json")), mention="tokenizer")
    case("seal", "train_log.json edited", damaged("log", lambda f: (f / "train_log.json").write_text("[]")),
         mention="train_log")
    unsealed = tmp / "unsealed"
    save_file(head, str(Path(c0.save(unsealed)) / "encoder_head.safetensors"))
    case("seal", "run without a manifest: scored with a warning", lambda: _evaluate(unsealed, data, out),
         check=due(lambda r: r[0]["n_images"] == 4 and any("manifest" in w for w in r[1])))
    case("seal", "Captioner.load of a damaged sealed run",
         damaged("load", lambda f: _flip(f / "model.safetensors", 0.9)) and (lambda: __import__(
             "c3lib.captioner", fromlist=["Captioner"]).Captioner.load(tmp / "damaged-load")), mention="model")


# ---- data files never run code or reach outside ---------------------------------------------------------------
class DownloadAttempted(Exception):
    """Raised by the stand-in for urllib when code tries to reach the network."""


def _no_network(fn):
    """Run ``fn`` with urllib's opener replaced: a download attempt returns the string 'attempted a download'."""
    def go():
        import urllib.request

        old = urllib.request.urlopen

        def refuse(*a, **k):
            raise DownloadAttempted(str(a[0])[:80])
        urllib.request.urlopen = refuse
        try:
            return fn()
        except DownloadAttempted:
            return "attempted a download"
        finally:
            urllib.request.urlopen = old
    return go


def _code_cases(tmp: Path) -> None:

    from safetensors.numpy import save_file

    from c3lib.encoders.registry import embed_images

    register_test_encoders()
    data = _tiny_folder(tmp)
    paths = sorted((data / "images").glob("*.png"))
    out = tmp / "out.json"
    capt = _tiny_captioner(0)
    helper = tmp / "helperrun"
    capt.extra["encoder"] = {"name": "import", "target": "c3_helpers:encode"}
    capt.save(helper)
    (helper / "c3_helpers.py").write_text(
        "import numpy as np\nfrom pathlib import Path\n"
        "def encode(paths, run_dir, spec):\n"
        "    Path(run_dir, 'code-ran.txt').write_text('ran')\n"
        "    return np.random.default_rng(0).normal(size=(len(paths), 8))\n")
    case("code", "import encoder shipped beside the run, no --trust-code",
         lambda: _evaluate(helper, data, out, path_dir=helper)[0], mention="trust")
    case("code", "import encoder with --trust-code runs",
         lambda: _evaluate(helper, data, out, "--trust-code", path_dir=helper)[0], check=due(lambda r: r["n_images"] == 4))
    case("code", "embed_images of an import spec, no trust_code",
         lambda: embed_images(paths, helper, {"name": "import", "target": "json:dumps"}), mention="trust")
    outside = tmp / "outside"
    outside.mkdir()
    save_file({"weight": np.ones((8, 1280), np.float32)}, str(outside / "encoder_head.safetensors"))
    run = tmp / "headrun"
    run.mkdir()
    for name, head in (("absolute", str(outside / "encoder_head.safetensors")),
                       ("../", "../outside/encoder_head.safetensors")):
        case("code", f"efficientnet-projection head {name} path",
             lambda head=head: embed_images(paths, run, {"name": "efficientnet-projection", "head": head}),
             mention="inside|outside")
    case("code", "world-image-tower weights ../ path",
         lambda: embed_images(paths, run, {"name": "world-image-tower", "weights": "../../tower.safetensors",
                                           "dim": 8, "image_size": 8}), mention="inside|outside")

    def openclip(allow):
        spec = {"name": "openclip", "model": "ViT-B-32", "weights": "openai"}

        def go():
            saved = os.environ.get("C3_WEIGHTS")
            os.environ["C3_WEIGHTS"] = str(tmp / "weights")  # no weights on this machine yet
            try:
                return embed_images(paths, run, spec, **({"allow_download": True} if allow else {}))
            finally:
                os.environ.pop("C3_WEIGHTS") if saved is None else os.environ.update(C3_WEIGHTS=saved)
        return _no_network(go)
    case("code", "openclip encoder offline (no --allow-download)", openclip(False), mention="download")
    case("code", "openclip encoder with allow_download downloads", openclip(True),
         check=due(lambda r: r == "attempted a download"))
    tokrun = tmp / "tokrun"
    capt.extra["encoder"] = {"name": "tiny-test"}
    capt.save(tokrun)
    cfg = json.loads((tokrun / "config.json").read_text())
    cfg["spec"]["tokenizer"] = "gpt2"
    (tokrun / "config.json").write_text(json.dumps(cfg))
    case("code", "tokenizer 'gpt2' with no tokenizer folder", _no_network(lambda: _evaluate(tokrun, data, out)[0]),
         mention="tokenizer")


# ---- choices checked against their lists; values that would compute something else ------------------------
def _choice_cases(tmp: Path) -> None:
    import torch

    from c3lib.config import build
    from c3lib.encoders.registry import embed_images
    from c3lib.autoencoder import AutoencoderConfig
    from c3lib.generator import GeneratorConfig
    from c3lib.image_metrics import frechet_distance
    from c3lib.trainer import TrainConfig, finetune_captioner, fit_captioner
    from c3lib.transform import C3Transform

    for v in ("GPT2", " gpt2", "gpt-2", "Small", ""):
        case("choices", f"TrainConfig lm={v!r}", lambda v=v: build(TrainConfig, "smoke", {"lm": v}), mention="lm")
    rng = np.random.default_rng(7)
    emb = rng.normal(size=(12, 6))
    caps = ["a red ball", "a blue cube", "two green balls"] * 4
    base = dict(n_layer=1, n_embd=16, n_head=2, num_epochs=1, batch_size=4, warmup_steps=1)
    case("choices", "fit_captioner TrainConfig(lm='GPT2')",
         lambda: fit_captioner(emb, caps, C3Transform.variant("C3"), TrainConfig(**base, lm="GPT2"), target_emb=emb),
         mention="lm")
    for name, (ve, vc) in {"longer": (emb[:6], caps[:4]), "shorter": (emb[:3], caps[:6])}.items():
        case("choices", f"fit_captioner val_emb {name} than val_captions",
             lambda ve=ve, vc=vc: fit_captioner(emb, caps, C3Transform.variant("C3"), TrainConfig(**base),
                                                ve, vc, target_emb=emb), mention="val")
    cap = fit_captioner(emb, caps, C3Transform.variant("C3"), TrainConfig(**base), target_emb=emb)
    for kw in ({"lr": -1.0}, {"num_epochs": 0}, {"batch_size": 0}):
        case("choices", f"finetune_captioner TrainConfig({kw})",
             lambda kw=kw: finetune_captioner(cap, emb, caps, TrainConfig(**{**base, **kw})),
             mention=next(iter(kw)))
    register_test_encoders()
    run = tmp / "specrun"
    _tiny_captioner(0).save(run)
    for field, v in (("lm", "GPT2"), ("lm", "gpt2 "), ("tokenizer", "Word")):
        bad = tmp / f"spec-{field}-{v.strip()}"
        _tiny_captioner(0).save(bad)
        cfg = json.loads((bad / "config.json").read_text())
        cfg["spec"][field] = v
        (bad / "config.json").write_text(json.dumps(cfg))
        case("choices", f"config.json spec {field}={v!r}",
             lambda bad=bad: __import__("c3lib.captioner", fromlist=["Captioner"]).Captioner.load(bad), mention=field)
    for v in ("OpenCLIP", " openclip", "efficientnet_projection"):
        case("choices", f"encoder name {v!r}", lambda v=v: embed_images([], run, {"name": v}), mention="encoder")
    for kw in ({"num_steps": 0}, {"lr": float("nan")}, {"ema_decay": 1.5}, {"batch_size": 0}, {"hidden": 0},
               {"guidance": -1.0}, {"cond_drop": 1.0}):
        case("choices", f"generator {kw}", lambda kw=kw: GeneratorConfig(**{"cond_dim": 4, **kw}), mention=next(iter(kw)))
    for kw in ({"num_steps": 0}, {"channels": 0}, {"image_size": 24}, {"downsamples": 4}):
        case("choices", f"autoencoder {kw}", lambda kw=kw: AutoencoderConfig(**kw), mention=next(iter(kw)))
    src, tgt = rng.normal(size=(20, 6)) + 1, rng.normal(size=(20, 6)) - 1
    ref = C3Transform.variant("C2-collapse").fit(src, tgt).transform(src, train=False)
    case("choices", "transform inputs ~1e154 = the same directions",
         lambda: C3Transform.variant("C2-collapse").fit(src * 1e154, tgt * 1e154).transform(src * 1e154, train=False),
         check=due(lambda r: np.allclose(r, ref)))
    case("choices", "transform noise_std=1e155: finite unit rows",
         lambda: C3Transform(noise_std=1e155).fit(src, tgt).transform(src),
         check=due(lambda r: finite(r) and np.allclose(np.linalg.norm(r, axis=1), 1)))
    case("choices", "transform noise_std=1e308: finite unit rows or a clear error",
         lambda: C3Transform(noise_std=1e308).fit(src, tgt).transform(src),
         check=lambda r: finite(r) and np.allclose(np.linalg.norm(r, axis=1), 1), mention="noise_std")
    mu, s = np.zeros(3), np.eye(3)
    case("choices", "frechet_distance NaN mean", lambda: frechet_distance(np.array([np.nan, 0, 0]), s, mu, s),
         mention="finite|NaN")
    case("choices", "frechet_distance non-PSD covariance",
         lambda: frechet_distance(mu, np.diag([1.0, -2.0, 1.0]), mu, s), mention="semi-definite|PSD")
    case("choices", "frechet_distance asymmetric covariance",
         lambda: frechet_distance(mu, np.array([[1.0, 0.9, 0], [0, 1, 0], [0, 0, 1]]), mu, s), mention="symmetric")
    case("choices", "frechet_distance of equal Gaussians = 0", lambda: frechet_distance(mu, s, mu, s),
         check=due(lambda r: abs(r) < 1e-9))
    data = _tiny_folder(tmp)
    run = tmp / "limitrun"
    _tiny_captioner(0).save(run)
    from safetensors.numpy import save_file
    save_file({"weight": np.random.default_rng(4).normal(size=(8, 3))}, str(run / "encoder_head.safetensors"))
    case("choices", "evaluate --limit 1: CIDEr unavailable, explained",
         lambda: _evaluate(run, data, tmp / "o.json", "--limit", "1")[0],
         check=due(lambda r: r["metrics"]["CIDEr"] is None and any("CIDEr" in n for n in r["notes"])))
    case("choices", "evaluate --limit 2: CIDEr scored", lambda: _evaluate(run, data, tmp / "o.json", "--limit", "2")[0],
         check=due(lambda r: r["metrics"]["CIDEr"] is not None))


# ---- the Flickr8k loader ---------------------------------------------------------------------------------------
def _loader_cases(tmp: Path) -> None:
    from PIL import Image

    from c3lib.data.loaders import load_flickr8k, photo_pixels

    def folder(name: str, body: bytes, images=("a.png", "b.png")) -> str:
        f = tmp / name
        (f / "images").mkdir(parents=True)
        for im in images:
            Image.new("RGB", (4, 4), (10, 20, 30)).save(f / "images" / im)
        (f / "captions.tsv").write_bytes(body)
        return name
    head = b"image\tsplit\tcaption\n"
    ok = b"a.png\ttest\ta red ball .\n"

    def load(name):
        return lambda: load_flickr8k(tmp, "test", folder=name)
    case("loaders", "a TAB inside a caption", load(folder("tab", head + ok + b"b.png\ttest\ta dog\truns .\n")),
         mention=r"line 3")
    case("loaders", "a line with no caption field", load(folder("nocap", head + ok + b"b.png\ttest\n")),
         mention=r"line 3")
    case("loaders", "non-UTF-8 bytes", load(folder("latin1", head + ok + "b.png\ttest\tun caf\xe9 .\n".encode("latin-1"))),
         mention=r"line 3")
    case("loaders", "a UTF-8 BOM is accepted", load(folder("bom", b"\xef\xbb\xbf" + head + ok)),
         check=due(lambda d: [p.name for p in d.image_paths] == ["a.png"] and d.captions == [["a red ball ."]]))
    case("loaders", "quotes in captions are read as written",
         load(folder("quotes", head + b'a.png\ttest\ta "big" dog .\nb.png\ttest\t"quoted" start\n')),
         check=due(lambda d: d.captions == [['a "big" dog .'], ['"quoted" start']]))
    (tmp / "secret.png").parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(tmp / "secret.png")
    case("loaders", "an image name ../../secret.png", load(folder("dotdot", head + b"../../secret.png\ttest\tx .\n")),
         mention="images")
    case("loaders", "an absolute image path",
         load(folder("abs", head + f"{tmp / 'secret.png'}\ttest\tx .\n".encode())), mention="images")
    gray16 = tmp / "gray16.png"
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(gray16)
    case("loaders", "a 16-bit grey PNG is mid-grey, not white", lambda: photo_pixels([gray16], 4),
         check=due(lambda a: abs(int(a[0, 0, 0, 0]) - 128) <= 1))
    jpg = tmp / "trunc.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(jpg, quality=95)
    jpg.write_bytes(jpg.read_bytes()[:800])
    case("loaders", "a truncated JPEG", lambda: photo_pixels([jpg], 8), mention="trunc.jpg")


# ---- the run store, the cache and the checkpoints ---------------------------------------------------------------
class NotAllowed:
    """A class no checkpoint may hold: unpickling it would run code; the safe loader refuses it."""


def _rlimit(fn, limit: int = 64 << 10):
    """``fn()`` with writes past ``limit`` bytes refused by the kernel (EFBIG), as on a full disk."""
    def go():
        import resource
        import signal

        old = resource.getrlimit(resource.RLIMIT_FSIZE)
        handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old[1]))
        try:
            return fn()
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, old)
            signal.signal(signal.SIGXFSZ, handler)
    return go


def _store_cases(tmp: Path) -> None:
    import subprocess

    import torch
    from torch import nn

    from c3lib import cache, resume, runstore
    from c3lib import simulation as sim
    from c3lib.atomic import write_text
    from c3lib.contrastive import PairModel, load_checkpoint

    def in_cache(fn):
        def go():
            old = os.environ.get("C3_CACHE")
            os.environ["C3_CACHE"] = str(tmp / "cache")
            try:
                return fn()
            finally:
                os.environ["C3_CACHE"] = old if old is not None else ""
        return go
    a, b = np.arange(6.0).reshape(2, 3), -np.arange(6.0).reshape(2, 3)

    def swapped():
        cache.cached("sw", {"k": "a"}, lambda: a)
        cache.cached("sw", {"k": "b"}, lambda: b)
        pa, pb = (tmp / "cache" / f"sw-{cache.key_of({'k': k})}" for k in "ab")
        for suffix in (".npy", ".sha256"):
            x, y = pa.with_suffix(suffix), pb.with_suffix(suffix)
            tmpf = x.with_suffix(".swap")
            os.replace(x, tmpf)
            os.replace(y, x)
            os.replace(tmpf, y)
        return cache.cached("sw", {"k": "a"}, lambda: a)
    case("store", "two cache entries' files swapped", in_cache(swapped), check=due(lambda r: np.array_equal(r, a)))

    def replaced():
        f = tmp / "img.bin"
        f.write_bytes(b"A" * 64)
        st = f.stat()
        first = cache.inputs_digest([f])
        f.write_bytes(b"B" * 64)
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        return first != cache.inputs_digest([f])
    case("store", "an input replaced by a same-size file with the same mtime", replaced, check=due(bool))
    evil = {"epoch": 0, "x": NotAllowed()}
    rfolder = runstore.save_run(tmp / "resume", "k", lambda t: torch.save(evil, t / resume.STATE))
    case("store", "a state.pt holding a class, valid manifest: resume.load", lambda: resume.load(rfolder, "k"),
         check=due(lambda r: r is None))
    cfolder = runstore.save_run(tmp / "ck", "k", lambda t: (torch.save(evil, t / "state.pt"),
                                                            torch.save({}, t / "model.safetensors")))
    model = PairModel(nn.Linear(2, 2), nn.Linear(2, 2))
    case("store", "a state.pt holding a class, valid manifest: contrastive checkpoint",
         lambda: load_checkpoint(model, cfolder, "k"), check=due(lambda r: r is None))

    def flipped_simulation():
        def space():
            return sim.synthetic_pairs(n=20, d=16, img_dims=3, txt_dims=4, seed=0)
        full = sim.optimise(space(), 40, log_every=10, progress=False)
        ck = tmp / "sim"
        try:
            sim.optimise(space(), 40, log_every=10, progress=False, checkpoint_dir=ck, checkpoint_every=20,
                         on_step=_stop_at(25))
        except KeyboardInterrupt:
            pass
        _flip_tensor(ck / "state.pt")
        again = sim.optimise(space(), 40, log_every=10, progress=False, checkpoint_dir=ck, checkpoint_every=20)
        return np.array_equal(np.asarray(full[0]), np.asarray(again[0]))
    case("store", "simulation state.pt with one bit flipped", flipped_simulation, check=due(bool))

    def stale():
        f = tmp / "stale"
        f.mkdir()
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        host = re.sub(r"[^A-Za-z0-9]", "", __import__("socket").gethostname())[:32]
        leftovers = [f / ".w.txt.abcd1234.tmp", f / f".w.txt.c3-{host}-{dead.pid}.abcd1234.tmp",
                     f / ".seed0.abcd1234", f / f".seed0.c3-{host}-{dead.pid}.abcd1234", f / ".seed0.old"]
        for p in leftovers:
            (p.mkdir() if not p.name.endswith(".tmp") else p.write_text("x"))
            os.utime(p, (1e9, 1e9))
        (f / ".seed0.resume").mkdir()
        write_text(f / "w.txt", "new")
        runstore.save_run(f / "seed0", "k", lambda t: (t / "a.txt").write_text("a"))
        return sorted(p.name for p in f.iterdir())
    case("store", "stale temporary files are removed on the next write", stale,
         check=due(lambda names: names == [".seed0.resume", "seed0", "w.txt"]))
    big = np.zeros(1 << 16)
    case("store", "a full disk while caching", in_cache(_rlimit(lambda: cache.cached("full", {"k": 1}, lambda: big))),
         mention="full-")
    case("store", "a full disk while saving a run", _rlimit(lambda: runstore.save_run(
        tmp / "fullrun", "k", lambda t: torch.save({"w": torch.zeros(1 << 15)}, t / "state.pt"))), mention="fullrun")
    case("store", "a full disk while writing a JSON file",
         _rlimit(lambda: write_text(tmp / "full.json", "x" * (1 << 17))), mention="full.json")


def _stop_at(step: int):
    def on_step(s):
        if s == step:
            raise KeyboardInterrupt
    return on_step


def _flip_tensor(path: Path, bit: int = 2) -> None:
    """Flip one bit in the largest tensor stored in the torch archive ``path`` (the data, not the pickle)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    off = info.header_offset
    start = off + 30 + int.from_bytes(data[off + 26:off + 28], "little") + int.from_bytes(data[off + 28:off + 30], "little")
    data[start + (info.file_size // 2 + 97 * bit) % info.file_size] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


def build_cases(tmp: Path) -> list:
    if not CASES:
        _transform_cases()
        _geometry_cases()
        _metric_cases()
        _contrastive_cases()
        _config_cases()
        _decoder_cases()
        _evaluate_cases(tmp / "eval")
        _key_cases(tmp / "keys")
        _seal_cases(tmp / "seal")
        _code_cases(tmp / "code")
        _choice_cases(tmp / "choices")
        _loader_cases(tmp / "loaders")
        _store_cases(tmp / "store")
    return CASES


_TMP = Path(tempfile.mkdtemp(prefix="c3-bad-inputs-"))


@pytest.fixture(scope="module", autouse=True)
def _cases():
    os.environ.setdefault("C3_CACHE", str(_TMP / "cache"))
    build_cases(_TMP)


SLOTS = 309  # one test per case, in order (the cases are built once, by the module fixture); keep it = len(CASES)


def _ids() -> list[str]:
    return [f"{i:03d}" for i in range(SLOTS)]


@pytest.mark.parametrize("index", range(SLOTS), ids=_ids())
def test_bad_input_gives_a_clear_error_or_a_documented_result(index):
    category, name, fn, check, mention = CASES[index]
    outcome, detail = classify(fn, check, mention)
    assert outcome in ("clear", "ok"), f"[{category}] {name}: {outcome}: {detail}"


def test_enough_cases_in_every_category():
    counts = Counter(c[0] for c in CASES)
    assert len(CASES) >= 150
    assert len(CASES) == SLOTS, f"{len(CASES)} cases: set SLOTS = {len(CASES)}"
    assert set(counts) >= {"transform", "geometry", "metrics", "contrastive", "config", "decoder", "evaluate", "keys",
                           "seal", "code", "choices", "loaders", "store"}


def table(rows: list[tuple[str, str, str, str]]) -> str:
    cats = sorted({r[0] for r in rows})
    out = ["| category | tried | clear error | documented result | obscure error | silently wrong |",
           "|---|---|---|---|---|---|"]
    for cat in cats + ["all"]:
        rs = [r for r in rows if cat in ("all", r[0])]
        c = Counter(r[2] for r in rs)
        out.append(f"| {cat} | {len(rs)} | {c['clear']} | {c['ok']} | {c['obscure']} | {c['silent']} |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.path.insert(0, str(Path.cwd()))  # tests.test_bad_inputs:tiny_encoder is importable from the repo root
    os.environ.setdefault("C3_CACHE", str(_TMP / "cache"))
    rows = []
    for category, name, fn, check, mention in build_cases(_TMP):
        outcome, detail = classify(fn, check, mention)
        rows.append((category, name, outcome, detail))
    print(table(rows))
    if "--details" in sys.argv:
        for r in rows:
            if r[2] not in ("clear", "ok"):
                print(f"- [{r[0]}] {r[1]}: {r[2]}: {r[3]}")
    if "--json" in sys.argv:
        print(json.dumps(rows, indent=1))
