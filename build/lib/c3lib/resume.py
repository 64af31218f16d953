"""Mid-run checkpoints of decoder training: resume after a kill to exactly the numbers of an unbroken run.

After every epoch :func:`save` writes everything the rest of the run depends on (model, optimiser and
scheduler states, the early-stopping state, the training log, and the states of every random generator
the loop draws from: torch's global generator, which dropout uses, and numpy generators) as one unit with
a manifest (:func:`c3lib.runstore.save_run`). :func:`load` returns it only when it is complete and was
written for the same ``key``; a damaged checkpoint is discarded with one warning naming the file, and
training starts again from epoch 0 (same seed: the same numbers, only later).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from c3lib import runstore

STATE = "state.pt"


def rng_states(rngs: list[np.random.Generator]) -> dict[str, Any]:
    """The states of torch's global generator and of ``rngs`` (numpy), to restore with :func:`set_rng_states`."""
    return {"torch": torch.get_rng_state(), "numpy": [r.bit_generator.state for r in rngs]}


def set_rng_states(states: dict[str, Any], rngs: list[np.random.Generator]) -> None:
    torch.set_rng_state(states["torch"])
    for r, s in zip(rngs, states["numpy"], strict=True):
        r.bit_generator.state = s


def save(folder: Path, key: str, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, lists, dicts) as the checkpoint in ``folder``, replacing the last."""
    runstore.save_run(Path(folder), key, lambda tmp: torch.save(state, tmp / STATE), {"epoch": state.get("epoch")})


def load(folder: Path | None, key: str) -> dict[str, Any] | None:
    """The checkpoint in ``folder`` written for ``key``, or ``None`` (absent, stale, or damaged: warned)."""
    if folder is None or not Path(folder).exists():
        return None
    why = runstore.check_run(Path(folder), key)
    if why is None:
        try:
            return torch.load(Path(folder) / STATE, weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError) as err:
            why = f"{Path(folder) / STATE} could not be read ({type(err).__name__}: {err})"
    if why != "its settings changed":
        warnings.warn(f"discarding the training checkpoint in {folder} and starting from epoch 0: {why}",
                      RuntimeWarning, stacklevel=3)
    return None


def clear(folder: Path | None) -> None:
    """Remove the checkpoint once the finished run is stored."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
