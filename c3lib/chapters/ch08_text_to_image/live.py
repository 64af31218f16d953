"""Fig 11 live: type a prompt (or pick a held-out caption) and see what each trained variant draws from it.

Each draw starts from the same seeded noise (:meth:`c3lib.generator.EmbeddingGenerator.sample` with seed 0), so
one prompt gives one image per variant, and a changed prompt changes the image only through its embedding. The
panel keeps the last few prompts as columns, newest on the left: typing a variation of a prompt ("a red circle"
after "a blue circle") shows the two side by side in every row. :func:`draw_rows` is the drawing alone, a pure
function of the images; :func:`prompt_panel` the widget, shown only in a live Jupyter session
(:func:`c3lib.report.live`), so the static book keeps its glued Fig 11; :func:`live_panel` builds it from a
chapter run's stored generators.
"""

from __future__ import annotations

import textwrap
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from c3lib import report
from c3lib.image_metrics import to_uint8

Generator = Callable[[list[str]], torch.Tensor]  # prompts -> images (n, 3, S, S), uint8 or floats in [0, 1]


def _pixels(images, variant: str, n: int) -> np.ndarray:
    """One variant's images as uint8 ``(n, S, S, 3)`` for ``imshow``, refusing a wrong shape or count."""
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[1] != 3 or len(x) != n:
        raise ValueError(f"{variant}: expected images (n={n}, 3, S, S), one per prompt, got shape {tuple(x.shape)}")
    x = x if x.dtype == torch.uint8 else x.float().clamp(0, 1)
    return to_uint8(x).permute(0, 2, 3, 1).numpy()


def draw_rows(images_by_variant: Mapping[str, torch.Tensor | np.ndarray], prompts: Sequence[str] | str,
              size: float = 1.6):
    """A figure with one row per variant (its name on the row's left) and one column per prompt (the prompt
    above its column): ``images_by_variant[name]`` holds ``(len(prompts), 3, S, S)`` images, uint8 or floats
    in [0, 1]. A single prompt may be given as a string."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not images_by_variant or not prompts:
        raise ValueError("draw_rows needs at least one variant and one prompt")
    rows = {name: _pixels(x, name, len(prompts)) for name, x in images_by_variant.items()}
    fig, axes = plt.subplots(len(rows), len(prompts), figsize=(size * len(prompts) + 1, size * len(rows) + 0.6),
                             squeeze=False)
    for r, (name, pixels) in enumerate(rows.items()):
        for c, ax in enumerate(axes[r]):
            ax.imshow(pixels[c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(textwrap.fill(prompts[c], 22), fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=9, color=report.COLOURS.get(name, "black"))
    fig.tight_layout()
    return fig


def prompt_panel(generators: Mapping[str, Generator], prompts: Sequence[str], n_recent: int = 4):
    """A text box with the held-out ``prompts`` as suggestions (any text may be typed); on Enter every
    generator draws the last ``n_recent`` distinct prompts (newest first) and :func:`draw_rows` shows them.
    Starts with ``prompts[0]``. Shown only when :func:`c3lib.report.live`; returns the widget, or None in the
    book build, where nothing is generated."""
    if not generators or not prompts:
        raise ValueError("prompt_panel needs at least one generator and one prompt")
    if n_recent < 1:
        raise ValueError(f"n_recent must be >= 1, got {n_recent}")
    if not report.live():
        return None
    recent: list[str] = []
    box = w.Combobox(options=list(prompts), value=prompts[0], placeholder="type a prompt, then Enter",
                     description="prompt", continuous_update=False, layout=w.Layout(width="90%"))
    out = w.Output()

    def redraw(prompt: str) -> None:
        prompt = prompt.strip()
        if not prompt:
            return
        recent[:] = [prompt] + [p for p in recent if p != prompt][:n_recent - 1]
        fig = draw_rows({name: gen(list(recent)) for name, gen in generators.items()}, recent)
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)

    box.observe(lambda change: redraw(change["new"]), names="value")
    redraw(box.value)
    panel = w.VBox([box, out])
    display(panel)
    return panel


def live_generators(cfg, space: str = "world-clip",
                    seed: int | None = None) -> tuple[dict[str, Generator], list[str]]:
    """The generators of ``space`` (seed ``seed``, default the first) as ``prompts -> images`` callables (typed
    text through the space's own text encoder, each variant's inference map, the denoiser from seed-0 noise),
    loaded from the run store where the chapter left them, and the space's held-out captions. A redraw embeds
    its prompts once for every variant."""
    from c3lib.chapters.ch08_text_to_image.generation import autoencoder_and_latents, train_generator
    from c3lib.image_tasks import build_task, text_features

    task = build_task(space, cfg.context, cfg.n_train, cfg.n_eval, cfg.image_size)
    ae, latents, _ = autoencoder_and_latents(task, cfg, space)
    task = {**task, "autoencoder": ae, "lat_train": latents}
    seed = cfg.seeds[0] if seed is None else seed

    @lru_cache(maxsize=8)
    def embedded(prompts: tuple[str, ...]) -> np.ndarray:
        return text_features(task, list(prompts))

    out: dict[str, Generator] = {}
    for variant in cfg.variants:
        gen, infer, _ = train_generator(task, variant, seed, cfg, space)
        out[variant] = lambda prompts, g=gen, f=infer: g.sample(f(embedded(tuple(prompts)), "target"), seed=0)
    return out, list(task["prompts"])


def live_panel(cfg, space: str = "world-clip", n_recent: int = 4):
    """Fig 11 live for a chapter run (:func:`prompt_panel` over :func:`live_generators`); in the book build it
    returns None before loading anything."""
    if not report.live():
        return None
    generators, prompts = live_generators(cfg, space)
    return prompt_panel(generators, prompts, n_recent)
