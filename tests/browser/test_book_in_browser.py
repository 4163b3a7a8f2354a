"""The built book, opened in a real browser as a student would, with the network cut.

Chromium and its driver come from Debian (`chromium`, `chromium-driver`); Selenium drives them
and downloads nothing. Every page of the table of contents is opened over file:// and over a
loopback HTTP server, with every host name but 127.0.0.1 unresolvable, and must:
render all its maths (no raw LaTeX left in the text), load every image with a non-empty alt
text, log no JavaScript error, and not scroll sideways on a 400-pixel-wide screen. Internal links
must resolve, search must find pages, and no page may carry more than 1 MB of images.

Run after `make book` (`make browser`); `CNNVISION_BOOK_REQUIRED=1` turns a missing build into a
failure instead of a skip.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOK_HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
NARROW_WIDTH = 400
MAX_IMAGE_BYTES = 1_000_000
# Raw TeX that MathJax should have turned into maths.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\(?:mathbf|frac|sum|mathrm|operatorname|lfloor|cdot|left|right)\b")


def toc_pages() -> list[str]:
    """The HTML paths (relative to the build) of the pages in _toc.yml, root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []):
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return [f"{Path(name).with_suffix('')}.html" for name in files]


PAGES = toc_pages()


@pytest.fixture(scope="module", autouse=True)
def built_book():
    if not (BOOK_HTML / "index.html").exists():
        message = f"no built book in {BOOK_HTML}: run `make book` first"
        if os.environ.get("CNNVISION_BOOK_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return BOOK_HTML


# ------------------------------------------------------------------ static checks
class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])


@functools.cache
def parsed(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def broken_links(page: Path) -> list[str]:
    broken = []
    for href in parsed(page).links:
        if urlparse(href).scheme in ("http", "https", "mailto", "javascript", "data"):
            continue
        target, fragment = urldefrag(href)
        target_path = (page.parent / unquote(target)).resolve() if target else page
        if target_path.is_dir():
            target_path = target_path / "index.html"
        if not target_path.is_file():
            broken.append(f"{href} (no file {target_path})")
        elif fragment and target_path.suffix == ".html" and unquote(fragment) not in parsed(target_path).ids:
            broken.append(f"{href} (no id {fragment!r} in {target_path.name})")
    return broken


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(page):
    assert not broken_links(BOOK_HTML / page), f"{page}: broken links"


@pytest.mark.parametrize("page", PAGES)
def test_images_weigh_less_than_a_megabyte_per_page(page):
    path = BOOK_HTML / page
    sizes = {src: (path.parent / unquote(src)).stat().st_size
             for src in set(parsed(path).images) if not src.startswith(("http", "data:"))}
    total = sum(sizes.values())
    assert total <= MAX_IMAGE_BYTES, (
        f"{page}: {total:,} bytes of images (at most {MAX_IMAGE_BYTES:,}); largest: "
        f"{sorted(sizes.items(), key=lambda item: -item[1])[:3]}"
    )


# ------------------------------------------------------------------ in the browser
@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_QuietHandler, directory=str(BOOK_HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "Chromium and its driver are missing: apt-get install chromium chromium-driver"
        if os.environ.get("CNNVISION_BOOK_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not download anything
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--disable-extensions",
                 # The network is cut: no host name resolves but the loopback address.
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                 "--allow-file-access-from-files", f"--user-data-dir={profile}",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def page_url(page: str, mode: str, server_url: str) -> str:
    if mode == "file":
        return (BOOK_HTML / page).resolve().as_uri()
    return urljoin(server_url, page)


WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const ready = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
    ? MathJax.startup.promise.then(() => done(true), () => done(false)) : done(null);
if (document.readyState === "complete") ready(); else window.addEventListener("load", ready);
"""

PAGE_FACTS = """
const images = Array.from(document.images).map(img => ({
    src: img.getAttribute("src"), loaded: img.complete && img.naturalWidth > 0,
    alt: (img.getAttribute("alt") || "").trim()}));
const main = document.querySelector("main") || document.body;
return {text: main.innerText, images: images,
        math: document.querySelectorAll("span.math, div.math").length,
        rendered: document.querySelectorAll("mjx-container").length};
"""


def open_page(driver, url: str) -> dict:
    driver.get_log("browser")  # forget what earlier pages logged
    driver.get(url)
    mathjax = driver.execute_async_script(WAIT_FOR_MATHJAX)
    facts = driver.execute_script(PAGE_FACTS)
    facts["mathjax"] = mathjax
    facts["errors"] = [entry["message"] for entry in driver.get_log("browser")
                       if entry["level"] == "SEVERE"]
    return facts


@pytest.mark.parametrize("mode", ["file", "http"])
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline(browser, server, page, mode):
    facts = open_page(browser, page_url(page, mode, server))
    problems = []
    raw = sorted(set(RAW_TEX.findall(facts["text"])))
    if raw:
        problems.append(f"raw LaTeX left in the text: {raw[:8]}")
    if facts["math"] and (facts["mathjax"] is not True or facts["rendered"] < facts["math"]):
        problems.append(f"{facts['math']} formulas, {facts['rendered']} rendered by MathJax "
                        f"(MathJax loaded: {facts['mathjax']})")
    for image in facts["images"]:
        if not image["loaded"]:
            problems.append(f"image not loaded: {image['src']}")
        if not image["alt"]:
            problems.append(f"image without alt text: {image['src']}")
    problems += [f"browser error: {message}" for message in facts["errors"]]
    assert not problems, f"{page} over {mode}:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", PAGES)
def test_no_sideways_scroll_at_400_pixels(browser, server, page):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": NARROW_WIDTH, "height": 800, "deviceScaleFactor": 1,
                             "mobile": True})
    try:
        open_page(browser, page_url(page, "http", server))
        widths = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " Array.from(document.querySelectorAll('body *')).filter(e => {"
            "   const r = e.getBoundingClientRect(); return r.right > document.documentElement.clientWidth + 1"
            "   && getComputedStyle(e).position !== 'fixed' && r.width > 0;"
            " }).slice(0, 5).map(e => e.tagName + '.' + e.className)];")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    scroll_width, client_width, culprits = widths
    assert scroll_width <= client_width, (
        f"{page} scrolls sideways at {NARROW_WIDTH} px: content {scroll_width} px wide; "
        f"widest elements: {culprits}"
    )


def test_search_finds_pages(browser, server):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(urljoin(server, "search.html?q=convolution"))
    results = WebDriverWait(browser, 20).until(
        lambda driver: driver.find_elements("css selector", "#search-results li, ul.search li"))
    assert results, "searching 'convolution' returned nothing"
