"""The catalog in a real browser: grid layout, search, album page, untrusted text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.helpers import add_album

pytestmark = pytest.mark.browser


@pytest.fixture
def albums() -> None:
    for i in range(12):
        add_album(f"Album {i:02d}", f"Artist {i % 3}", year=1990 + i, genres=["Rock"])
    add_album(
        "OK Computer",
        "Radiohead",
        year=1997,
        genres=["Alternative"],
        spotify_id="6dVIqQ8qmQ5GBnJ9shOYGE",
        cover_url="https://i.scdn.co/image/ok",
    )
    add_album("<script>alert('x')</script>", "<img src=x onerror=alert(1)>")


def test_grid_is_responsive(page: Page, live_server: str, albums: None) -> None:
    page.goto(f"{live_server}/catalog/")
    tiles = page.locator("[data-album-id]")
    expect(tiles).to_have_count(14)

    def tiles_in_first_row() -> int:
        tops = tiles.evaluate_all("els => els.map(e => e.getBoundingClientRect().top)")
        return sum(1 for top in tops if abs(top - tops[0]) < 2)

    assert tiles_in_first_row() >= 5
    page.set_viewport_size({"width": 390, "height": 800})
    assert tiles_in_first_row() == 2
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert overflow is False


def test_search_and_open_an_album(page: Page, live_server: str, albums: None) -> None:
    page.goto(f"{live_server}/catalog/")
    page.get_by_label("Search albums or artists").fill("radiohead")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("[data-album-id]")).to_have_count(1)

    page.get_by_role("heading", name="OK Computer").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("OK Computer")
    expect(page.get_by_role("link", name="Open on Spotify")).to_have_attribute(
        "href", "https://open.spotify.com/album/6dVIqQ8qmQ5GBnJ9shOYGE"
    )
    cover = page.locator("[data-cover-state=ready] img")
    expect(cover).to_have_attribute("alt", "Cover of OK Computer by Radiohead")


def test_genre_menu_filters(page: Page, live_server: str, albums: None) -> None:
    page.goto(f"{live_server}/catalog/")
    page.get_by_label("Genre").select_option("Alternative")
    expect(page.locator("[data-album-id]")).to_have_count(1)
    expect(page).to_have_url(f"{live_server}/catalog/?genre=Alternative&sort=artist")


def test_untrusted_text_shows_as_text(page: Page, live_server: str, albums: None) -> None:
    page.goto(f"{live_server}/catalog/?q=script")
    expect(page.locator(".tile__title")).to_have_text("<script>alert('x')</script>")
    page.locator(".tile__link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("<script>alert('x')</script>")


def test_the_content_security_policy_holds_and_our_markup_never_breaks_it(
    page: Page, live_server: str, albums: None
) -> None:
    violations: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", record)
    response = page.goto(f"{live_server}/catalog/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    page.get_by_label("Sort").select_option("title")  # our script, not an inline handler
    expect(page).to_have_url(f"{live_server}/catalog/?genre=&sort=title")
    page.goto(f"{live_server}/catalog/?q=script")
    page.locator(".tile__link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("<script>alert('x')</script>")
    # The hostile titles ran nothing (the page fixture fails on any dialog), and
    # nothing of ours needed an exception to the policy.
    assert violations == []


def test_typing_updates_the_grid_and_the_address_without_a_reload(
    page: Page, live_server: str, albums: None
) -> None:
    page.goto(f"{live_server}/catalog/")
    page.evaluate("window.notReloaded = true")  # gone if the page reloads
    page.get_by_label("Search albums or artists").press_sequentially("radioh", delay=40)
    expect(page.locator("[data-album-id]")).to_have_count(1)
    expect(page).to_have_url(f"{live_server}/catalog/?q=radioh&genre=&sort=artist")
    assert page.evaluate("window.notReloaded") is True

    page.get_by_label("Sort").select_option("year")  # a menu change: also in place
    expect(page).to_have_url(re.compile(r"sort=year"))
    assert page.evaluate("window.notReloaded") is True
    page.go_back()
    expect(page).to_have_url(f"{live_server}/catalog/?q=radioh&genre=&sort=artist")
    expect(page.locator("[data-album-id]")).to_have_count(1)


def test_enter_in_the_search_box_keeps_the_menus_choices(
    page: Page, live_server: str, albums: None
) -> None:
    page.goto(f"{live_server}/catalog/")
    page.get_by_label("Genre").select_option("Rock")
    expect(page.locator("[data-album-id]")).to_have_count(12)
    expect(page).to_have_url(re.compile(r"genre=Rock"))  # swapped, settled and pushed
    page.get_by_label("Sort").select_option("year")
    expect(page).to_have_url(re.compile(r"genre=Rock.*sort=year|sort=year.*genre=Rock"))
    box = page.get_by_label("Search albums or artists")
    box.fill("album 0")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"q=album(\+|%20)0"))
    assert "genre=Rock" in page.url
    assert "sort=year" in page.url
    titles = page.locator(".tile__link").all_inner_texts()
    # Every word somewhere; titles starting with the query first ("Album 10" only has
    # a 0 inside a word), then newest first; Rock only.
    assert titles == [*(f"Album {i:02d}" for i in range(9, -1, -1)), "Album 10"]


def test_the_next_page_loads_as_the_visitor_scrolls(page: Page, live_server: str) -> None:
    for i in range(100):
        add_album(f"Scroll {i:03d}", f"Band {i % 5}")
    page.goto(f"{live_server}/catalog/")
    tiles = page.locator("[data-album-id]")
    expect(tiles).to_have_count(48)
    expect(page.get_by_role("link", name="Next →")).to_be_hidden()  # scrolling replaces it
    expect(page.locator(".pager")).to_be_hidden()  # and no page numbers go stale
    history_length = page.evaluate("history.length")
    page.locator("#more").scroll_into_view_if_needed()
    expect(tiles).to_have_count(96)
    page.locator("#more").scroll_into_view_if_needed()
    expect(tiles).to_have_count(100)
    expect(page.locator("#more")).to_have_count(0)
    ids = tiles.evaluate_all("els => els.map(e => e.dataset.albumId)")
    assert len(set(ids)) == 100  # no album twice
    expect(page.locator("#end")).to_have_text("That\u2019s all 100 albums.")
    # Scrolling is not navigation: the address only follows the first page on screen.
    assert page.evaluate("history.length") == history_length
    assert page.url.startswith(f"{live_server}/catalog/")


def test_without_javascript_pages_are_links(browser: Browser, live_server: str) -> None:
    for i in range(60):
        add_album(f"Plain {i:03d}", "Band")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/catalog/")
        expect(page.locator("[data-album-id]")).to_have_count(48)
        page.get_by_role("link", name="Next →").click()
        expect(page.locator("[data-album-id]")).to_have_count(12)
        expect(page.locator(".pager__current")).to_have_text("2")
        page.get_by_role("link", name="← Previous").click()
        expect(page.locator("[data-album-id]")).to_have_count(48)
        page.get_by_label("Sort").select_option("title")
        page.get_by_role("button", name="Apply").click()
        page.get_by_label("Search albums or artists").fill("plain 00")
        page.get_by_role("button", name="Search").click()
        assert "sort=title" in page.url  # the search kept the menu's choice
        expect(page.locator("[data-album-id]")).to_have_count(10)
    finally:
        context.close()
