"""One place that fixes how many CPU threads a chapter computes with.

``configure(n)`` sets torch's intra-op thread count to ``n`` (else ``$C3_THREADS``; unset: leave torch as
it is). ``c3lib.book`` writes ``C3_THREADS`` and the BLAS variables (``OMP_NUM_THREADS`` ...) into each
worker's kernel environment, so numpy's BLAS is fixed when it loads, and ``c3lib.config.make_config``
(the first call of every chapter) calls ``configure()``, so torch is fixed before any training.
"""

from __future__ import annotations

import os

ENV = "C3_THREADS"
BLAS_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def configure(n: int | None = None) -> int | None:
    """Use ``n`` (or ``$C3_THREADS``) torch threads; return the count set, or ``None`` when neither is given."""
    if n is None:
        raw = os.environ.get(ENV, "").strip()
        if not raw:
            return None
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"${ENV} must be a positive integer, got {raw!r}")
        n = int(raw)
    import torch

    torch.set_num_threads(int(n))
    return int(n)
