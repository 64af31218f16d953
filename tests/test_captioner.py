"""The captioner: it learns to reconstruct captions, round-trips through disk, and refuses bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from c3lib.c3 import C3Transform
from c3lib.captioner import Captioner, TrainSettings, WordTokenizer, fit_captioner, length_buckets

CAPS = ["a red circle.", "a blue square", "a green triangle above a ring", "two yellow crosses"]


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(CAPS), 12))
    t = C3Transform.variant("C1").fit(emb, X_target=emb)
    cap, hist = fit_captioner(np.tile(emb, (16, 1)), CAPS * 16, emb, CAPS, t,
                              TrainSettings(num_epochs=30, batch_size=16, lr=1e-2, warmup=5, patience=30),
                              {"d_lm": 32, "n_layer": 1, "n_head": 2, "prefix_len": 2}, progress=False)
    return cap, hist, emb


def test_overfits_and_decodes_back(trained):
    cap, hist, emb = trained
    assert hist["val_loss"][-1] < 0.2 * hist["val_loss"][0]
    assert cap.caption(emb, modality="source") == [" ".join(WordTokenizer.split(c)) for c in CAPS]
    assert cap.caption(emb, modality="source", beam=2) == cap.caption(emb, modality="source")


def test_save_load_gives_identical_captions(trained, tmp_path):
    cap, _, emb = trained
    again = Captioner.load(cap.save(tmp_path / "run"))
    assert again.caption(emb, modality="source") == cap.caption(emb, modality="source")


def test_refuses_bad_inputs(trained):
    cap, _, emb = trained
    with pytest.raises(ValueError, match="not transformed"):
        cap.generate(emb * 3)
    with pytest.raises(ValueError, match=r"takes \(n, 12\)"):
        cap.generate(np.ones((2, 5)) / np.sqrt(5))
    with pytest.raises(ValueError, match="NaN"):
        cap.caption(np.full((1, 12), np.nan))
    with pytest.raises(ValueError, match="empty"):
        fit_captioner(emb[:0], [], emb[:0], [], cap.transform, TrainSettings())
    with pytest.raises(FileNotFoundError, match="no trained captioner"):
        Captioner.load("/nonexistent/run")


def test_tokenizer_and_buckets():
    tok = WordTokenizer.build(CAPS)
    assert tok.decode(tok.encode("a red zebra")) == "a red <unk>"
    assert tok.encode("a")[-1] == 2  # every caption ends with "."
    lengths = np.array([1, 9, 2, 8, 3, 7, 1, 9])
    batches = length_buckets(lengths, 2, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(8))
    waste = sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in batches)
    assert waste <= 4, "bucketing must keep padding small"
