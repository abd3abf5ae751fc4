"""The site built by ``make notebooks`` renders in a real headless browser.

``make test`` runs ``make notebooks`` first, so build/site exists here.  The
test opens the index and every notebook page in Debian's Chromium, checks that
each page renders its text, figures and tables with no error output, and saves
screenshots of the index and one notebook page in build/screenshots/.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "site"
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=4000"]

pytestmark = pytest.mark.browser


def _need_browser():
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed in CI (the Makefile's `browser` step should install it)")
        pytest.skip("chromium is not installed; `apt-get install chromium` to run the browser test")
    if not (SITE / "index.html").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("build/site was not built; `make test` runs `make notebooks` first")
        pytest.skip("build/site does not exist; run `make notebooks` first")


def _chromium(tmp_path, *args, timeout=90):
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _dom(tmp_path, page: Path) -> str:
    res = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_index_links_every_notebook_and_renders(tmp_path):
    _need_browser()
    dom = _dom(tmp_path, SITE / "index.html")
    pages = sorted(p.name for p in SITE.glob("[0-9][0-9]_*.html"))
    assert pages, "no notebook pages were built"
    for name in pages:
        assert f'href="{name}"' in dom, f"index does not link {name}"
    assert "synthetic" in dom.lower()
    assert "did not run" not in dom, "a notebook failed to execute"
    SHOTS.mkdir(parents=True, exist_ok=True)
    res = _chromium(tmp_path, f"--screenshot={SHOTS / 'index.png'}", "--window-size=1200,1400",
                    (SITE / "index.html").as_uri())
    assert res.returncode == 0 and (SHOTS / "index.png").stat().st_size > 10_000


def test_every_notebook_page_renders_without_errors(tmp_path):
    _need_browser()
    pages = sorted(SITE.glob("[0-9][0-9]_*.html"))
    problems = []
    for page in pages:
        dom = _dom(tmp_path, page)
        if "bl-nav" not in dom:
            problems.append(f"{page.name}: navigation missing")
        # an output element (the stylesheet also names the MIME type, in a selector with single quotes)
        if 'data-mime-type="application/vnd.jupyter.stderr"' in dom or "Traceback" in dom:
            problems.append(f"{page.name}: shows error or warning output")
        for link in re.findall(r'href="(\d\d_[a-z0-9_]+\.html)"', dom):
            if not (SITE / link).exists():
                problems.append(f"{page.name}: broken link {link}")
        if not page.name.startswith("00_"):
            if "<img" not in dom and "<svg" not in dom:
                problems.append(f"{page.name}: no figure rendered")
            if "<table" not in dom:
                problems.append(f"{page.name}: no table rendered")
            if "bl-solution" not in dom:
                problems.append(f"{page.name}: solutions are not folded")
    assert pages and not problems, "\n".join(problems)


def test_screenshot_of_a_notebook_page(tmp_path):
    _need_browser()
    pages = sorted(SITE.glob("[0-9][0-9]_*.html"))
    page = next((p for p in pages if p.name.startswith("02_")), pages[-1])
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / "notebook.png"
    res = _chromium(tmp_path, f"--screenshot={target}", "--window-size=1200,1600", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert target.stat().st_size > 20_000
