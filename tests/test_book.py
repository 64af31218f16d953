"""The book builder: chapter discovery and progress-bar squashing of executed notebooks."""

from __future__ import annotations

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
