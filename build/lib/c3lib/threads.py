"""The thread count of every process that computes a number of the book, fixed in one place.

Torch's CPU kernels (and the BLAS under numpy) split sums across threads, and the order of a floating-point
sum changes its last bits: a captioner trained with 1 thread and with 2 threads differs bit for bit. So the
count is a setting, ``$C3_THREADS`` (default 1), applied by :func:`configure`: :class:`c3lib.results.Timer`
calls it (every chapter starts one in its first cell) and :mod:`c3lib.book` passes :func:`kernel_env` to
the kernels it starts, so BLAS reads the same count at start-up. More threads are faster on a big machine,
and reproduce the book's numbers only up to rounding.
"""

from __future__ import annotations

import os

ENV_VAR = "C3_THREADS"
DEFAULT = 1


def count() -> int:
    """``$C3_THREADS`` as a positive integer (``DEFAULT`` when unset); anything else is a clear error."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{ENV_VAR} must be a whole number >= 1, got {raw!r}")
    return int(raw)


def kernel_env(n: int | None = None) -> dict[str, str]:
    """Environment variables that make a child process start with ``n`` threads (torch, OpenMP, BLAS)."""
    n = count() if n is None else n
    return {ENV_VAR: str(n), "OMP_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n), "OPENBLAS_NUM_THREADS": str(n)}


def configure(n: int | None = None) -> int:
    """Use ``n`` (default :func:`count`) threads in this process for torch and BLAS; returns ``n``."""
    import torch
    from threadpoolctl import threadpool_limits

    n = count() if n is None else n
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    threadpool_limits(n)
    return n
