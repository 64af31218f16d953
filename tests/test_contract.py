"""One chapter contract: every chapter module has ``run(cfg) -> ChapterResult``; every chapter notebook calls it,
plots, and publishes what it returns, with no logic of its own (no thresholds, no paper numbers, no sentences
built from results, no results file written by hand)."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import nbformat
import pytest

from c3lib import paper
from c3lib.chapter import ChapterResult
from c3lib.config import ChapterConfig

REPO = Path(__file__).resolve().parent.parent
CHAPTER_NOTEBOOKS = [p for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")) if not p.name.startswith("99")]
# Long quoted numbers ("93.3", "0.83", "106.6"): short ones ("0.2", "25") collide with plot settings.
PAPER_NUMBERS = sorted({t for _, t in paper.quotes() if len(t) >= 4 and re.fullmatch(r"[0-9.]+", t)})
FORBIDDEN = {"results.save(": "the chapter's publish() writes the results file",
             "glue_values(": "prose values come from the chapter's run (out.prose)",
             "glue_markdown(": "sentences come from the chapter's run (out.markdown)",
             "glue_verdict": "verdicts are glued by publish()",
             "report.verdict(": "verdict words come from c3lib.verdict through publish()",
             ".claims(": "claims are computed inside run()"}


def _module(nb: Path):
    return importlib.import_module(f"c3lib.chapters.ch{nb.stem}")


def _code(nb: Path) -> list[str]:
    book = nbformat.read(nb, as_version=4)
    return [c.source for c in book.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("nb", CHAPTER_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_module_has_run_taking_its_config(nb):
    mod = _module(nb)
    assert hasattr(mod, "run"), f"{mod.__name__} has no run(cfg)"
    params = list(inspect.signature(mod.run).parameters)
    assert params[0] == "cfg", f"{mod.__name__}.run's first parameter is {params[0]!r}, not cfg"
    configs = [c for c in vars(mod).values() if inspect.isclass(c) and issubclass(c, ChapterConfig)
               and c is not ChapterConfig and c.__module__.startswith(mod.__name__)]
    assert configs, f"{mod.__name__} declares no ChapterConfig"
    hint = inspect.signature(mod.run).return_annotation
    assert hint in (ChapterResult, "ChapterResult"), f"{mod.__name__}.run returns {hint!r}, not ChapterResult"


@pytest.mark.parametrize("nb", CHAPTER_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_runs_its_chapter_and_publishes_it(nb):
    code = "\n".join(_code(nb))
    assert re.search(r"\bch\.run\(cfg", code), f"{nb.name} never calls ch.run(cfg)"
    assert code.count(".publish(cfg, timer)") == 1, f"{nb.name} must publish its result once"
    bad = {k: why for k, why in FORBIDDEN.items() if k in code}
    assert not bad, f"{nb.name}: {bad}"


@pytest.mark.parametrize("nb", CHAPTER_NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_types_a_paper_number_or_a_threshold(nb):
    code = "\n".join(_code(nb))
    typed = [t for t in PAPER_NUMBERS if re.search(rf"(?<![\w.]){re.escape(t)}(?![\w.])", code)]
    assert not typed, f"{nb.name} types the paper's numbers {typed}: read them from c3lib.paper through the chapter"
    comparisons = re.findall(r"[<>]=?\s*-?\d+\.\d+|-?\d+\.\d+\s*[<>]=?", code)
    assert not comparisons, f"{nb.name} compares with literal thresholds {comparisons}: claims belong to the module"


def test_the_contract_rules_catch_what_they_forbid(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("preset = 'smoke'", metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell("ok = g >= 0.6\nx = 93.3\nresults.save(1)")])
    path = tmp_path / "06_fake.ipynb"
    nbformat.write(nb, path)
    code = "\n".join(_code(path))
    assert "93.3" in PAPER_NUMBERS and any(k in code for k in FORBIDDEN)
    assert re.findall(r"[<>]=?\s*-?\d+\.\d+|-?\d+\.\d+\s*[<>]=?", code) == [">= 0.6"]
