"""Validation at the boundary: one clear error naming the argument, the value and what is valid.

Public functions call these on their arguments before any work, so a bad input fails at once with a
message a reader can act on, never later as NaN or as a traceback from inside a library. Config fields
declare their ranges with :class:`Range` (see :mod:`c3lib.config`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """A closed or open interval of valid numbers; ``None`` is unbounded on that side."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, v: float) -> bool:
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return not (self.high is not None and (v >= self.high if self.high_open else v > self.high))

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}" if self.low is not None else "any finite number"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


POSITIVE = Range(0, low_open=True)  # > 0
NONNEG = Range(0)  # >= 0: counts where 0 means "none" or "all", as the field's comment says
AT_LEAST_1 = Range(1)  # >= 1: sizes and counts
AT_LEAST_2 = Range(2)
FRACTION = Range(0, 1)  # in [0, 1]
OPEN_FRACTION = Range(0, 1, low_open=True)  # in (0, 1]


def number(name: str, value: Any, valid: Range = Range(), integer: bool = False) -> float | int:
    """``value`` if it is a real (``integer``: whole) finite number in ``valid``, else a clear error."""
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    if not ok_type:
        raise TypeError(f"{name} must be {kind} ({valid}), got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite ({valid}), got {value!r}")
    if value not in valid:
        raise ValueError(f"{name} must be {valid}, got {value!r}")
    return value


def flag(name: str, value: Any) -> bool:
    """``value`` if it is a bool (``numpy.bool_`` too), else a clear :class:`TypeError`."""
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def optional_count(name: str, value: Any) -> int | None:
    """``None`` (no limit) or an integer >= 1."""
    return None if value is None else number(name, value, AT_LEAST_1, integer=True)


def text_list(name: str, value: Any, allow_empty: bool = False) -> list[str]:
    """A list (or tuple) of strings; a bare string is refused (it would be read character by character)."""
    if type(value).__name__ == "ndarray" and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list of strings, got {type(value).__name__} {str(value)[:60]!r}")
    bad = [i for i, v in enumerate(value) if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{name}[{bad[0]}] must be a string, got {value[bad[0]]!r} ({type(value[bad[0]]).__name__})")
    if not value and not allow_empty:
        raise ValueError(f"{name} is empty: give at least one string")
    return list(value)
