"""Which chapter needs which, read from the source: nothing here is a list kept by hand.

A building block *holds a chapter's store* when its source names that chapter, a string literal equal to a
notebook's stem (``spaces`` says ``runs_dir("05_connect")``, ``decoders`` says
``CHAPTER = "06_captioning"``): it trains or loads what that chapter makes. A chapter *needs* chapter NN
when its notebook or its chapter module imports, directly or through other building blocks (imports inside
functions included), a block that holds chapter NN's store. A notebook with no chapter module (``99``, the
results page) needs every other chapter. The chapter modules are parsed, never imported (``c3lib.book``
imports no chapter).

    >>> needs()["09"]
    ['05', '06']
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from c3lib.paths import REPO_ROOT

STEM = re.compile(r"(\d\d)_[a-z0-9_]+")


def module_files(root: Path = REPO_ROOT) -> dict[str, Path]:
    """``c3lib`` module name -> its file (``c3lib.chapters.ch09_x`` -> ``.../ch09_x/__init__.py``)."""
    out = {}
    for path in sorted((root / "c3lib").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(source: str, this: str = "", is_package: bool = False) -> set[str]:
    """Every ``c3lib`` name ``source`` imports, anywhere in it (``from c3lib import x`` gives ``c3lib.x``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "c3lib"}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = this.split(".") if is_package else this.split(".")[:-1]
                mod = ".".join(base[:len(base) - node.level + 1] + ([mod] if mod else []))
            if mod.split(".")[0] == "c3lib":
                out |= {mod} | {f"{mod}.{a.name}" for a in node.names}
    return out


def notebook_code(path: Path) -> str:
    """The code cells of a notebook, without IPython magics and shell lines."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = [ln for c in cells if c["cell_type"] == "code"
             for ln in "".join(c["source"]).splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def _is_chapter(name: str) -> bool:
    return name.startswith("c3lib.chapters.ch")


def store_owners(files: dict[str, Path], stems: dict[str, str]) -> dict[str, set[str]]:
    """Building block -> the chapter numbers whose store it holds (string literals naming a chapter)."""
    owners = {}
    for name, path in files.items():
        if _is_chapter(name):
            continue
        found = {node.value[:2] for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)
                 and STEM.fullmatch(node.value) and node.value in stems.values()}
        if found:
            owners[name] = found
    return owners


def reach(start: set[str], files: dict[str, Path], own: str = "") -> set[str]:
    """The modules ``start`` imports, transitively, through building blocks and the chapter package ``own``
    (another chapter's modules are never entered: chapters do not import chapters)."""
    seen: set[str] = set()
    todo = [m for m in start if m in files]
    while todo:
        name = todo.pop()
        if name in seen or (_is_chapter(name) and not (own and (name == own or name.startswith(own + ".")))):
            continue
        seen.add(name)
        path = files[name]
        todo += [m for m in imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
                 if m in files]
    return seen


def needs(root: Path = REPO_ROOT) -> dict[str, list[str]]:
    """Chapter number -> the chapter numbers that must run before it, e.g. ``{"06": ["05"], ...}``."""
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    stems = {p.name[:2]: p.stem for p in notebooks}
    files = module_files(root)
    owners = store_owners(files, stems)
    out = {}
    for nb in notebooks:
        num, module = nb.name[:2], f"c3lib.chapters.ch{nb.stem}"
        if module not in files:
            out[num] = sorted(n for n in stems if n != num)
            continue
        used = reach(imports(notebook_code(nb)) | {module}, files, own=module)
        out[num] = sorted({o for m in used for o in owners.get(m, ()) if o != num})
    return out
