"""The book built by ``make notebooks`` works in a real headless browser.

``make test`` runs ``make notebooks`` first, so build/site exists here. The
test drives Debian's Chromium through the Chrome DevTools protocol (a small
client on ``websocket-client``): it opens the index, a search, a chapter, the
glossary and an API page, clicks a folded solution, checks every image's alt
text and collects JavaScript errors, and saves screenshots of the index, one
chapter and one API page in build/screenshots/.
"""

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "site"
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
         "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*",
         "--window-size=1280,1600"]

pytestmark = pytest.mark.browser


class Browser:
    """Just enough of the DevTools protocol: navigate, evaluate, click, screenshot, console errors."""

    def __init__(self, profile: Path):
        import websocket

        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60,
                                              suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def goto(self, url: str, settle: float = 0.5):
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while self.eval("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise TimeoutError(url)
            time.sleep(0.1)
        time.sleep(settle)

    def eval(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while not self.eval(expression):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def errors(self) -> list[str]:
        """JavaScript exceptions, console.error calls, error log entries and failed loads since the last page load.

        The book works offline (MathJax ships with it): no load may fail, from the network or the disk.
        """
        self.call("Runtime.evaluate", expression="0")          # drain pending events
        found, urls = [], {}
        for ev in self.events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("exception", {}).get("description")
                             or params["exceptionDetails"].get("text"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")
            elif method == "Network.requestWillBeSent":
                urls[params["requestId"]] = url = params["request"]["url"]
                if url.startswith(("http:", "https:")):     # the book is opened from file://, offline
                    found.append(f"loads from the network: {url}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                found.append(f"failed load of {urls.get(params['requestId'], params['requestId'])}: "
                             f"{params.get('errorText', '')}")
        return found

    def screenshot(self, path: Path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed in CI (the Makefile's `browser` step should install it)")
        pytest.skip("chromium is not installed; `apt-get install chromium` to run the browser test")
    if not (SITE / "index.html").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("build/site was not built; `make test` runs `make notebooks` first")
        pytest.skip("build/site does not exist; run `make notebooks` first")
    pytest.importorskip("websocket")
    with tempfile.TemporaryDirectory() as profile:
        b = Browser(Path(profile))
        try:
            yield b
        finally:
            b.close()


def _chapters():
    return sorted(p for p in SITE.glob("[0-9][0-9]_*.html"))


def test_index_renders_with_every_chapter_in_the_sidebar(browser):
    browser.goto((SITE / "index.html").as_uri())
    assert "Belonging in school" in browser.eval("document.title")
    assert "synthetic" in browser.eval("document.body.innerText").lower()
    sidebar = browser.eval("[...document.querySelectorAll('.bd-sidebar-primary a')]"
                           ".map(a => a.getAttribute('href'))")
    chapters = _chapters()
    assert chapters, "no chapter pages were built"
    for page in chapters:
        assert page.name in sidebar, f"the sidebar does not list {page.name}"
    downloads = browser.eval("[...document.querySelectorAll('a.download')].map(a => a.href)")
    assert len([d for d in downloads if d.endswith(".ipynb")]) == len(chapters)
    assert browser.errors() == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(SHOTS / "index.png")
    assert (SHOTS / "index.png").stat().st_size > 10_000


def test_search_for_intraclass_finds_the_attainment_chapter(browser):
    browser.goto((SITE / "search.html").as_uri() + "?q=intraclass")
    assert browser.wait_for("document.querySelectorAll('#search-results ul.search li').length > 0"), \
        "the search gave no results"
    hits = browser.eval("[...document.querySelectorAll('#search-results ul.search li a')]"
                        ".map(a => a.getAttribute('href'))")
    assert any(h.startswith("05_belonging_and_attainment") for h in hits), hits
    assert browser.errors() == []


def test_a_glossary_link_resolves(browser):
    links = []
    for page in _chapters():
        browser.goto(page.as_uri(), settle=0.2)
        links = browser.eval("[...document.querySelectorAll('a[href*=\"glossary.html#term-\"]')]"
                             ".map(a => a.getAttribute('href'))")
        if links:
            break
    assert links, "no chapter links a glossary term"
    target = links[0].split("#", 1)[1]
    browser.goto((SITE / links[0].split("#", 1)[0]).as_uri() + "#" + target)
    assert browser.eval(f"!!document.getElementById({json.dumps(target)})"), f"glossary has no {target}"
    assert browser.eval(f"document.getElementById({json.dumps(target)}).tagName") == "DT"


def test_a_solution_opens_when_toggled(browser):
    page = next(p for p in _chapters() if p.name.startswith("02_"))
    browser.goto(page.as_uri())
    # a code solution: folded in a <details> whose summary says "Show solution"
    assert browser.eval("document.querySelectorAll('details.hide').length") > 0
    assert browser.eval("[...document.querySelectorAll('details.hide')].every(d => !d.open)")
    assert "Show solution" in browser.eval("document.querySelector('details.hide summary').innerText")
    visible = "document.querySelector('details.hide .cell_input').checkVisibility()"
    assert browser.eval(visible) is False
    browser.eval("document.querySelector('details.hide summary').click()")
    assert browser.wait_for("document.querySelector('details.hide').open", timeout=5)
    assert browser.eval(visible) is True
    # a prose solution: a dropdown box that sphinx-togglebutton opens
    assert browser.wait_for("!!document.querySelector('div.admonition.solution button.toggle-button')", 10)
    height = "document.querySelector('div.admonition.solution').getBoundingClientRect().height"
    assert browser.eval("document.querySelector('div.admonition.solution').classList.contains('toggle-hidden')")
    folded = browser.eval(height)
    browser.eval("document.querySelector('div.admonition.solution button.toggle-button').click()")
    assert browser.wait_for("!document.querySelector('div.admonition.solution').classList"
                            ".contains('toggle-hidden')", timeout=5)
    assert browser.wait_for(f"{height} > {folded} + 20", timeout=5), "the prose solution did not unfold"
    assert browser.errors() == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(SHOTS / "chapter.png")
    assert (SHOTS / "chapter.png").stat().st_size > 20_000


def test_every_page_has_alt_text_captions_and_no_errors(browser):
    pages = [SITE / "index.html", SITE / "glossary.html", *_chapters(), *sorted((SITE / "api").glob("*.html"))]
    problems = []
    figures = 0
    for page in pages:
        browser.goto(page.as_uri(), settle=0.2)
        name = page.relative_to(SITE)
        missing = browser.eval("[...document.images].filter(i => !(i.getAttribute('alt') || '').trim())"
                               ".map(i => i.getAttribute('src'))")
        if missing:
            problems.append(f"{name}: images without alt text: {missing}")
        broken = browser.eval("[...document.images].filter(i => i.complete && i.naturalWidth === 0)"
                              ".map(i => i.getAttribute('src'))")
        if broken:
            problems.append(f"{name}: images that do not load: {broken}")
        uncaptioned = browser.eval("[...document.querySelectorAll('.cell_output img')]"
                                   ".filter(i => !i.closest('figure')?.querySelector('figcaption'))"
                                   ".map(i => i.getAttribute('alt'))")
        if uncaptioned:
            problems.append(f"{name}: figures without a caption: {uncaptioned}")
        figures += browser.eval("document.querySelectorAll('figure figcaption').length")
        if browser.eval("document.querySelectorAll('.output.traceback, .output.error').length"):
            problems.append(f"{name}: shows an error output")
        problems += [f"{name}: JavaScript error: {e}" for e in browser.errors()]
    assert not problems, "\n".join(problems)
    assert figures >= 14


def test_the_api_page_of_reliability_renders_its_parameters(browser):
    browser.goto((SITE / "api" / "reliability.html").as_uri())
    sig = "document.getElementById('belonging_lib.reliability.reliability')"
    assert browser.eval(f"!!{sig}"), "reliability() is not documented"
    fields = browser.eval(f"{sig}.parentElement.querySelector('dd dl.field-list').innerText")
    assert "Parameters" in fields and "items" in fields and "reverse" in fields
    assert "Returns" in fields and "ReliabilityResult" in fields
    examples = browser.eval("[...document.querySelectorAll('div.doctest, div.highlight-pycon')].length")
    assert examples > 0, "the docstring examples did not render"
    # formulas are typeset by the MathJax shipped with the book (offline), not left as raw TeX
    assert browser.eval("[...document.scripts].some(s => /_static\\/mathjax\\/tex-chtml\\.js(\\?[^/]*)?$/.test(s.src))")
    assert browser.wait_for("document.querySelectorAll('mjx-container').length > 0"), "formulas stay raw TeX"
    assert browser.errors() == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(SHOTS / "api.png")
    assert (SHOTS / "api.png").stat().st_size > 20_000


def test_the_api_reference_covers_every_public_name():
    """Every name in each documented module's ``__all__`` has an entry (a build test, no browser)."""
    import importlib

    if not (SITE / "api" / "index.html").exists():
        pytest.skip("build/site does not exist; run `make notebooks` first")
    html = "".join(p.read_text(encoding="utf-8") for p in (SITE / "api").glob("*.html"))
    modules = ["instruments", "scoring", "reliability", "structure", "models", "transitions", "imputation",
               "survey", "trials", "io", "codebook", "datasets", "disclosure", "privacy", "tables", "plots",
               "plots.items", "plots.structure", "plots.effects", "plots.trials", "report", "simulate",
               "notebook", "book"]
    missing = []
    for mod in modules:
        m = importlib.import_module(f"belonging_lib.{mod}")
        for name in m.__all__:
            obj = getattr(m, name)
            home = f"belonging_lib.{mod}"
            if mod == "io" and name in {"read_codebook", "apply_codebook", "validate"}:
                home = "belonging_lib.codebook"                    # re-exported, documented there
            # constants are documented in the module that defines them (their doc comment is there)
            if f'id="{home}.{name}"' not in html and not (
                    not callable(obj) and re.search(rf'id="belonging_lib\.[\w.]+\.{name}"', html)):
                missing.append(f"{home}.{name} ({type(obj).__name__})")
    assert not missing, "not in the API reference: " + ", ".join(missing)
