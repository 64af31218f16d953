"""Typed chapter configs and the three presets (``smoke``, ``default``, ``paper``).

A notebook's ``parameters`` cell holds plain values (``preset``, ``seed``, ``data_dir``, ``overrides``);
:func:`make_config` turns them into a frozen dataclass, rejecting unknown presets, unknown keys and values
of the wrong type with a message that lists what is valid.

A chapter declares its config as a dataclass deriving from :class:`ChapterConfig`; the class attribute
``PRESETS`` maps each preset to the field values that differ from the dataclass defaults.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar, Mapping

PRESET_NAMES = ("smoke", "default", "paper")


class ConfigError(ValueError):
    """A parameter is unknown or has a bad value; the message says which and what is valid."""


@dataclasses.dataclass(frozen=True)
class ChapterConfig:
    """Fields every chapter shares."""

    preset: str = "default"  # smoke | default | paper
    seed: int = 0  # one seed for every random draw of the chapter
    data_dir: str = ""  # real-data folder; "" means $C3_DATA, else none

    PRESETS: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _check_type(name: str, value: Any, hint: Any) -> Any:
    """Return ``value`` coerced to ``hint`` where lossless (int -> float, list -> tuple), else raise."""
    origin = typing.get_origin(hint)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
            return value
        raise ConfigError(f"parameter {name!r} must be {hint.__name__}, got {value!r} ({type(value).__name__})")
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"parameter {name!r} must be a list of {item.__name__}, got {value!r}")
        return tuple(_check_type(f"{name}[{i}]", v, item) for i, v in enumerate(value))
    raise TypeError(f"unsupported config type {hint!r} for {name!r}")  # a bug in c3lib, not user input


def make_config(cls: type[ChapterConfig], preset: str = "default", overrides: Mapping[str, Any] | None = None,
                **params: Any) -> ChapterConfig:
    """Build ``cls`` for ``preset``, then apply ``params`` and ``overrides`` (both checked).

    >>> make_config(ChapterConfig, "smoke", seed=3).seed
    3
    """
    if preset not in PRESET_NAMES:
        raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESET_NAMES)}")
    types = _field_types(cls)
    values: dict[str, Any] = dict(cls.PRESETS.get(preset, {}))
    values.update(params)
    values.update(dict(overrides or {}))
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(map(repr, unknown))} for {cls.__name__}; "
                          f"valid keys: {', '.join(sorted(k for k in types if k != 'preset'))}")
    checked = {k: _check_type(k, v, types[k]) for k, v in values.items()}
    checked["preset"] = preset
    return cls(**checked)
