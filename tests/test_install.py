"""pyproject.toml holds ranges, constraints.txt the exact versions the book was built with: every dependency
is pinned there, and every pin lies in its range (so `pip install -c constraints.txt .` resolves)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    out = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[canonicalize_name(name)] = version.strip()
    return out


def test_every_dependency_is_pinned_inside_its_range():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = _pins()
    reqs = [Requirement(r) for r in meta["dependencies"] + meta["optional-dependencies"]["html"]
            + meta["optional-dependencies"]["dev"] + meta["optional-dependencies"]["lm"] + meta["optional-dependencies"]["smollm2"]]
    for req in reqs:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} has no pin in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} is outside {req}"
        assert "==" not in str(req.specifier), f"{req}: exact pins belong in constraints.txt"
    assert meta["requires-python"] == ">=3.11,<3.13"
    assert "seaborn" not in pins and not any(canonicalize_name(r.name) == "seaborn" for r in reqs)
