"""Sphinx additions of the C3 book: MathJax served offline, and each page's scripts written once.

**MathJax offline.** Sphinx's default ``mathjax_path`` is a CDN URL, so offline the book shows raw ``\\(...\\)``. The wheel
(pinned in pyproject.toml) ships MathJax 3.2.2's ``es5`` build inside the Python package ``mathjax``. At
``builder-inited`` the pieces a page can load (the combined TeX-to-CHTML component, its fonts, and the
extensions, menu and accessibility modules it loads lazily from beside itself) are copied to
``_static/mathjax/`` of the HTML output and ``mathjax_path`` is pointed at them. A ``mathjax_path`` set by
hand in ``_config.yml`` is left alone (the browser test breaks MathJax that way on purpose).

**Scripts once.** With jupyter-book 1.0.4 on Sphinx 7.4 the inline configuration scripts of sphinx-thebe and
sphinx-togglebutton are registered twice (at two priorities), so every page redeclares
``const THEBE_JS_URL`` and the browser logs a SyntaxError. ``_dedupe_scripts`` keeps the first of each
identical script (same file, same attributes; an inline one is registered with filename None or "").
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

TARGET = "mathjax"  # folder under _static/
ENTRY = "tex-chtml.js"
PARTS = ["input", "output/chtml", "ui", "a11y", "sre", "adaptors"]


def mathjax_es5() -> Path:
    """The folder holding MathJax 3's ``es5`` build, from the installed ``mathjax`` package."""
    try:
        import mathjax
    except ImportError as exc:
        raise ExtensionError("MathJax is served from the django-static-mathjax wheel, which is not installed: "
                             "run `make setup` (pip install -e '.[dev]')") from exc
    folder = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (folder / ENTRY).is_file():
        raise ExtensionError(f"{folder / ENTRY} is missing: reinstall django-static-mathjax")
    return folder


def _use_local(app, config) -> None:
    from sphinx.ext.mathjax import MATHJAX_URL

    if config.mathjax_path == MATHJAX_URL:
        config.mathjax_path = f"{TARGET}/{ENTRY}"


def _copy(app) -> None:
    if app.builder.format != "html" or config_is_manual(app):
        return
    src, dest = mathjax_es5(), Path(app.outdir) / "_static" / TARGET
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / ENTRY, dest / ENTRY)
    for part in PARTS:
        shutil.copytree(src / part, dest / part, dirs_exist_ok=True)


def config_is_manual(app) -> bool:
    return app.config.mathjax_path != f"{TARGET}/{ENTRY}"


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, kept = set(), []
    for js in sorted(context.get("script_files", []), key=lambda js: js.priority):
        key = (str(js.filename or ""), tuple(sorted(js.attributes.items())))  # None and "" both mean inline
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("config-inited", _use_local)
    app.connect("builder-inited", _copy)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
