"""The committed executed chapters (book/NN_*.ipynb) agree with book/results/*.json and with their sources.

A fresh clone renders these pages without executing anything (``make html``), so they can drift from the
rest of the repository in ways no other test sees:

* a chapter re-run at another preset (``make chapter N=06 PRESET=smoke`` writes into book/);
* a results JSON from another run than the page (re-run, JSON committed, page not; or the reverse);
* a page executed from an older source notebook (notebooks/ edited since);
* a page that did not go through ``c3lib.book`` (papermill's injected cell and stderr still on it).

The page and its JSON are tied together three ways: the configuration the page displays equals the JSON's
``params``; every number of the JSON's comparison rows appears on the page; and the JSON's wall time fits
the page's own cell timings (from the cell that starts the Timer to the cell that saves), which another run
would not. Chapter 99 must show every chapter's current comparison numbers and wall time.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"
EXECUTED = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
PRESET = "default"  # the preset of the committed book
TIMING_SLACK_S = 2.0
TIMING_SLACK_SHARE = 0.005  # of the cells' own time: another run of a long chapter differs by far more
NO_BOOK = "no executed chapter is committed in book/ (book/NN_*.ipynb come from `make book` at preset=default)"


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _code(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _shown_text(nb) -> str:
    """Everything the page shows as output: streams and every text/* representation."""
    parts = []
    for cell in _code(nb):
        for out in cell.outputs:
            parts.append(out.get("text", ""))
            parts += [v if isinstance(v, str) else "".join(v) for k, v in out.get("data", {}).items()
                      if k.startswith("text/")]
    return "\n".join(parts)


def _shows(text: str, value) -> bool:
    """True when ``value`` appears in ``text`` as a number on its own, exactly as JSON holds it (trailing
    zeros allowed: pandas' Styler prints 6 places); a number under 1e-4 may instead be shown with 1-3
    significant digits in e-notation (pandas: 3.55e-15) or at 6 places (the Styler: 0.000002)."""
    forms = {repr(value)}
    if isinstance(value, float) and 0 < abs(value) < 1e-4:
        forms |= {f"{value:.{k}e}" for k in range(0, 3)} | {f"{value:.6f}"}
    return any(re.search(rf"(?<![\d.]){re.escape(f)}{'0*' if '.' in f and 'e' not in f else ''}(?![\d])", text)
               for f in forms)


def _numbers(record: dict) -> list:
    return [row["ours"] for row in record.get("comparison", [])
            if isinstance(row.get("ours"), (int, float)) and not isinstance(row["ours"], bool)]


def _results(nb_path: Path) -> dict:
    path = BOOK / "results" / f"{nb_path.stem}.json"
    assert path.exists(), f"{nb_path.name} is committed but {path.relative_to(REPO)} is not"
    return json.loads(path.read_text(encoding="utf-8"))


def _plain(value):
    """JSON's view of a Python literal: tuples become lists, dict keys strings."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _config_value(node):
    """A literal, or a nested config's repr (``TrainConfig(lr=...)``) as the dict of its fields, without
    ``data_dir`` (the results JSON leaves machine paths out at any depth)."""
    if isinstance(node, ast.Call):
        return {kw.arg: _config_value(kw.value) for kw in node.keywords if kw.arg != "data_dir"}
    return _plain(ast.literal_eval(node))


def _shown_config(nb) -> dict | None:
    """The keyword arguments of the ``SomethingConfig(...)`` repr the page displays, or None."""
    for cell in _code(nb):
        for out in cell.outputs:
            text = out.get("data", {}).get("text/plain", "")
            if out.output_type == "execute_result" and re.match(r"^\w*Config\(", text):
                return _config_value(ast.parse(text, mode="eval").body)
    return None


def _chapter_ids(paths):
    return [p.stem for p in paths] or ["none"]


CHAPTERS = [p for p in EXECUTED if not p.name.startswith("99")] or [None]


@pytest.mark.parametrize("path", EXECUTED or [None], ids=_chapter_ids(EXECUTED))
def test_page_is_a_clean_default_build_of_the_current_source(path):
    if path is None:
        pytest.skip(NO_BOOK)
    nb = _read(path)
    pm = nb.metadata.get("papermill", {})
    assert pm.get("parameters", {}).get("preset") == PRESET, \
        f"{path.name} was executed at preset={pm.get('parameters', {}).get('preset')!r}: re-run `make chapter N=" \
        f"{path.name[:2]}` (default) or `git checkout {path.relative_to(REPO)}`"
    assert not pm.get("exception"), f"{path.name} recorded an exception"
    tags = [t for c in nb.cells for t in c.get("metadata", {}).get("tags", [])]
    assert "injected-parameters" not in tags and tags.count("parameters") == 1, \
        f"{path.name} did not go through c3lib.book's cleaning (papermill's injected cell is still there)"
    outputs = [o for c in _code(nb) for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name} shows an error output"
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], \
        f"{path.name} shows stderr (c3lib.book moves it to book/logs/)"
    source = _read(REPO / "notebooks" / path.name)
    ours = [c.source for c in _code(nb) if "parameters" not in c.metadata.get("tags", [])]
    theirs = [c.source for c in _code(source) if "parameters" not in c.metadata.get("tags", [])]
    assert ours == theirs, f"{path.name} was executed from another version of notebooks/{path.name}: re-run it"


@pytest.mark.parametrize("path", CHAPTERS, ids=_chapter_ids([p for p in CHAPTERS if p]))
def test_page_and_results_json_come_from_one_run(path):
    if path is None:
        pytest.skip(NO_BOOK)
    nb, record = _read(path), _results(path)
    assert record["preset"] == PRESET and record["params"].get("preset") == PRESET, \
        f"book/results/{path.stem}.json is from preset={record['preset']!r}"
    shown = _shown_config(nb)
    assert shown is not None, f"{path.name} displays no configuration to compare with the JSON's params"
    shown.pop("data_dir", None)
    assert shown == record["params"], f"{path.name} ran with another configuration than its results JSON"
    text = _shown_text(nb)
    missing = [v for v in _numbers(record) if not _shows(text, v)]
    assert not missing, f"numbers of book/results/{path.stem}.json that {path.name} does not show: {missing}"
    cells = _code(nb)
    start = next(i for i, c in enumerate(cells) if "Timer()" in c.source)
    save = next(i for i, c in enumerate(cells) if ".publish(" in c.source)
    took = [float(c.metadata.get("papermill", {}).get("duration") or 0.0) for c in cells]
    lo, hi = sum(took[start + 1:save]), sum(took[start:save + 1])
    slack = max(TIMING_SLACK_S, TIMING_SLACK_SHARE * hi)  # papermill's time between cells grows with the run
    assert lo - slack <= record["wall_time_s"] <= hi + slack, \
        f"book/results/{path.stem}.json took {record['wall_time_s']} s, but the page's cells from Timer() to " \
        f"publish took {lo:.1f}-{hi:.1f} s: the JSON comes from another run"


def _sections(nb) -> dict[str, str]:
    """Chapter 99's output text by section: a ``### NN_topic`` Markdown output opens one; "" is the summary."""
    sections, current = {"": ""}, ""
    for cell in _code(nb):
        for out in cell.outputs:
            md = out.get("data", {}).get("text/markdown", "")
            if md.startswith("### "):
                current = md[4:].strip()
                sections[current] = ""
                continue
            sections[current] += _shown_text(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
                outputs=[out])]))
    return sections


def test_results_page_shows_every_chapters_current_numbers():
    page = BOOK / "99_results.ipynb"
    if not page.exists():
        pytest.skip(NO_BOOK if not EXECUTED else "book/99_results.ipynb is not committed")
    sections = _sections(_read(page))
    stale = {}
    for path in sorted((BOOK / "results").glob("[0-9][0-9]_*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        missing = [v for v in _numbers(record) if not _shows(sections.get(path.stem, ""), v)]
        missing += [] if _shows(sections[""], record["wall_time_s"]) else [f"wall time {record['wall_time_s']}"]
        if missing:
            stale[path.name] = missing
    assert not stale, f"book/99_results.ipynb is older than these results (re-run it last): {stale}"


def test_shows_matches_whole_numbers_only():
    assert _shows("ROUGE-1 85.5 at 0", 85.5) and _shows("gap 0.8312", 0.8312) and _shows("<td>1.002960</td>", 1.00296)
    assert _shows("19.600000", 19.6) and _shows("err 3.55e-15", 3.55e-15) and _shows("err 3.5e-15", 3.54e-15) and _shows("<td>0.000002</td>", 1.69e-06)
    assert not _shows("ROUGE-1 185.5", 85.5) and not _shows("value 85.51", 85.5) and not _shows("12", 2)
    assert not _shows("1.5", 15) and not _shows("cos 0.99", 0.9912) and not _shows("0.6 and 0.61", 0.6121)
