"""Covers appear as tiles scroll into view, fetched by the real worker from the simulator."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers import add_album
from tests.live import serve
from tests.pipeline import Pipeline, short_id

pytestmark = [pytest.mark.browser, pytest.mark.celery, pytest.mark.xdist_group("pipeline")]


def test_covers_load_when_scrolled_into_view(browser: Browser, pipe: Pipeline) -> None:
    for i in range(40):
        add_album(f"Album {i:02d}", f"Artist {i:02d}", spotify_id=short_id())
    context = browser.new_context(viewport={"width": 1280, "height": 700})
    page = context.new_page()
    with serve(pipe.app) as base:
        page.goto(f"{base}/catalog/")
        first = page.locator("[data-album-id]").first
        expect(first.locator("[data-cover-state=ready] img")).to_be_visible(timeout=10_000)
        loaded = first.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
        assert loaded, "the cover image itself should load (served by the simulator)"

        last = page.locator("[data-album-id]").last
        expect(last.locator("[data-cover-state]")).to_have_attribute("data-cover-state", "pending")
        fetched_before_scrolling = len(pipe.sim.state.api_calls("/v1/albums"))
        assert fetched_before_scrolling < 40, "tiles out of view must not be fetched"

        last.scroll_into_view_if_needed()
        expect(last.locator("[data-cover-state=ready] img")).to_be_visible(timeout=10_000)
    context.close()


def test_album_page_shows_track_list_after_the_basics(browser: Browser, pipe: Pipeline) -> None:
    album = add_album("Kid A", "Radiohead", year=2000, spotify_id=short_id())
    page = browser.new_page()
    with serve(pipe.app) as base:
        page.goto(f"{base}/catalog/album/{album.id}/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Kid A")
        section = page.locator("#metadata")
        expect(section).to_have_attribute("data-metadata-state", "ready", timeout=10_000)
        assert page.locator(".tracks tr").count() >= 1
        expect(page.locator(".album__art [data-cover-state=ready] img")).to_be_visible()
    page.close()
