"""The menus by keyboard (a choice applies when committed, focus stays put) and the endless
list (Back lands where the visitor was, even without the back/forward cache; the end
says so; loading pages does not move what is on screen)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, ViewportSize, expect

from tests.helpers import add_album
from tools.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

GENRES = ["Ambient", "Blues", "Country", "Disco", "Electronic"]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


def add_albums(count: int, prefix: str = "Album") -> None:
    for i in range(count):
        add_album(
            f"{prefix} {i:03d}",
            f"Artist {i // 4:03d}",  # sorted by artist: the order is the insertion order
            year=1950 + i % 70,
            genres=[GENRES[i % len(GENRES)]],
        )


def catalog_requests(page: Page) -> list[str]:
    """The catalog's own page and result requests (not the covers' fragment polls)."""
    seen: list[str] = []

    def record(request: Request) -> None:
        if urlsplit(request.url).path == "/catalog/":
            seen.append(request.url)

    page.on("request", record)
    return seen


def focused_id(page: Page) -> str:
    return page.evaluate("document.activeElement?.id ?? ''")


# -- Menus by keyboard -----------------------------------------------------------


def test_arrow_keys_step_through_the_genres_and_enter_applies(live_server: str, page: Page) -> None:
    add_albums(20)
    page.goto(f"{live_server}/catalog/")
    heading = page.locator("h1 .result-count__text")
    expect(heading).to_have_text("20 albums")
    first_tile = page.locator("[data-album-id]").first
    first_tile.evaluate("el => { el.dataset.untouched = 'yes'; }")  # gone if results swap
    url = page.url
    requests = catalog_requests(page)

    page.get_by_role("button", name="Search").focus()
    page.keyboard.press("Tab")  # from the header's last control to the Genre menu
    assert focused_id(page) == "genre-menu"
    menu = page.locator("#genre-menu")
    page.keyboard.press("ArrowDown")
    expect(menu).to_have_value("Ambient")
    page.wait_for_timeout(500)  # longer than a results request takes here
    assert requests == []
    assert page.url == url
    expect(heading).to_have_text("20 albums")
    expect(first_tile).to_have_attribute("data-untouched", "yes")
    assert focused_id(page) == "genre-menu"

    page.keyboard.press("ArrowDown")
    expect(menu).to_have_value("Blues")
    page.wait_for_timeout(500)
    assert requests == []
    expect(heading).to_have_text("20 albums")

    page.keyboard.press("Enter")
    expect(heading).to_have_text("4 albums in Blues")
    expect(page).to_have_url(re.compile(r"[?&]genre=Blues(&|$)"))
    assert len(requests) == 1
    expect(page.locator("#announce")).to_have_text("4 albums in Blues")
    # htmx put focus back on the (new) menu, so the next arrow key goes on from here.
    assert focused_id(page) == "genre-menu"
    expect(page.locator("#genre-menu")).to_have_value("Blues")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#genre-menu")).to_have_value("Country")
    page.wait_for_timeout(500)
    expect(heading).to_have_text("4 albums in Blues")
    assert len(requests) == 1


def test_leaving_the_sort_menu_with_tab_applies_it(live_server: str, page: Page) -> None:
    add_albums(20)
    page.goto(f"{live_server}/catalog/")
    titles = page.locator(".tile__link")
    expect(titles.first).to_have_text("Album 000")
    requests = catalog_requests(page)

    menu = page.locator("#sort-menu")
    menu.focus()
    expect(menu).to_have_value("artist")
    page.keyboard.press("ArrowDown")
    expect(menu).to_have_value("title")
    page.keyboard.press("ArrowDown")
    expect(menu).to_have_value("year")  # newest first: another album leads
    chosen = "year"
    page.wait_for_timeout(500)
    assert requests == []
    expect(titles.first).to_have_text("Album 000")
    assert focused_id(page) == "sort-menu"

    page.keyboard.press("Tab")  # leaving the menu commits what it shows
    expect(page).to_have_url(re.compile(rf"[?&]sort={chosen}(&|$)"))
    expect(page.locator("#sort-menu")).to_have_value(chosen)
    assert len(requests) == 1
    # Focus went on to the next control, the first album's title, and is still there
    # once the results have been replaced (not dropped to the page's body).
    expect(titles.first).not_to_have_text("Album 000")  # the new order is shown
    page.wait_for_timeout(300)
    first_id = page.locator("[data-album-id]").first.get_attribute("data-album-id")
    focus = page.evaluate(
        "[document.activeElement.className,"
        " document.activeElement.closest('[data-album-id]')?.dataset.albumId ?? null]"
    )
    assert focus == ["tile__link", first_id]
    page.keyboard.press("Tab")  # and Tab goes on from there, to the second album
    second_id = page.locator("[data-album-id]").nth(1).get_attribute("data-album-id")
    focus = page.evaluate(
        "[document.activeElement.className,"
        " document.activeElement.closest('[data-album-id]')?.dataset.albumId ?? null]"
    )
    assert focus == ["tile__link", second_id]


def test_a_mouse_pick_applies_at_once(live_server: str, page: Page) -> None:
    add_albums(20)
    page.goto(f"{live_server}/catalog/")
    requests = catalog_requests(page)
    page.locator("#genre-menu").select_option("Disco")
    expect(page.locator("h1 .result-count__text")).to_have_text("4 albums in Disco")
    expect(page.locator("[data-album-id]")).to_have_count(4)
    expect(page).to_have_url(re.compile(r"[?&]genre=Disco(&|$)"))
    assert len(requests) == 1
    page.locator("#sort-menu").select_option("title")
    expect(page).to_have_url(re.compile(r"[?&]sort=title(&|$)"))
    expect(page.locator("h1 .result-count__text")).to_have_text("4 albums in Disco")
    assert len(requests) == 2


# -- Endless scroll ------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_without_bfcache(browser: Browser) -> Iterator[Browser]:
    """Chromium without the back/forward cache: Back loads the page again, as it does in
    many browsers at times (memory pressure, pages that cannot be cached). Launched by
    the session's Playwright (a second sync Playwright cannot run in the same thread)."""
    other = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, "--disable-features=BackForwardCache"],
    )
    yield other
    other.close()


