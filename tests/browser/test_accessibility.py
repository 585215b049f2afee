"""The catalog for every visitor: axe-core finds nothing to fix, keyboard and screen-reader
users get a heading, a skip link, one Tab stop a tile and spoken counts; covers that are
not there are told apart; phones see two rows of covers; rows are even."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, ViewportSize, expect

from app.cache.states import COVER_ERROR, COVER_NONE
from app.extensions import db
from tests.helpers import add_album

pytestmark = pytest.mark.browser

AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text(encoding="utf-8")
BLOCKING = ("moderate", "serious", "critical")
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
GENRES = ["Rock", "Jazz", "Electronic", "Hip-Hop", "Folk"]
COVER_HOST = "https://i.scdn.co/image/"  # on the image allow-list; the browser is routed


def png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A small solid PNG, so ready covers show a real image without the network."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


COVER_PNG = png()


@dataclass(frozen=True)
class Catalog:
    total: int
    ready_id: int
    ready_title: str
    ready_artist: str
    none_id: int
    none_title: str
    failing_id: int
    failing_title: str


@pytest.fixture
def catalog() -> Catalog:
    """60 albums in five genres: most covers pending, three ready, one that no source has
    ("No cover found") and one whose source fails for now ("Cover failing, retrying in …").
    The artists of the special ones sort first, so they are on the first screen."""
    ready = add_album(
        "Abbey Road",
        "Aa Ready Band",
        year=1969,
        genres=["Rock"],
        spotify_id="0ETFjACtuP2ADo6LFhL6HN",
        cover_url=f"{COVER_HOST}abbey",
    )
    add_album(
        "Blue Train", "Aa Ready Band", year=1957, genres=["Jazz"], cover_url=f"{COVER_HOST}bt"
    )
    add_album(
        "Kind of Blue", "Ab Ready Trio", year=1959, genres=["Jazz"], cover_url=f"{COVER_HOST}k"
    )
    nothing = add_album("Lost Tapes", "Ac Nowhere", year=1971, genres=["Folk"])
    nothing.cover_status = COVER_NONE
    nothing.cover_retry_at = None
    failing = add_album(
        "Flaky Source",
        "Ad Failing",
        year=2001,
        genres=["Electronic"],
        spotify_id="4aawyAB9vmqN3uQ7FjRGTy",
    )
    failing.cover_status = COVER_ERROR
    failing.cover_retry_at = datetime.now(UTC) + timedelta(hours=1)
    db.session.commit()
    for i in range(55):
        add_album(
            f"Record {i:02d}" + (" Blue" if i % 7 == 0 else ""),
            f"Band {i % 9}",
            year=1960 + i,
            genres=[
                GENRES[i % len(GENRES)],
                *([GENRES[(i + 2) % len(GENRES)]] if i % 4 == 0 else []),
            ],
            spotify_id=f"{i:02d}" + "x" * 20 if i % 3 == 0 else None,
        )
    return Catalog(
        total=60,
        ready_id=ready.id,
        ready_title="Abbey Road",
        ready_artist="Aa Ready Band",
        none_id=nothing.id,
        none_title="Lost Tapes",
        failing_id=failing.id,
        failing_title="Flaky Source",
    )


def serve_covers(route: Route) -> None:
    route.fulfill(status=200, content_type="image/png", body=COVER_PNG)


@pytest.fixture
def open_page(browser: Browser, live_server: str) -> Iterator[Callable[..., Page]]:
    """A fresh context per page opened (own viewport); ready covers come from the route.
    Closed before the server and its database go (hence `live_server`)."""
    contexts: list[BrowserContext] = []

    def opener(url: str, viewport: ViewportSize = DESKTOP, *, bypass_csp: bool = False) -> Page:
        context = browser.new_context(viewport=viewport, bypass_csp=bypass_csp)
        contexts.append(context)
        context.route(f"{COVER_HOST}**", serve_covers)
        page = context.new_page()
        page.goto(url)
        settle(page)
        return page

    yield opener
    for context in contexts:
        context.close()


def settle(page: Page) -> None:
    """Loaded and laid out: the heading is there, scripts ran. (Not `networkidle`:
    pending covers keep polling.)"""
    expect(page.locator("h1")).to_be_visible()
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)


# -- axe-core ------------------------------------------------------------------------

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
  }));
}"""

PAGES = {
    "catalog": lambda c: "/catalog/",
    "search": lambda c: "/catalog/?q=blue",
    "empty-search": lambda c: "/catalog/?q=zzzznothing",
    "album": lambda c: f"/catalog/album/{c.ready_id}/",
    "album-no-cover": lambda c: f"/catalog/album/{c.none_id}/",
}


