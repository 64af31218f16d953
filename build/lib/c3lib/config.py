"""Typed chapter configs and the three presets (``smoke``, ``default``, ``paper``).

A notebook's ``parameters`` cell holds plain values (``preset``, ``seed``, ``data_dir``, ``overrides``);
:func:`make_config` turns them into a frozen dataclass, rejecting unknown presets, unknown keys and values
of the wrong type or out of range with a message that lists what is valid. Numeric fields are finite and
``>= 0`` unless the class attribute ``RANGES`` (field name -> :class:`c3lib.checks.Range`) says otherwise.

A chapter declares its config as a dataclass deriving from :class:`ChapterConfig`; the class attribute
``PRESETS`` maps each preset to the field values that differ from the dataclass defaults. A field may itself
be a config dataclass (the decoder's :class:`c3lib.trainer.TrainConfig`, the captioning setup): it is built
for the same preset from its own ``PRESETS``, then the parent's preset values and the overrides for it
(nested dicts, e.g. ``{"setup": {"decoder": {"lr": 1e-3}}}``) are applied on top.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, ClassVar, Mapping

from c3lib.checks import NONNEG, Range

PRESET_NAMES = ("smoke", "default", "paper")


class ConfigError(ValueError):
    """A parameter is unknown or has a bad value; the message says which and what is valid."""


@dataclasses.dataclass(frozen=True)
class RunContext:
    """Where a chapter runs: its preset, its seed (the space and data draws) and its data folder ("": $C3_DATA).
    One object that the building blocks take, instead of three arguments threaded through every call."""

    preset: str = "default"
    seed: int = 0
    data_dir: str = ""

    def with_preset(self, preset: str | None) -> "RunContext":
        """The same context at another preset (``None`` or "": unchanged), e.g. a setup's space preset."""
        return dataclasses.replace(self, preset=preset) if preset else self


@dataclasses.dataclass(frozen=True)
class ChapterConfig:
    """Fields every chapter shares."""

    preset: str = "default"  # smoke | default | paper
    seed: int = 0  # one seed for every random draw of the chapter
    data_dir: str = ""  # real-data folder; "" means $C3_DATA, else none

    PRESETS: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    RANGES: ClassVar[Mapping[str, Range]] = {}  # numeric fields not named here must be finite and >= 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def context(self) -> RunContext:
        """This chapter's ``(preset, seed, data_dir)`` as one :class:`RunContext`."""
        return RunContext(self.preset, self.seed, self.data_dir)


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


def _is_number_hint(hint: Any) -> bool:
    if hint in (int, float):
        return True
    return typing.get_origin(hint) is tuple and any(a in (int, float) for a in typing.get_args(hint))


def check_ranges(cls: type, values: Mapping[str, Any], where: str = "") -> None:
    """Every number of ``values`` (items of a tuple too) finite and in its field's range: ``cls.RANGES[name]``,
    else ``>= 0`` (counts, sizes, rates: no field of a chapter is negative)."""
    ranges = getattr(cls, "RANGES", {})
    for name, hint in _field_types(cls).items():
        if name not in values or not _is_number_hint(hint):
            continue
        valid = ranges.get(name, NONNEG)
        items = values[name] if isinstance(values[name], (tuple, list)) else (values[name],)
        for v in items:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"parameter {where + name!r} of {cls.__name__} must be a number ({valid}), got {v!r}")
            if not (math.isfinite(v) and v in valid):
                raise ConfigError(f"parameter {where + name!r} of {cls.__name__} must be {'finite and ' * (not math.isfinite(v))}"
                                  f"{valid}, got {v!r}")


def check_config(cfg: Any) -> Any:
    """:func:`check_ranges` on a config built directly (``TrainConfig(lr=...)``) rather than by :func:`build`."""
    check_ranges(type(cfg), {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})
    for f in dataclasses.fields(cfg):
        if dataclasses.is_dataclass(getattr(cfg, f.name)):
            check_config(getattr(cfg, f.name))
    return cfg


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``top``, recursively where both hold a mapping."""
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), Mapping) and isinstance(v, Mapping) else v
    return out


def build(cls: type, preset: str, values: Mapping[str, Any] | None = None, where: str = "") -> Any:
    """``cls`` for ``preset``: its ``PRESETS[preset]`` updated by ``values``, every value type-checked and
    every nested config dataclass built the same way (``where`` names the nesting in error messages)."""
    types = _field_types(cls)
    merged = _merge(getattr(cls, "PRESETS", {}).get(preset, {}), values or {})
    unknown = sorted(set(merged) - set(types))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(repr(where + k) for k in unknown)} for {cls.__name__}; "
                          f"valid keys: {', '.join(sorted(k for k in types if k != 'preset'))}")
    checked = {name: _check_type(where + name, merged[name], hint) for name, hint in types.items()
               if name in merged and not dataclasses.is_dataclass(hint)}
    check_ranges(cls, checked, where)
    if "preset" in types:
        checked["preset"] = preset
    for name, hint in types.items():
        if not dataclasses.is_dataclass(hint):
            continue
        sub = merged.get(name, {})
        if isinstance(sub, hint):
            checked[name] = sub
            continue
        if not isinstance(sub, Mapping):
            raise ConfigError(f"parameter {where + name!r} must be a mapping of {hint.__name__} fields, got {sub!r}")
        if issubclass(hint, ChapterConfig):  # a nested chapter-level config shares the chapter's seed and data
            sub = {**{k: checked[k] for k in ("seed", "data_dir") if k in checked}, **sub}
        checked[name] = build(hint, preset, sub, f"{where}{name}.")
    return cls(**checked)


def make_config(cls: type[ChapterConfig], preset: str = "default", overrides: Mapping[str, Any] | None = None,
                **params: Any) -> ChapterConfig:
    """Build ``cls`` for ``preset``, then apply ``params`` and ``overrides`` (both checked).

    >>> make_config(ChapterConfig, "smoke", seed=3).seed
    3
    """
    if preset not in PRESET_NAMES:
        raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESET_NAMES)}")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"overrides must be a mapping of config fields, got {overrides!r}")
    if "preset" in (overrides or {}) or "preset" in params:
        raise ConfigError("the preset is set by the 'preset' parameter, not by overrides")
    return build(cls, preset, _merge(params, overrides or {}))