def scroll_until_loaded(page: Page, count: int) -> None:
    """Scroll the next page's link into view until `count` tiles are there."""
    tiles = page.locator("article.tile[data-album-id]")
    for _ in range(count // 48 + 2):
        if tiles.count() >= count:
            return
        loaded = tiles.count()
        page.locator("#more").scroll_into_view_if_needed()
        expect(tiles).not_to_have_count(loaded)
    assert tiles.count() >= count


def test_back_from_an_album_lands_where_the_visitor_was(
    browser_without_bfcache: Browser, live_server: str
) -> None:
    add_albums(200)
    context = browser_without_bfcache.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/catalog/")
        tiles = page.locator("article.tile[data-album-id]")
        expect(tiles).to_have_count(48)
        history_length = page.evaluate("history.length")

        scroll_until_loaded(page, 120)
        tile = tiles.nth(119)
        tile.scroll_into_view_if_needed()  # at the top, under the sticky header:
        page.mouse.wheel(0, -200)  # the visitor sees the whole tile
        page.wait_for_timeout(400)  # filters.js saves the place shortly after scrolling
        album_id = tile.get_attribute("data-album-id")
        title = tile.locator(".tile__link").inner_text()
        top = tile.evaluate("el => el.getBoundingClientRect().top")
        assert page.evaluate("history.length") == history_length  # scrolling is not navigation

        page.evaluate("window.sameDocument = true")  # gone if Back loads the page again
        tile.locator(".tile__link").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        page.go_back()
        expect(page.locator("h1 .result-count__text")).to_have_text("200 albums")
        assert page.evaluate("window.sameDocument === undefined")  # no back/forward cache

        back = page.locator(f'article.tile[data-album-id="{album_id}"]')
        expect(back).to_be_visible()
        expect(back).to_be_in_viewport()
        # The page came back from the server, starting at the first page on screen.
        expect(page.get_by_role("link", name="← Earlier albums")).to_have_count(1)
        assert "page=" in page.url
        page.wait_for_timeout(300)
        top_after = back.evaluate("el => el.getBoundingClientRect().top")
        assert abs(top_after - top) <= 50, (
            f"the album was at {top:.0f} px, is at {top_after:.0f} px"
        )
    finally:
        context.close()


def test_the_end_of_the_list_says_so(live_server: str, page: Page) -> None:
    add_albums(100)
    page.goto(f"{live_server}/catalog/")
    tiles = page.locator("article.tile[data-album-id]")
    expect(tiles).to_have_count(48)
    scroll_until_loaded(page, 100)
    expect(tiles).to_have_count(100)
    end = page.locator("#end")
    expect(end).to_have_text("That\u2019s all 100 albums.")
    end.scroll_into_view_if_needed()
    expect(end).to_be_visible()
    expect(page.locator("#more")).to_have_count(0)
    expect(page.locator(".pager")).to_be_hidden()
    expect(page.get_by_role("link", name="Next →")).to_be_hidden()


LAYOUT_SHIFT = """
window.__layoutShift = 0;
window.__layoutShifts = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) {
      window.__layoutShift += entry.value;
      window.__layoutShifts.push({
        value: entry.value,
        nodes: entry.sources.map(s => s.node?.className || s.node?.nodeName || '?'),
      });
    }
  }
}).observe({type: 'layout-shift', buffered: true});
"""


def test_loading_three_more_pages_does_not_shift_the_layout(
    browser: Browser, live_server: str
) -> None:
    add_albums(210)
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(LAYOUT_SHIFT)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/catalog/")
        assert page.evaluate("PerformanceObserver.supportedEntryTypes.includes('layout-shift')")
        tiles = page.locator("article.tile[data-album-id]")
        expect(tiles).to_have_count(48)
        for count in (96, 144, 192):
            page.locator("#more").scroll_into_view_if_needed()
            expect(tiles).to_have_count(count)
            page.wait_for_timeout(200)  # let the new tiles lay out and the observer report
        total = page.evaluate("window.__layoutShift")
        shifts = page.evaluate("window.__layoutShifts")
        assert total < 0.1, f"cumulative layout shift {total:.3f}: {shifts}"

        # The instrument works: a block pushed in at the top of the page is a shift.
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(200)
        page.evaluate(
            "document.querySelector('main').prepend(Object.assign("
            "document.createElement('div'), {style: 'height: 300px'}))"
        )
        page.wait_for_function("() => window.__layoutShift > 0.05")
    finally:
        context.close()
