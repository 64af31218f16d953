"""Caption metrics by pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr (+ ROUGE-1 for Table 6).

Captions are tokenised by pycocoevalcap's PTB tokenizer (Stanford's PTBTokenizer, run in Java) exactly as
COCOEvalCap does before it scores: lower-cased, split the Penn Treebank way, punctuation tokens dropped. So
``"A dog's t-shirt."`` becomes ``"a dog 's t-shirt"``, as in the paper's numbers, and every metric here, ROUGE-1
included, compares the same tokens. One scoring call starts Java once for all its captions (0.3 s for one caption,
0.6 s for 3,000 on a shared CPU), so the caption metrics need a Java runtime (:data:`JAVA_MISSING`); METEOR runs a
second Java process, shared by all calls.
SPICE needs Stanford CoreNLP, which pycocoevalcap downloads on first use: offline it is reported as ``None`` with a
note, never as 0. Scores are on the 0-100 scale the paper uses. A reference that tokenises to nothing (blank, or
punctuation only) is left out; an item left with no reference is an error. A prediction that tokenises to nothing
is scored as the placeholder ``<empty>`` (0 on every metric unless a reference holds that token).
CIDEr weighs n-grams by their inverse document frequency over the scored images: one image gives every
n-gram the weight log(1/1) = 0, so CIDEr of one image is ``None`` (:data:`CIDER_NOTE`), never 0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Hashable, Mapping, Sequence

import numpy as np

from c3lib.checks import text_list
from c3lib.paper import TABLE_METRICS

JAVA_MISSING = ("The caption metrics run on Java (pycocoevalcap's PTB tokenizer splits every caption into words, and "
                "METEOR scores them) and no `java` is on the PATH: install a Java runtime (the book used Java 17: "
                "`apt install openjdk-17-jre-headless`, `conda install -c conda-forge openjdk=17` or "
                "`brew install openjdk@17`) and make sure `java -version` runs")
_END = "end"  # a last line of known text after the captions: Java must give it back last, as "end"


def ptb_tokenize(captions_for_image: Mapping[Hashable, Sequence[Mapping[str, str]]]) -> dict[Hashable, list[str]]:
    """pycocoevalcap's ``PTBTokenizer().tokenize``: ``{id: [{"caption": text}, ...]}`` -> ``{id: [tokens, ...]}``.

    The same jar, command line and punctuation list as pycocoevalcap, so the tokens are COCOEvalCap's, in one Java
    start for all captions. Unlike pycocoevalcap's wrapper it keeps Java's progress line off the output (a notebook
    would show it under every scoring cell), writes its temporary file to the system's temporary folder rather than
    into the installed package, and checks that Java returned one line per caption: a caption's line breaks
    (``\\n``, ``\\r``, ``\\f``, U+2028 and the rest of :meth:`str.splitlines`) become spaces, since Java splits on
    each. An id with no captions is left out of the result, as pycocoevalcap does.
    """
    from pycocoevalcap.tokenizer import ptbtokenizer as ptb

    ids = [k for k, caps in captions_for_image.items() for _ in caps]
    lines = [" ".join(c["caption"].splitlines()) for caps in captions_for_image.values() for c in caps]
    if not lines:
        return {}
    if shutil.which("java") is None:
        raise RuntimeError(JAVA_MISSING)
    jar = Path(ptb.__file__).with_name(ptb.STANFORD_CORENLP_3_4_1_JAR)
    with tempfile.NamedTemporaryFile("wb", prefix="c3-ptb-", suffix=".txt", delete=False) as f:
        f.write("\n".join([*lines, _END]).encode("utf-8", errors="replace"))  # a lone surrogate becomes "?"
    try:
        run = subprocess.run(["java", "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines",
                              "-lowerCase", f.name], capture_output=True)
    finally:
        os.remove(f.name)
    out = run.stdout.decode("utf-8", errors="replace").split("\n")
    if len(out) > 1 and out[-1] == "":
        out.pop()  # the newline after the end line
    if run.returncode != 0 or len(out) != len(lines) + 1 or out[-1].strip() != _END:
        raise RuntimeError(f"the PTB tokenizer (java -cp {jar.name}) failed: exit status {run.returncode}, "
                           f"{len(out)} lines back for {len(lines) + 1} sent ({len(lines)} captions and an end "
                           f"line); Java said: "
                           f"{run.stderr.decode('utf-8', errors='replace').strip()[-400:]!r}")
    tokens: dict[Hashable, list[str]] = {}
    for k, line in zip(ids, out):
        tokens.setdefault(k, []).append(" ".join(w for w in line.rstrip().split(" ") if w not in ptb.PUNCTUATIONS))
    return tokens


def tokenize(text: str) -> str:
    """One caption's PTB tokens (:func:`ptb_tokenize`), space-separated: ``"A dog's t-shirt."`` ->
    ``"a dog 's t-shirt"``. It starts Java for this one caption: tokenise many with :func:`ptb_tokenize`."""
    return ptb_tokenize({0: [{"caption": text}]})[0][0]


def _check(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    """Refuse inputs that pycocoevalcap would score wrongly (a bare string is a list of characters to it);
    return them as lists."""
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
    return predictions, [text_list(f"references[{i}]", refs, allow_empty=True) for i, refs in enumerate(references)]


def _tokenised(predictions: Sequence[str], references: Sequence[Sequence[str]]
               ) -> tuple[dict[int, str], dict[int, list[str]]]:
    """Checked inputs PTB-tokenised in one Java call -> ``(res, gts)``: item -> the prediction's tokens ("" when it
    has none), item -> the references' tokens, those with none left out. An item left with no reference is an error
    (pycocoevalcap would crash on it)."""
    predictions, references = _check(predictions, references)
    tokens = ptb_tokenize({**{("res", i): [{"caption": p}] for i, p in enumerate(predictions)},
                           **{("gts", i): [{"caption": r} for r in refs] for i, refs in enumerate(references)}})
    res = {i: tokens[("res", i)][0] for i in range(len(predictions))}
    gts = {i: [t for t in tokens.get(("gts", i), []) if t] for i in range(len(references))}
    empty = [i for i, refs in gts.items() if not refs]
    if empty:
        raise ValueError(f"{len(empty)} item(s) have no reference caption with a word in it (once PTB-tokenised, "
                         f"punctuation dropped), e.g. index {empty[0]}: {references[empty[0]][:3]!r}")
    return res, gts


def rouge1(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """ROUGE-1 F1 (unigram overlap of PTB tokens), best reference per item, averaged; 0-100."""
    scores = _rouge1_items(*_tokenised(predictions, references))
    return 100.0 * sum(scores) / len(scores)


def _rouge1_items(res: Mapping[int, str], gts: Mapping[int, Sequence[str]]) -> list[float]:
    """Per-item ROUGE-1 F1 (0-1) of tokenised captions (:func:`_tokenised`), best reference per item."""
    scores = []
    for i, pred in res.items():
        p = Counter(pred.split())
        best = 0.0
        for ref in gts[i]:
            r = Counter(ref.split())
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

    tokens, gts = _tokenised(predictions, references)
    res = {i: [t or "<empty>"] for i, t in tokens.items()}
    out: dict[str, float | None] = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for k, b in enumerate(bleu, start=1):
        out[f"BLEU-{k}"] = 100.0 * b
    if meteor:
        out["METEOR"] = 100.0 * _meteor_score(gts, res)
    rouge_l, rouge_l_items = Rouge().compute_score(gts, res)
    rouge_1_items = _rouge1_items(tokens, gts)
    cider, cider_items = Cider().compute_score(gts, res)
    out["ROUGE-L"] = 100.0 * rouge_l
    out["ROUGE-1"] = 100.0 * sum(rouge_1_items) / len(rouge_1_items)
    out["CIDEr"] = 100.0 * cider if len(predictions) >= CIDER_MIN_IMAGES else None
    if out["CIDEr"] is None:
        cider_items = [float("nan")] * len(predictions)
    out["SPICE"] = None  # needs Stanford CoreNLP (a download): unavailable offline
    items = {"CIDEr": cider_items, "ROUGE-L": rouge_l_items, "ROUGE-1": rouge_1_items}
    return out, {k: 100.0 * np.asarray(v, dtype=float) for k, v in items.items()}


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