@pytest.mark.parametrize("viewport", VIEWPORTS.keys())
@pytest.mark.parametrize("where", PAGES.keys())
def test_axe_finds_no_moderate_serious_or_critical_violation(
    open_page: Callable[..., Page], live_server: str, catalog: Catalog, where: str, viewport: str
) -> None:
    # The page's policy allows scripts from 'self' only: this context lets axe in.
    page = open_page(f"{live_server}{PAGES[where](catalog)}", VIEWPORTS[viewport], bypass_csp=True)
    if where == "catalog":  # the placeholders under test are on the page
        expect(page.locator(".cover--none")).to_have_count(1)
        expect(page.locator(".cover--failing")).to_have_count(1)
        expect(page.locator("[data-cover-state=ready] img").first).to_be_visible()
    page.add_script_tag(content=AXE)
    assert page.evaluate("window.axe && axe.version") == "4.14.1"
    violations = page.evaluate(AXE_RUN)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    report = "\n".join(
        f"  {v['id']} ({v['impact']}): {v['help']} — {', '.join(v['targets'])}" for v in blocking
    )
    assert not blocking, f"axe-core on {where} ({viewport}):\n{report}"


# -- Headings, skip link, live region ----------------------------------------------------


def test_the_catalog_has_one_h1_and_a_skip_link_to_the_albums(
    open_page: Callable[..., Page], live_server: str, catalog: Catalog
) -> None:
    page = open_page(f"{live_server}/catalog/")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("h1")).to_contain_text(f"{catalog.total} albums")

    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    expect(skip).to_have_text("Skip to the albums")
    expect(skip).to_be_visible()  # shown when focused, not only to screen readers
    assert skip.get_attribute("href") == "#results"

    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/catalog/#results")
    # Focus left the header: the next Tab stop is the first control of the results
    # (the Genre menu), not the search box after the skip link.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "genre-menu"


def test_a_search_is_announced_with_its_count(
    open_page: Callable[..., Page], live_server: str, catalog: Catalog
) -> None:
    page = open_page(f"{live_server}/catalog/")
    announce = page.locator("#announce")
    expect(announce).to_have_attribute("aria-live", "polite")
    page.get_by_label("Search albums or artists").press_sequentially("blue", delay=30)
    # "Blue Train", "Kind of Blue" and the "Record nn Blue" ones (i = 0, 7, …, 49).
    expected = "10 albums matching “blue”"
    expect(page.locator("h1 .result-count__text")).to_have_text(expected)
    expect(announce).to_have_text(expected)
    page.get_by_label("Genre").select_option("Jazz")
    expect(announce).to_have_text("3 albums matching “blue” in Jazz")


# -- One Tab stop a tile -------------------------------------------------------------


def test_tab_goes_from_tile_to_tile(
    open_page: Callable[..., Page], live_server: str, catalog: Catalog
) -> None:
    page = open_page(f"{live_server}/catalog/")
    tiles = page.locator("article.tile[data-album-id]")
    ids = tiles.evaluate_all("els => els.map(e => e.dataset.albumId)")
    # Start on a tile with an artist link and a Spotify link besides its title.
    start = ids.index(str(catalog.ready_id))
    expect(tiles.nth(start).locator(".tile__meta a")).to_have_count(2)
    tiles.nth(start).locator(".tile__link").focus()
    # Each next Tab stop is the next tile's title; only a failing cover adds its own
    # control ("Try again", which names the album) before it.
    expected: list[tuple[str, str]] = []
    for album_id in ids[start + 1 : start + 9]:
        if album_id == str(catalog.failing_id):
            expected.append(("cover__retry", album_id))
        expected.append(("tile__link", album_id))
    assert ("cover__retry", str(catalog.failing_id)) in expected  # that case is covered
    stops: list[tuple[str, str]] = []
    for _ in expected:
        page.keyboard.press("Tab")
        name, album_id = page.evaluate(
            "[document.activeElement.className,"
            " document.activeElement.closest('[data-album-id]')?.dataset.albumId]"
        )
        stops.append((name, album_id))
    assert stops == expected


# -- Covers ------------------------------------------------------------------------


