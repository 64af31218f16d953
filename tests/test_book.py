"""The book builder: chapter discovery, and the cleaning of executed notebooks for reading."""

from __future__ import annotations

import os

import nbformat
import pytest

from c3lib import book


def test_squash_keeps_final_progress_state(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="warn: IProgress not found. Please update\n"),
        nbformat.v4.new_output("stream", name="stderr", text="\rbar:   0%|"),
        nbformat.v4.new_output("stream", name="stderr", text="\rbar:  50%|"),
        nbformat.v4.new_output("stream", name="stderr", text="\rbar: 100%|\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "table"}),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    book.squash_progress(path)
    outs = nbformat.read(path, as_version=4).cells[1].outputs
    assert [o.output_type for o in outs] == ["stream", "display_data", "stream"]
    assert outs[0].text == "bar: 100%|\n"
    assert outs[2].text == "done\n"


def test_chapter_filter():
    assert [p.name[:2] for p in book.chapters(["01"])] == ["01"]
    with pytest.raises(SystemExit, match="no chapter matches"):
        book.chapters(["77"])


def _executed(params_src: str, injected_src: str | None, more: list | None = None):
    """A notebook shaped like papermill's output: parameters cell, injected cell, then ``more`` cells."""
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_markdown_cell("# Chapter"),
             nbformat.v4.new_code_cell(params_src, metadata={"tags": ["parameters"]})]
    if injected_src is not None:
        cells.append(nbformat.v4.new_code_cell(injected_src, metadata={"tags": ["injected-parameters"]}))
    nb.cells = cells + (more or [])
    return nb


def test_merge_parameters_keeps_comments_and_uses_injected_values():
    nb = _executed('preset = "smoke"  # smoke | default | paper\nseed = 0  # the seed\n'
                   'taus = [0.01,\n        0.07]  # temperatures\n',
                   '# Parameters\npreset = "default"\ntaus = [0.5]\ndata_dir = "/data"\n')
    book.merge_parameters(nb)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert ["injected-parameters"] not in tags and len(nb.cells) == 2
    assert nb.cells[1].source == ('preset = "default"  # smoke | default | paper\nseed = 0  # the seed\n'
                                  'taus = [0.5]  # temperatures\n'
                                  'data_dir = "/data"  # set by the book build')
    ns: dict = {}
    exec(nb.cells[1].source, ns)  # still valid Python with the executed values
    assert (ns["preset"], ns["seed"], ns["taus"], ns["data_dir"]) == ("default", 0, [0.5], "/data")


def test_merge_parameters_handles_non_ascii_comments_and_missing_cells():
    nb = _executed('sigma = 0.1  # σ, the noise std\nlabel = "é"\n', 'sigma = 0.2\nlabel = "ü"\n')
    book.merge_parameters(nb)
    assert nb.cells[1].source == 'sigma = 0.2  # σ, the noise std\nlabel = "ü"\n'
    untouched = _executed("x = 1\n", None)
    book.merge_parameters(untouched)
    assert untouched.cells[1].source == "x = 1\n"
    only_injected = _executed("", "x = 2\n")
    only_injected.cells.pop(1)
    book.merge_parameters(only_injected)
    assert only_injected.cells[1].metadata["tags"] == ["parameters"]


def test_clean_executed_moves_stderr_to_log_and_hides_code(tmp_path):
    work = nbformat.v4.new_code_cell("run()")
    work.outputs = [nbformat.v4.new_output("stream", name="stderr", text="UserWarning: careful\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="result 3\n"),
                    nbformat.v4.new_output("display_data", data={
                        "text/plain": "bar 100%", book.WIDGET_MIME: {"model_id": "abc"}}),
                    nbformat.v4.new_output("display_data", data={book.WIDGET_MIME: {"model_id": "d"}})]
    kept = nbformat.v4.new_code_cell("secret()", metadata={"tags": ["remove-cell"]})
    nb = _executed('preset = "smoke"  # p\n', 'preset = "default"\n', [work, kept])
    nb.metadata["widgets"] = {"state": {}}
    path, log = tmp_path / "01_x.ipynb", tmp_path / "logs" / "01_x.log"
    nbformat.write(nb, path)
    book.clean_executed(path, log)
    out = nbformat.read(path, as_version=4)
    params, run, secret = out.cells[1], out.cells[2], out.cells[3]
    assert params.source == 'preset = "default"  # p\n' and params.metadata.tags == ["parameters"]
    assert run.metadata.tags == ["hide-input"] and secret.metadata.tags == ["remove-cell"]
    assert [o.output_type for o in run.outputs] == ["stream", "display_data"]
    assert run.outputs[0].name == "stdout" and book.WIDGET_MIME not in run.outputs[1].data
    assert "widgets" not in out.metadata
    assert "UserWarning: careful" in log.read_text() and "## cell 2" in log.read_text()
    assert book.log_path(path) == log


def test_execute_switches_progress_off_for_the_kernel_only(monkeypatch):
    monkeypatch.setenv("C3_PROGRESS", "1")
    with book._env(C3_PROGRESS="0", C3_UNSET_HERE="x"):
        assert os.environ["C3_PROGRESS"] == "0" and os.environ["C3_UNSET_HERE"] == "x"
    assert "C3_UNSET_HERE" not in os.environ
    assert os.environ["C3_PROGRESS"] == "1"
