"""The static catalog: deterministic, self-contained, escaped; and a browser test in headless
Chromium (Playwright driving the system's /usr/bin/chromium, no browser download)."""
from __future__ import annotations

import os
import re

import pytest

import modelreg
from modelreg.render.site import build_site
from test_audit import build_history

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOW = "2026-07-01T00:00:00Z"


@pytest.fixture
def site(repo, tmp_path):
    build_history(repo.root)
    out = tmp_path / "site"
    result = build_site(modelreg.open_registry(repo.root), out, now=NOW)
    return repo, out, result


def test_site_pages_deterministic_and_self_contained(site, tmp_path):
    repo, out, result = site
    assert result.pages == ("index.html", "models/credit-default.html",
                            "models/empty-model.html", "models/iris-classifier.html",
                            "models/iris-distilled.html")
    again = tmp_path / "again"
    build_site(modelreg.open_registry(repo.root), again, now=NOW)
    for rel in result.pages:
        text = (out / rel).read_text()
        assert text == (again / rel).read_text(), rel          # same registry, same bytes
        # nothing is fetched: no external URL in src/href, no stylesheet or script link
        assert not re.search(r'(src|href)="(https?:)?//', text), rel
        assert "<link" not in text and "<script src" not in text
    page = (out / "models/iris-classifier.html").read_text()
    assert 'id="timeline-svg"' in page and 'class="chart"' in page
    assert 'id="lineage-svg"' in page and "class=\"threshold\"" in page
    assert (out / "models/empty-model.html").read_text().count("No version has been") == 2


def test_cli_site(repo, run_cli, tmp_path):
    build_history(repo.root)
    res = run_cli(repo.root, "site", str(tmp_path / "out"))
    assert res.code == 0, res.err
    assert "wrote 5 pages for 4 models" in res.err


def test_html_and_script_are_escaped_in_the_site(repo, tmp_path):
    build_history(repo.root, hostile=True)
    card = repo.root / "models/iris-classifier/card.md"
    card.write_text("---\nlicense: apache-2.0\n---\n# Card\n\n<script>alert(1)</script>\n\n"
                    "<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3))\n")
    out = tmp_path / "site"
    build_site(modelreg.open_registry(repo.root), out, now=NOW)
    for rel in ("index.html", "models/iris-classifier.html"):
        text = (out / rel).read_text()
        body = text.split("</style>", 1)[1]
        scripts = re.findall(r"<script[^>]*>", body)
        assert scripts == ([] if rel != "index.html" else ["<script>"]), rel   # ours only
        assert "<b>bold</b>" not in body and "<img" not in body
        assert "&lt;script&gt;" in body
    page = (out / "models/iris-classifier.html").read_text()
    assert 'href="javascript:' not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_site_reads_the_card_as_check_does(repo, tmp_path):
    """One card parser: a ``---`` inside the front matter's YAML does not end it."""
    build_history(repo.root)
    card = repo.root / "models/iris-classifier/card.md"
    card.write_text("---\nlicense: apache-2.0\ndescription: |\n  ---\n  kept in front matter\n"
                    "---\n\n## Model Details\n\nShown on the page.\n")
    out = tmp_path / "site"
    build_site(modelreg.open_registry(repo.root), out, now=NOW)
    page = (out / "models/iris-classifier.html").read_text()
    assert "Shown on the page." in page and "kept in front matter" not in page


# --- the browser ------------------------------------------------------------------------
def _browser_or_skip():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium (.ci/run)")
        pytest.skip(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed (pip install -e '.[test]')")
        pytest.skip("playwright is not installed")
    return sync_playwright


def test_browser_index_filter_and_model_page(site, tmp_path):
    sync_playwright = _browser_or_skip()
    _, out, _ = site
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto((out / "index.html").as_uri())
            assert page.title() == "Model registry"
            names = page.locator("#models tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.name)")
            assert names == ["credit-default", "empty-model", "iris-classifier",
                             "iris-distilled"]
            assert page.text_content("#count") == "4 models"
            page.screenshot(path=str(shots / "index.png"), full_page=True)
            page.fill("#filter", "distilled")
            page.wait_for_function("document.getElementById('count').textContent === '1 model'")
            visible = page.locator("#models tbody tr:not([hidden])")
            assert visible.count() == 1 and visible.first.get_attribute("data-name") == \
                "iris-distilled"
            page.fill("#filter", "")
            page.select_option("#stage", "production")
            page.wait_for_function("document.getElementById('count').textContent === '1 model'")
            page.screenshot(path=str(shots / "index-filtered.png"), full_page=True)
            page.select_option("#stage", "")
            page.click("text=iris-classifier")
            page.wait_for_load_state()
            assert page.url.endswith("models/iris-classifier.html")
            assert page.locator("#timeline svg rect.stay").count() == 4
            assert page.locator("#metrics svg.chart").count() == 1
            assert page.locator("#metrics svg .threshold").count() == 2
            assert page.locator("#lineage svg g.node").count() == 6
            assert page.locator("#lineage-svg").is_visible()
            assert page.locator("#card").count() == 1
            page.screenshot(path=str(shots / "iris-classifier.png"), full_page=True)
            # everything came from the file system
            assert requests and all(u.startswith("file://") for u in requests), requests
        finally:
            browser.close()
    assert all((shots / n).stat().st_size > 10_000 for n in
               ("index.png", "index-filtered.png", "iris-classifier.png"))
