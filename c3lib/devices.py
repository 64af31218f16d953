"""Where models train and embed: one rule for every model of the book.

A device setting is ``"auto"`` (the default everywhere), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
``"auto"`` means ``$C3_DEVICE`` when it is set, else ``cuda`` when torch sees a GPU, else ``cpu``; so the
``paper`` preset uses a GPU where there is one, and ``C3_DEVICE=cpu`` keeps a GPU machine on the CPU (the
committed book was computed there, with one thread).

Configs resolve ``"auto"`` when they are built (:func:`resolve`), so what enters a run's key is the device
the model really uses: on a machine without a GPU every key is the one it was before ``"auto"`` existed.
Each results file records :func:`describe` (the device and, on a GPU, its name).
"""

from __future__ import annotations

import os
import re

import torch

ENV_VAR = "C3_DEVICE"
AUTO = "auto"
_VALID = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


def resolve(device: str = AUTO) -> str:
    """``device`` with ``"auto"`` replaced by ``$C3_DEVICE``, else ``cuda`` when available, else ``cpu``.

    >>> resolve("cpu")
    'cpu'
    """
    device = str(device).strip()
    if device == AUTO:
        device = os.environ.get(ENV_VAR, "").strip() or AUTO
    if device == AUTO:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not _VALID.match(device):
        raise ValueError(f"unknown device {device!r} (from {ENV_VAR} or a config); valid: auto, cpu, cuda, "
                         "cuda:N, mps")
    return device


def describe(device: str = AUTO) -> dict[str, str | None]:
    """``{"device": "cuda", "name": "NVIDIA H100 80GB HBM3"}`` (``name`` is ``None`` on the CPU): what a
    results file records about where its chapter computed."""
    dev = resolve(device)
    name = None
    if dev.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(dev))
    return {"device": dev, "name": name}


def key_entry(device: str = AUTO) -> dict[str, str]:
    """What a run key adds for ``device``: nothing on the CPU (keys written before devices were resolved stay
    valid), ``{"device": "cuda"}`` elsewhere (a model trained on a GPU differs in its last bits)."""
    dev = resolve(device)
    return {} if dev == "cpu" else {"device": dev}
