"""Chapter 08's live Fig 11 panel: the pure drawing, and the widget's prompt history (live) or nothing (book)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from c3lib.chapters.ch08_text_to_image import live


def test_draw_rows_has_one_row_per_variant_named_and_one_column_per_prompt():
    rng = np.random.default_rng(0)
    images = {"C1": torch.from_numpy(rng.integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)),
              "C3": torch.from_numpy(rng.random((2, 3, 8, 8))).float(),
              "real": rng.random((2, 3, 8, 8))}
    fig = live.draw_rows(images, ["a red circle", "a blue square at the top"])
    grid = np.array(fig.axes).reshape(3, 2)
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["C1", "C3", "real"]
    assert [ax.get_title().replace("\n", " ") for ax in grid[0]] == ["a red circle", "a blue square at the top"]
    assert np.array_equal(grid[0, 1].images[0].get_array(), images["C1"][1].permute(1, 2, 0).numpy())
    shown = np.asarray(grid[1, 0].images[0].get_array())
    assert np.array_equal(shown, (images["C3"][0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy())
    plt.close(fig)
    one = live.draw_rows({"C3": images["C3"][:1]}, "a green triangle")
    assert len(one.axes) == 1 and one.axes[0].get_ylabel() == "C3"
    plt.close(one)


def test_draw_rows_refuses_images_that_do_not_match_the_prompts():
    with pytest.raises(ValueError, match="C3: expected images"):
        live.draw_rows({"C3": torch.zeros(3, 3, 8, 8)}, ["one", "two"])
    with pytest.raises(ValueError, match="C3: expected images"):
        live.draw_rows({"C3": torch.zeros(2, 1, 8, 8)}, ["one", "two"])


def _recording(calls: list):
    def gen(prompts: list[str]) -> torch.Tensor:
        calls.append(list(prompts))
        return torch.zeros(len(prompts), 3, 4, 4, dtype=torch.uint8)
    return gen


def test_the_book_build_gets_no_panel_and_generates_nothing(monkeypatch):
    monkeypatch.setenv("C3_BOOK", "1")
    calls = []
    assert live.prompt_panel({"C3": _recording(calls)}, ["a red circle"]) is None
    assert calls == []


def test_a_live_panel_keeps_the_last_prompts_newest_first(monkeypatch):
    monkeypatch.delenv("C3_BOOK", raising=False)
    calls = []
    panel = live.prompt_panel({"C1": _recording(calls), "C3": _recording(calls)}, ["a red circle", "a cube"],
                              n_recent=2)
    box = panel.children[0]
    assert calls == [["a red circle"]] * 2  # drawn at once, from the first held-out caption
    box.value = "a blue circle"
    assert calls[-1] == ["a blue circle", "a red circle"]
    box.value = "a cube"
    assert calls[-1] == ["a cube", "a blue circle"]  # at most n_recent columns
    box.value = "a blue circle"
    assert calls[-1] == ["a blue circle", "a cube"]  # a repeated prompt moves to the front, once
    n = len(calls)
    box.value = "  "
    assert len(calls) == n  # an empty box draws nothing
    with pytest.raises(ValueError, match="n_recent"):
        live.prompt_panel({"C3": _recording(calls)}, ["x"], n_recent=0)


def test_the_chapter_panel_loads_nothing_in_the_book_build_and_typed_prompts_need_a_frozen_text_tower(monkeypatch):
    from c3lib import image_tasks
    from c3lib.chapters import ch08_text_to_image as ch
    from c3lib.config import make_config

    monkeypatch.setenv("C3_BOOK", "1")
    monkeypatch.setattr(image_tasks, "build_task", lambda *a, **k: 1 / 0)  # a load would fail loudly
    assert ch.live.live_panel(make_config(ch.TextToImageConfig, "smoke")) is None
    with pytest.raises(ValueError, match="frozen-tower space"):
        image_tasks.text_features({"tower_input": 8}, ["a red circle"])
    with pytest.raises(ValueError, match="non-empty"):
        image_tasks.text_features({"text_module": None}, ["  "])
