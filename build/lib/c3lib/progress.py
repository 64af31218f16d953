"""Progress bars: a widget in Jupyter, text in a terminal, nothing in the built book.

``progress`` wraps ``tqdm.auto.tqdm`` (which picks the ipywidgets bar inside a notebook and the text bar
elsewhere) behind one switch, the environment variable ``C3_PROGRESS``. ``c3lib.book`` sets
``C3_PROGRESS=0`` for the papermill runs of the book, so executed chapters carry no progress output; a
reader who opens a chapter in Jupyter gets live bars. The switch only ever turns bars off: a caller's own
``disable=True`` still holds when it is on.

    for step in progress(range(num_steps), desc="SGD"):
        ...
"""

from __future__ import annotations

import os
from typing import Any, Iterable

ENV = "C3_PROGRESS"
_OFF = {"0", "false", "no", "off"}


def enabled() -> bool:
    """True unless ``$C3_PROGRESS`` is one of 0/false/no/off (any case); unset means on."""
    return os.environ.get(ENV, "1").strip().lower() not in _OFF


def progress(iterable: Iterable | None = None, **kw: Any):
    """A ``tqdm.auto.tqdm`` over ``iterable`` (or a manual bar with ``total=``), disabled when switched off.

    Keyword arguments go to tqdm unchanged; ``disable`` is forced to True when ``enabled()`` is False.
    The switch is read at each call, so a process can change it between bars.
    """
    from tqdm.auto import tqdm

    kw["disable"] = bool(kw.get("disable", False)) or not enabled()
    return tqdm(iterable, **kw)