def test_placeholders_are_hidden_from_screen_readers_and_told_apart(
    open_page: Callable[..., Page], live_server: str, catalog: Catalog
) -> None:
    page = open_page(f"{live_server}/catalog/")
    tile = page.locator("article.tile[data-album-id]")

    ready = tile.filter(has=page.locator(f'a[href$="/album/{catalog.ready_id}/"]'))
    expect(ready.locator("img")).to_have_attribute(
        "alt", f"Cover of {catalog.ready_title} by {catalog.ready_artist}"
    )
    expect(ready.locator("[data-cover-state=ready]")).not_to_have_attribute("aria-hidden", "true")

    loading = page.locator("[data-cover-state]:not([data-cover-state=ready]).cover--loading")
    assert loading.count() > 10
    hidden = loading.evaluate_all("els => els.every(e => e.getAttribute('aria-hidden') === 'true')")
    assert hidden, "a loading skeleton is in the accessibility tree"

    none = tile.filter(has=page.locator(f'a[href$="/album/{catalog.none_id}/"]')).locator(".cover")
    expect(none).to_have_attribute("aria-hidden", "true")
    expect(none).to_have_class("cover cover--none hue-" + str(catalog.none_id % 12))
    expect(none.locator(".cover__art-title")).to_have_text(catalog.none_title)
    expect(none).to_contain_text("No cover found")

    failing = tile.filter(has=page.locator(f'a[href$="/album/{catalog.failing_id}/"]')).locator(
        ".cover"
    )
    expect(failing).to_have_class("cover cover--failing hue-" + str(catalog.failing_id % 12))
    expect(failing.locator(".cover__art-title")).to_have_text(catalog.failing_title)
    expect(failing).to_contain_text("Cover failing, retrying in")
    retry = failing.get_by_role("button", name="Try again")
    expect(retry).to_be_visible()
    expect(retry).to_have_accessible_name(
        re.compile(rf"^Try again: Cover failing, retrying in \d+ min, {catalog.failing_title}$")
    )

    # They look different from the grey skeleton: another background, the album's name.
    look = """el => ({bg: getComputedStyle(el).backgroundImage, text: el.innerText.trim()})"""
    skeleton = loading.first.evaluate(look)
    assert skeleton["text"] == ""
    for placeholder in (none, failing):
        drawn = placeholder.evaluate(look)
        assert drawn["bg"] != skeleton["bg"]
        assert drawn["text"].startswith(
            catalog.none_title if placeholder is none else catalog.failing_title
        )


# -- Phones and even rows ----------------------------------------------------------


def test_a_phone_shows_two_full_rows_of_covers(
    open_page: Callable[..., Page], live_server: str, catalog: Catalog
) -> None:
    page = open_page(f"{live_server}/catalog/", PHONE)
    tiles = page.locator("article.tile[data-album-id]")
    boxes = tiles.evaluate_all(
        "els => els.slice(0, 4).map(e => e.getBoundingClientRect().toJSON())"
    )
    assert boxes[0]["top"] == boxes[1]["top"] < boxes[2]["top"] == boxes[3]["top"]  # 2 a row
    assert boxes[3]["bottom"] <= PHONE["height"], f"4th tile ends at {boxes[3]['bottom']}"
    header = page.locator(".site-header").bounding_box()
    assert header is not None
    assert header["height"] < 60  # one line
    filters = page.locator(".filters label").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().top)"
    )
    assert max(filters) - min(filters) < 2  # Genre and Sort on one row


def test_the_search_button_fits_a_320_px_screen(
    open_page: Callable[..., Page], live_server: str, catalog: Catalog
) -> None:
    page = open_page(f"{live_server}/catalog/", {"width": 320, "height": 640})
    button = page.locator(".site-header").get_by_role("button", name="Search")
    box = button.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] < 320 - 4
    assert page.evaluate("document.documentElement.scrollWidth") <= 320


@pytest.mark.parametrize("viewport", VIEWPORTS.keys())
def test_tiles_are_all_as_tall_whatever_their_title(
    open_page: Callable[..., Page], live_server: str, catalog: Catalog, viewport: str
) -> None:
    long_title = ("An Extremely Long Title For An Album That Goes On " * 3)[:120]
    add_album(long_title, "Aa Long", year=1999, genres=["Rock"], spotify_id="1" * 22)
    add_album("Go", "Aa Short", year=2000)
    page = open_page(f"{live_server}/catalog/", VIEWPORTS[viewport])
    expect(page.locator(".tile__title", has_text=long_title[:30])).to_be_visible()
    expect(page.locator(".tile__title", has_text="Go").first).to_be_visible()
    heights = page.locator("article.tile[data-album-id]").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)"
    )
    assert len(heights) == 48
    assert max(heights) - min(heights) <= 1, f"tile heights {sorted(set(heights))}"


# -- Favicon -------------------------------------------------------------------------


def test_the_favicon_is_there(open_page: Callable[..., Page], live_server: str) -> None:
    page = open_page(f"{live_server}/catalog/")
    response = page.request.get(f"{live_server}/favicon.ico")
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href
    linked = page.request.get(f"{live_server}{href}")
    assert linked.status == 200
    assert linked.headers["content-type"].startswith("image/")
