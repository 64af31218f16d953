"""Caption metrics by pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr (+ ROUGE-1 for Table 6).

Captions are lower-cased and split on non-alphanumerics here (a Python stand-in for the PTB tokenizer the
COCO toolkit runs in Java; it matches it on plain captions). SPICE needs Stanford CoreNLP, which
pycocoevalcap downloads on first use: offline it is reported as ``None`` with a note, never as 0.
Scores are on the 0-100 scale the paper uses. A reference that tokenises to nothing (punctuation only,
or a script with no Latin letters or digits) is left out; an item left with no reference is an error.
CIDEr weighs n-grams by their inverse document frequency over the scored images: one image gives every
n-gram the weight log(1/1) = 0, so CIDEr of one image is ``None`` (:data:`CIDER_NOTE`), never 0.
"""

from __future__ import annotations

import shutil
from collections import Counter
from typing import Mapping, Sequence

import numpy as np

from c3lib.checks import text_list
from c3lib.paper import TABLE_METRICS
from c3lib.tokenizer import words

def tokenize(text: str) -> str:
    """Lower-case, punctuation dropped, single spaces: ``"A dog, running."`` -> ``"a dog running"``."""
    return " ".join(words(text))


def _check(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    """Refuse inputs that pycocoevalcap would score wrongly (a bare string is a list of characters to it)
    or crash on (an item whose references hold no word once tokenised)."""
    if isinstance(predictions, (list, tuple)) and len(predictions) == 0:
        raise ValueError("no captions to score: the prediction list is empty")
    predictions = text_list("predictions", predictions)
    if isinstance(references, (str, bytes)) or not isinstance(references, (list, tuple)):
        raise TypeError(f"references must be a list with one list of reference captions per prediction, "
                        f"got {type(references).__name__}")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    for i, refs in enumerate(references):
        if isinstance(refs, str):
            raise TypeError(f"references[{i}] is a string ({refs[:40]!r}); each item needs a list of reference "
                            f"captions, e.g. [[{refs[:20]!r}], ...], not a flat list of strings")
        text_list(f"references[{i}]", refs, allow_empty=True)
    empty = [i for i, refs in enumerate(references) if not any(tokenize(r) for r in refs)]
    if empty:
        raise ValueError(f"{len(empty)} item(s) have no reference caption with a word in it (after lower-casing "
                         f"and dropping punctuation), e.g. index {empty[0]}: {list(references[empty[0]])[:3]!r}")


def rouge1(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """ROUGE-1 F1 (unigram overlap), best reference per item, averaged; 0-100."""
    _check(predictions, references)
    scores = _rouge1_items(predictions, references)
    return 100.0 * sum(scores) / len(scores)


def _rouge1_items(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """Per-item ROUGE-1 F1 (0-1), best reference per item."""
    scores = []
    for pred, refs in zip(predictions, references):
        p = Counter(tokenize(pred).split())
        best = 0.0
        for ref in refs:
            r = Counter(tokenize(ref).split())
            overlap = sum((p & r).values())
            if overlap:
                prec, rec = overlap / sum(p.values()), overlap / sum(r.values())
                best = max(best, 2 * prec * rec / (prec + rec))
        scores.append(best)
    return scores


ITEM_METRICS = ("CIDEr", "ROUGE-L", "ROUGE-1")  # corpus score = mean of per-item scores: these enter the verdicts


def caption_metrics(predictions: Sequence[str], references: Sequence[Sequence[str]],
                    meteor: bool = True) -> dict[str, float | None]:
    """Score ``predictions[i]`` against ``references[i]`` (a list of captions) -> metric name -> 0-100.

    ``meteor=False`` skips METEOR (it starts a Java process: ~2 s). SPICE is ``None`` (unavailable offline).
    """
    return caption_scores(predictions, references, meteor)[0]


def caption_scores(predictions: Sequence[str], references: Sequence[Sequence[str]], meteor: bool = True
                   ) -> tuple[dict[str, float | None], dict[str, np.ndarray]]:
    """:func:`caption_metrics` and, for each of :data:`ITEM_METRICS`, the per-item scores ``(n,)`` (0-100) whose
    mean it is: the paired scores that :mod:`c3lib.verdict` compares."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    _check(predictions, references)
    res = {i: [tokenize(p) or "<empty>"] for i, p in enumerate(predictions)}
    gts = {i: [tokenize(r) for r in refs if tokenize(r)] for i, refs in enumerate(references)}
    out: dict[str, float | None] = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for k, b in enumerate(bleu, start=1):
        out[f"BLEU-{k}"] = 100.0 * b
    if meteor:
        out["METEOR"] = 100.0 * _meteor_score(gts, res)
    rouge_l, rouge_l_items = Rouge().compute_score(gts, res)
    rouge_1_items = _rouge1_items(predictions, references)
    cider, cider_items = Cider().compute_score(gts, res)
    out["ROUGE-L"] = 100.0 * rouge_l
    out["ROUGE-1"] = 100.0 * sum(rouge_1_items) / len(rouge_1_items)
    out["CIDEr"] = 100.0 * cider if len(predictions) >= CIDER_MIN_IMAGES else None
    if out["CIDEr"] is None:
        cider_items = [float("nan")] * len(predictions)
    out["SPICE"] = None  # needs Stanford CoreNLP (a download): unavailable offline
    items = {"CIDEr": cider_items, "ROUGE-L": rouge_l_items, "ROUGE-1": rouge_1_items}
    return out, {k: 100.0 * np.asarray(v, dtype=float) for k, v in items.items()}


JAVA_MISSING = ("METEOR (pycocoevalcap) runs on Java and no `java` is on the PATH: install a Java runtime (the book "
                "used Java 17: `apt install openjdk-17-jre-headless`, `conda install -c conda-forge openjdk=17` or "
                "`brew install openjdk@17`), or skip METEOR (`python -m c3lib.evaluate --no-meteor`, meteor=False)")
_METEOR = None  # one Java METEOR process per Python process: starting it costs ~12 s, a scoring call ~0.5 s


def _meteor_score(gts: dict, res: dict) -> float:
    """METEOR through a shared pycocoevalcap scorer, restarted if its Java process died or a call failed."""
    global _METEOR
    if _METEOR is None or _METEOR.meteor_p.poll() is not None:
        from pycocoevalcap.meteor.meteor import Meteor

        if shutil.which("java") is None:
            raise RuntimeError(JAVA_MISSING)
        _METEOR = Meteor()
    try:
        return _METEOR.compute_score(gts, res)[0]
    except Exception:
        broken, _METEOR = _METEOR, None
        broken.meteor_p.kill()  # its lock may still be held: release it so the scorer can be collected
        if broken.lock.locked():
            broken.lock.release()
        raise


SPICE_NOTE = "SPICE unavailable: pycocoevalcap downloads Stanford CoreNLP for it and this machine is offline"
CIDER_MIN_IMAGES = 2
CIDER_NOTE = ("CIDEr unavailable: it weighs each n-gram by its inverse document frequency over the scored images, "
              "and over one image every weight is log(1/1) = 0; score several images")
CIDER_FEW = ("CIDEr over only {n} images: its inverse document frequencies come from these images alone, so it is "
             "far from CIDEr over a test set; compare it only with scores over the same images")


def format_metrics(m: Mapping[str, float | None]) -> str:
    """One line, ``None`` shown as ``unavailable``."""
    return ", ".join(f"{k} {'unavailable' if v is None else f'{v:.1f}'}" for k, v in m.items())
