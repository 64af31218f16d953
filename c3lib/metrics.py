"""Captioning metrics with pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr (and SPICE when it can run).

SPICE needs Stanford CoreNLP, which pycocoevalcap downloads on first use; offline that fails, and SPICE is
then reported as unavailable (``None``), never as 0. Scores are on the 0-100 scale the paper uses.
"""

from __future__ import annotations

from typing import Sequence


def caption_metrics(predictions: Sequence[str], references: Sequence[Sequence[str]],
                    spice: bool = False) -> dict[str, float | None]:
    """Corpus-level metrics of ``predictions[i]`` against the reference captions ``references[i]``."""
    if len(predictions) == 0:
        raise ValueError("no captions to score: the prediction list is empty")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    if any(len(r) == 0 for r in references):
        raise ValueError("every prediction needs at least one reference caption")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": c} for c in refs] for i, refs in enumerate(references)})
    res = tok.tokenize({i: [{"caption": p if p.strip() else "."}] for i, p in enumerate(predictions)})
    out: dict[str, float | None] = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out.update({f"BLEU-{k + 1}": 100 * b for k, b in enumerate(bleu)})
    out["METEOR"] = 100 * Meteor().compute_score(gts, res)[0]  # its Java process ends with the object
    out["ROUGE-L"] = 100 * Rouge().compute_score(gts, res)[0]
    out["CIDEr"] = 100 * Cider().compute_score(gts, res)[0]
    out["SPICE"] = _spice(gts, res) if spice else None
    return out


def _spice(gts, res) -> float | None:
    try:
        from pycocoevalcap.spice.spice import Spice

        return 100 * Spice().compute_score(gts, res)[0]
    except Exception:  # CoreNLP cannot be downloaded offline: unavailable, not zero
        return None


def rouge1(prediction: str, reference: str) -> float:
    """ROUGE-1 F1 of two strings (unigram overlap), 0-100; Table 6 reports it for text reconstruction."""
    p, r = prediction.lower().split(), reference.lower().split()
    if not p or not r:
        return 0.0
    counts: dict[str, int] = {}
    for w in r:
        counts[w] = counts.get(w, 0) + 1
    hit = 0
    for w in p:
        if counts.get(w, 0) > 0:
            counts[w] -= 1
            hit += 1
    if hit == 0:
        return 0.0
    prec, rec = hit / len(p), hit / len(r)
    return 100 * 2 * prec * rec / (prec + rec)
