"""The rendered book as a reader sees it: every chapter page opened in headless Chromium.

Two small chapters (and the results page) are executed at the smoke preset into a temporary book (same ``_config.yml``,
``_static``, ``_ext`` and cleaning as the real one), rendered strictly with jupyter-book, and each page is
opened from disk (``file://``, as a reader of a fresh clone opens ``_build/html/index.html``). Each page must
show typeset mathematics (no raw ``\\(`` or ``$$``), log no severe console error, request nothing outside the
site, load every image, show no traceback and not scroll sideways. One screenshot per page, what a reader
sees first, goes to ``_build/screenshots/`` (not committed).

``C3_SITE=_build/html`` checks an already built site instead (e.g. the full book after ``make html``).

Driver: Selenium, with Debian's ``chromium`` and ``chromium-driver``. The two packages are built from one
source, so driver and browser always match, and Selenium talks to the system driver by path, with nothing
to download. Playwright's Python package expects a browser build of its own fetched by
``playwright install`` (impossible offline), and drives other Chromium builds without a version guarantee.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = ["03_alignment_noise_temperature", "10_gap_shift", "99_results"]  # small at smoke; math, figures,
# tables; 99 (seconds) because the intro links to it
SHOTS = REPO / "_build" / "screenshots"
MATHJAX_WAIT_S = 20

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _tools() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("headless Chromium absent: apt-get install -y chromium chromium-driver (.ci/run does this "
                    "as root) to run the browser test")
    pytest.importorskip("selenium", reason="selenium absent: pip install -e '.[dev]'")
    return chromium, driver


def _build_smoke_site(root: Path) -> Path:
    """Execute CHAPTERS at smoke into ``root/book`` and render ``root`` with jupyter-book; return the site."""
    import yaml

    from c3lib import book

    for name in ("_config.yml", "_static", "_ext"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    (root / "book").mkdir()
    shutil.copy2(REPO / "book" / "intro.md", root / "book" / "intro.md")
    toc = {"format": "jb-book", "root": "book/intro",
           "parts": [{"caption": "Smoke chapters", "chapters": [{"file": f"book/{c}"} for c in CHAPTERS]}]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    env = {"C3_RESULTS": str(root / "results"), "C3_RUNS": str(root / "runs"), "HF_HUB_OFFLINE": "1"}
    with book._env(**env):
        for c in CHAPTERS:
            book.execute(REPO / "notebooks" / f"{c}.ipynb", root / "book", "smoke", kernel=_kernel())
    return book.render_html(source=root)


def _kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return "c3" if "c3" in KernelSpecManager().find_kernel_specs() else "python3"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    _tools()
    given = os.environ.get("C3_SITE")
    if given:
        return Path(given).resolve()
    t0 = time.perf_counter()
    out = _build_smoke_site(tmp_path_factory.mktemp("smoke-book"))
    print(f"smoke site built in {time.perf_counter() - t0:.0f} s: {out}")
    return out


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = _tools()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium  # with the driver's path below, Selenium Manager is never consulted
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--host-resolver-rules=MAP * ~NOTFOUND"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(options=opts, service=Service(executable_path=driver))
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _pages(site: Path) -> list[Path]:
    pages = sorted((site / "book").glob("*.html"))
    assert pages, f"no chapter pages under {site / 'book'}"
    return pages


def _typeset(drv) -> str:
    """Wait for MathJax to load and typeset; 'ok', or why not ('absent': its script never ran)."""
    deadline = time.time() + MATHJAX_WAIT_S
    while time.time() < deadline:
        state = drv.execute_script(
            "const m = window.MathJax;"
            "if (!document.querySelector('.math')) return 'no math';"
            "return m && m.startup && m.startup.promise ? 'loaded' : 'absent';")
        if state == "no math":
            return "ok"
        if state == "loaded":
            drv.execute_async_script("const done = arguments[arguments.length - 1];"
                                     "MathJax.startup.promise.then(() => done('ok'), e => done(String(e)));")
            return "ok"
        time.sleep(0.25)
    return "absent"


def _outside(url: str, site: Path) -> bool:
    """True for a request that leaves the site: any scheme but file/data/blob/about, or a file elsewhere."""
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about", "chrome-error", "devtools"):
        return False
    if parsed.scheme != "file":
        return True
    return not Path(unquote(parsed.path)).resolve().is_relative_to(site)


def _requests(drv) -> list[str]:
    urls = []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


PAGE_FACTS = """
const text = document.body.innerText;
const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
return {text: text,
        images: document.querySelectorAll('main img, article img, .bd-article img').length,
        broken: broken,
        errors: document.querySelectorAll('.output.error, .output.traceback').length,
        typeset: document.querySelectorAll('mjx-container').length,
        css: [...document.styleSheets].some(s => s.href && new URL(s.href).pathname.endsWith('/_static/c3.css')),
        overflow: document.documentElement.scrollWidth - window.innerWidth};
"""


def test_every_page_reads_as_a_book(site, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}
    for page in _pages(site):
        browser.get_log("browser"), browser.get_log("performance")  # drop what earlier pages left
        browser.get(page.as_uri())
        math = _typeset(browser)
        facts = browser.execute_script(PAGE_FACTS)
        browser.save_screenshot(str(SHOTS / f"{page.stem}.png"))
        bad = []
        if math != "ok":
            bad.append(f"MathJax did not typeset ({math})")
        raw = [s for s in ("\\(", "\\[", "$$") if s in facts["text"]]
        if raw:
            bad.append(f"raw TeX delimiters in the visible text: {raw}")
        severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        if severe:
            bad.append(f"console errors: {severe}")
        leaving = [u for u in _requests(browser) if _outside(u, site)]
        if leaving:
            bad.append(f"requests outside the site: {leaving}")
        if facts["broken"]:
            bad.append(f"images not loaded: {facts['broken']}")
        if page.stem[:2].isdigit() and facts["images"] == 0:
            bad.append("a chapter page without a single figure")
        if "Traceback" in facts["text"] or facts["errors"]:
            bad.append("a traceback or error output is visible")
        if not facts["css"]:
            bad.append("_static/c3.css is not loaded")
        if facts["overflow"] > 1:
            bad.append(f"the page scrolls sideways by {facts['overflow']} px (a wide output escapes its cell)")
        if bad:
            problems[page.name] = bad
        print(f"{page.name}: math={math} mjx={facts['typeset']} images={facts['images']} "
              f"problems={len(bad)}")
    assert not problems, "\n".join(f"{p}:\n  - " + "\n  - ".join(b) for p, b in problems.items())


def test_parameters_cell_shown_and_other_code_folded(site, browser):
    page = next(p for p in _pages(site) if p.stem[:2].isdigit())
    browser.get(page.as_uri())
    facts = browser.execute_script(
        "const cells = [...document.querySelectorAll('div.cell')];"
        "return {cells: cells.length,"
        " params: cells.filter(c => c.classList.contains('tag_parameters')).length,"
        " injected: cells.filter(c => c.classList.contains('tag_injected-parameters')).length,"
        " hidden: cells.filter(c => c.classList.contains('tag_hide-input')).length,"
        " shownParams: cells.filter(c => c.classList.contains('tag_parameters'))"
        "   .map(c => c.querySelector('.cell_input') && c.querySelector('.cell_input').offsetHeight > 0)};")
    assert facts["params"] == 1 and facts["injected"] == 0, facts
    assert facts["shownParams"] == [True], "the parameters cell should be open for the reader"
    assert facts["hidden"] == facts["cells"] - 1, facts
