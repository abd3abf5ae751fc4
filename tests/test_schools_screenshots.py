"""Screenshots of the tools for schools as a teacher opens them, in build/screenshots/.

Each page is made from synthetic data (labelled so on the page), rendered in headless Chromium and
checked to be more than a blank page: the class pack (overview first), page one of the culture
audit's report, the support plans' summary page, and one support plan.  A support plan is a Word
document; Chromium cannot open one, and no office suite is installed here, so its screenshot is of
the plan's own paragraphs and tables as python-docx reads them, laid out in plain HTML (headed "Preview
of ...").  The screenshots are of synthetic pupils only; nothing here reads real data.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from belonging_lib.schools.audit import analyse_audit, simulate_audit, write_audit_report
from belonging_lib.schools.class_report import class_pack
from belonging_lib.schools.questionnaire import simulate_follow_up, simulate_responses
from belonging_lib.schools.support_plan import support_flags, write_support_plans

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

pytestmark = pytest.mark.browser


def _chromium():
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed in CI")
        pytest.skip("chromium is not installed")
    return CHROMIUM


def _shoot(page: Path, name: str, tmp_path: Path, *, height: int = 1400) -> Path:
    shot = SHOTS / name
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / ('profile-' + shot.stem)}",
        f"--window-size=1000,{height}",
    ]
    res = subprocess.run(
        [_chromium(), *flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000, shot  # a blank page is a few kB
    return shot


def test_class_pack_screenshot(tmp_path):
    data = simulate_responses(version="secondary", n_classes=3, class_size=26, seed=11)
    data.index = range(2, len(data) + 2)
    class_pack(data, out=tmp_path / "pack", synthetic=True)
    page = tmp_path / "pack" / "class_pack.html"
    assert "synthetic" in page.read_text(encoding="utf-8").lower()
    _shoot(page, "class_pack.png", tmp_path)


def test_audit_report_page_one_screenshot(tmp_path):
    result = analyse_audit(simulate_audit(n_raters=4, seed=5))
    write_audit_report(result, tmp_path / "audit", synthetic=True)
    page = tmp_path / "audit" / "audit_report.html"
    assert "synthetic" in page.read_text(encoding="utf-8").lower()
    _shoot(page, "audit_page_one.png", tmp_path)  # the window is one screen: page one as opened


def test_support_plan_and_summary_screenshots(tmp_path):
    import docx

    before = simulate_responses(n_classes=1, class_size=40, seed=8)
    before.index = range(2, 42)
    after = simulate_follow_up(before, seed=9, share_dropping=0.2)
    after.index = range(2, 42)
    written = write_support_plans(support_flags(after, previous=before), tmp_path / "plans", synthetic=True)
    assert "synthetic" in (written.folder / "support_summary.html").read_text(encoding="utf-8").lower()
    _shoot(written.folder / "support_summary.html", "support_summary.png", tmp_path)

    plan = sorted(written.folder.glob("support_plan_*.docx"))[0]
    doc = docx.Document(str(plan))
    parts = [f"<h1>Preview of {html.escape(plan.name)} (a Word document; its text and tables as written)</h1>"]
    for para in doc.paragraphs:
        if para.text.strip():
            tag = "h2" if para.style.name.startswith("Heading") else "p"
            parts.append(f"<{tag}>{html.escape(para.text)}</{tag}>")
    for table in doc.tables:
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c.text)}</td>" for c in r.cells) + "</tr>" for r in table.rows
        )
        parts.append(f"<table border='1' cellpadding='4'>{rows}</table>")
    preview = tmp_path / "plan_preview.html"
    preview.write_text(
        "<!doctype html><meta charset='utf-8'><body style='font-family:sans-serif;max-width:900px'>"
        + "".join(parts)
        + "</body>",
        encoding="utf-8",
    )
    assert len(parts) > 10  # a plan with its sections, not an empty document
    _shoot(preview, "support_plan.png", tmp_path, height=1800)
