"""The folder tree is the architecture: rules read from the source's imports, not from a list kept by hand.

- A chapter module (``c3lib/chapters/chNN_*.py``) never imports another chapter module.
- ``c3lib`` has no import cycles (imports inside functions count: they are dependencies too).
- A building block never imports a chapter module; the command lines (``book``, ``evaluate``) import no chapter.
- A notebook imports its own chapter module, building blocks and the report and results helpers, never
  another chapter's module.
- No module of ``c3lib`` is over 350 lines, and none needs ``noqa: E402`` (imports after code).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LIB = REPO / "c3lib"
MAX_LINES = 350


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported(tree: ast.AST, this: str, is_package: bool) -> set[str]:
    """Every ``c3lib`` module ``tree`` imports (``from c3lib import x`` counts as ``c3lib.x`` when x is one)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "c3lib"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = this.split(".") if is_package else this.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "c3lib":
                continue
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the ``c3lib`` modules it imports (only names that are modules of ``sources``)."""
    edges = {}
    for name, text in sources.items():
        deps = imported(ast.parse(text), name, is_package=False)
        edges[name] = {d for d in deps if d in sources and d != name}
    return edges


def library_sources() -> dict[str, str]:
    return {module_name(p): p.read_text(encoding="utf-8") for p in sorted(LIB.rglob("*.py"))}


def chapter_of(name: str) -> str | None:
    """``c3lib.chapters.chNN_x`` for that chapter's module or any module of its package, else ``None``."""
    m = re.fullmatch(r"(c3lib\.chapters\.ch\d\d_\w+?)(\.\w+)*", name)
    return m.group(1) if m else None


def is_chapter(name: str) -> bool:
    return chapter_of(name) is not None


def chapter_violations(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} imports {b}" for a, deps in edges.items() if is_chapter(a)
                  for b in deps if is_chapter(b) and chapter_of(b) != chapter_of(a))


def block_violations(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} imports {b}" for a, deps in edges.items() if not is_chapter(a)
                  for b in deps if is_chapter(b))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``edges`` (one per strongly connected group of two or more modules)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_a_chapter_never_imports_another_chapter():
    assert chapter_violations(graph(library_sources())) == []


def test_building_blocks_and_commands_import_no_chapter():
    assert block_violations(graph(library_sources())) == []


def test_the_library_has_no_import_cycles():
    assert cycles(graph(library_sources())) == []


def test_the_rules_catch_what_they_forbid():
    """The checks fail on a scratch layout that breaks each rule (so a passing check means something)."""
    scratch = {
        "c3lib.chapters.ch06_a": "from c3lib.chapters import ch07_b\n",
        "c3lib.chapters.ch07_b": "def f():\n    from c3lib.chapters.ch06_a import x\n",
        "c3lib.block": "import c3lib.chapters.ch07_b\n",
        "c3lib.p": "from c3lib import q\n", "c3lib.q": "def g():\n    import c3lib.p\n",
        "c3lib.chapters.ch09_c": "from c3lib.chapters.ch09_c import paper\n",  # its own package: allowed
        "c3lib.chapters.ch09_c.paper": "import numpy\n",
    }
    edges = graph(scratch)
    assert chapter_violations(edges) == ["c3lib.chapters.ch06_a imports c3lib.chapters.ch07_b",
                                         "c3lib.chapters.ch07_b imports c3lib.chapters.ch06_a"]
    assert block_violations(edges) == ["c3lib.block imports c3lib.chapters.ch07_b"]
    assert ["c3lib.p", "c3lib.q"] in cycles(edges)


def _notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = []
    for c in cells:
        if c["cell_type"] == "code":
            lines += [ln for ln in "".join(c["source"]).splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


@pytest.mark.parametrize("nb", sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_a_notebook_imports_only_its_own_chapter(nb):
    deps = imported(ast.parse(_notebook_code(nb)), "notebook", is_package=False)
    chapters = {chapter_of(d) for d in deps if is_chapter(d)}
    if nb.stem.startswith("99"):  # the results page reads results files, no chapter
        assert chapters == set(), f"{nb.name} imports {sorted(chapters)}"
        return
    own = f"c3lib.chapters.ch{nb.stem}"
    assert chapters <= {own}, f"{nb.name} imports {sorted(chapters - {own})}"
    assert own in deps, f"{nb.name} does not import its chapter module {own}"


@pytest.mark.parametrize("path", sorted(LIB.rglob("*.py")), ids=lambda p: str(p.relative_to(LIB)))
def test_modules_stay_small_and_import_at_the_top(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES, f"{path.name}: {len(text.splitlines())} lines (max {MAX_LINES})"
    assert "noqa: E402" not in text
