"""Administrators fix covers (issue 17), in Chromium: sign in, pick, upload, unpin.

Against the real pipeline (PostgreSQL, Redis, a Celery worker and the Spotify, Deezer
and MusicBrainz/CAA simulators) served on a real socket. Every test asserts what the
administrator, or a visitor, sees on the page.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from app.admin import auth
from tests.helpers import add_album
from tests.live import serve
from tests.pipeline import Pipeline, short_id

pytestmark = [pytest.mark.browser, pytest.mark.celery, pytest.mark.xdist_group("pipeline")]

NAME = "alice"
PASSWORD = "correct horse battery"
UPLOADED = re.compile(r"/media/covers/[0-9a-f]{64}-\d+\.jpg")
COVER_IMG = ".album__art [data-cover-state=ready] img"
PANEL = "section#change-cover"
WAIT_MS = 30_000  # the worker asks every cover source, each under its limiter


def _unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


@contextmanager
def _browsing(browser: Browser, pipe: Pipeline) -> Iterator[tuple[Page, str]]:
    """A fresh browser context's page, and the live app's base URL."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        with serve(pipe.app) as base:
            yield context.new_page(), base
    finally:
        context.close()


def _cover_json(page: Page, base: str, album_id: int) -> dict[str, Any]:
    """The album's cover as the JSON route says (202 while the worker looks for it)."""
    answer = page.request.get(f"{base}/catalog/album/{album_id}/cover-art/?format=json")
    assert answer.status in (200, 202)
    body: dict[str, Any] = answer.json()
    return body


def _try_sign_in(page: Page, base: str, name: str, password: str) -> int:
    """Type a name and password on the sign-in page and press the button; the status."""
    if "/admin/sign-in" not in page.url:
        page.goto(f"{base}/admin/sign-in")
    page.locator("#name").fill(name)
    page.locator("#password").fill(password)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return answer.value.status


def _sign_in(page: Page, base: str) -> None:
    status = _try_sign_in(page, base, NAME, PASSWORD)
    assert status == 302
    expect(page).to_have_url(f"{base}/catalog/")


def _wait_for_spotify_cover(page: Page, base: str, pipe: Pipeline, album_id: int) -> str:
    """Open the grid and wait for the tile's Spotify cover (the "wrong" one); its src."""
    page.goto(f"{base}/catalog/")
    img = page.locator(f"[data-album-id='{album_id}'] [data-cover-state=ready] img")
    expect(img).to_have_attribute("src", re.compile("^" + re.escape(pipe.sim.url)), timeout=WAIT_MS)
    src = img.get_attribute("src")
    assert src is not None
    return src


def _png(path: Path) -> Path:
    """A real 800 x 800 PNG, as an administrator would upload."""
    Image.new("RGB", (800, 800), (200, 40, 90)).save(path, "PNG")
    return path


def _upload(page: Page, path: Path) -> None:
    """Choose a file in the panel's "Upload a file" form and press its button."""
    panel = page.locator(PANEL)
    panel.locator("#cover-file").set_input_files(path)
    panel.get_by_role("button", name="Upload and pin").click()


def test_an_administrator_picks_another_candidate_and_the_grid_shows_it(
    browser: Browser, pipe: Pipeline
) -> None:
    title, artist = _unique("Blue Lines"), _unique("Massive Attack")
    known = requests.post(
        f"{pipe.deezer.url}_sim/albums",
        json=[{"artist": artist, "title": title, "year": 1991}],
        timeout=5,
    )
    known.raise_for_status()
    deezer_id = known.json()["added"][0]["id"]
    md5 = requests.get(f"{pipe.deezer.url}album/{deezer_id}", timeout=5).json()["md5_image"]
    album_id = add_album(title, artist, year=1991, spotify_id=short_id()).id
    auth.create(NAME, PASSWORD)
    with _browsing(browser, pipe) as (page, base):
        wrong = _wait_for_spotify_cover(page, base, pipe, album_id)
        _sign_in(page, base)
        page.goto(f"{base}/catalog/album/{album_id}/")
        panel = page.locator(PANEL)
        expect(panel.get_by_role("heading", name="Change cover")).to_be_visible()
        expect(page.get_by_text(f"Signed in as {NAME}")).to_be_visible()
        expect(panel.locator("ol.candidates__list")).to_be_visible(timeout=WAIT_MS)
        real = panel.locator("li.candidate[data-source=deezer]").filter(
            has=page.locator(f"img[src*='{md5}']")
        )
        expect(real).to_have_count(1)
        real.get_by_role("button", name=re.compile(r"^Use candidate \d+$")).click()

        expect(page).to_have_url(f"{base}/catalog/album/{album_id}/#change-cover")
        expect(page.locator("p.notice")).to_have_text("Cover pinned: no refresh will replace it.")
        expect(panel).to_contain_text(f"Pinned by {NAME} on ")
        credit = page.locator("p.album__credit[data-cover-source=manual]")
        expect(credit).to_have_text("Cover chosen by the club's administrator")
        deezer_image = re.compile("^" + re.escape(pipe.deezer.url.rstrip("/")) + f".*{md5}")
        expect(page.locator(COVER_IMG)).to_have_attribute("src", deezer_image)

        page.goto(f"{base}/catalog/")
        tile_img = page.locator(f"[data-album-id='{album_id}'] img")
        expect(tile_img).to_have_attribute("src", deezer_image)
        assert tile_img.get_attribute("src") != wrong
        cover = _cover_json(page, base, album_id)
        assert cover["source"] == "manual"
        assert re.match(deezer_image, cover["cover_url"])


def test_an_uploaded_file_becomes_the_cover_and_unpin_gives_it_back(
    browser: Browser, pipe: Pipeline, tmp_path: Path
) -> None:
    picture = _png(tmp_path / "cover.png")
    not_a_picture = tmp_path / "renamed" / "cover.png"
    not_a_picture.parent.mkdir()
    not_a_picture.write_text("this is only text, whatever its name says\n", encoding="utf-8")
    album_id = add_album(_unique("Mezzanine"), _unique("Massive Attack"), spotify_id=short_id()).id
    auth.create(NAME, PASSWORD)
    with _browsing(browser, pipe) as (page, base):
        spotify = _wait_for_spotify_cover(page, base, pipe, album_id)
        _sign_in(page, base)
        page.goto(f"{base}/catalog/album/{album_id}/")
        cover_img = page.locator(COVER_IMG)
        expect(cover_img).to_have_attribute("src", spotify)
        panel = page.locator(PANEL)
        _upload(page, picture)
        expect(page.locator("p.notice")).to_have_text(
            "Uploaded cover pinned: no refresh will replace it."
        )
        expect(panel).to_contain_text(f"Pinned by {NAME} on ")
        expect(cover_img).to_have_attribute("src", UPLOADED)
        uploaded = cover_img.get_attribute("src")
        assert uploaded is not None
        image = page.request.get(f"{base}{uploaded}")
        assert image.status == 200
        assert image.headers["content-type"] == "image/jpeg"
        cache_control = image.headers["cache-control"]
        assert "immutable" in cache_control
        assert "max-age=31536000" in cache_control
        assert _cover_json(page, base, album_id)["source"] == "manual"

        _upload(page, not_a_picture)
        expect(page.locator("p.notice--error")).to_have_text(
            "This is not a JPEG, PNG or WebP image."
        )
        expect(cover_img).to_have_attribute("src", uploaded)  # unchanged
        expect(panel).to_contain_text(f"Pinned by {NAME} on ")

        panel.get_by_role("button", name="Unpin").click()
        expect(page.locator("p.notice")).to_have_text(re.compile(r"^Unpinned"))
        expect(panel).not_to_contain_text("Pinned by")
        expect(panel.get_by_role("button", name="Unpin")).to_have_count(0)
        expect(page.locator("p.album__credit[data-cover-source=manual]")).to_have_count(0)
        assert _cover_json(page, base, album_id).get("source") != "manual"


def test_unpinning_gives_the_sheet_links_spotify_cover_back(
    browser: Browser, pipe: Pipeline, tmp_path: Path
) -> None:
    picture = _png(tmp_path / "cover.png")
    album_id = add_album(_unique("Mezzanine"), _unique("Massive Attack"), spotify_id=short_id()).id
    auth.create(NAME, PASSWORD)
    with _browsing(browser, pipe) as (page, base):
        spotify = _wait_for_spotify_cover(page, base, pipe, album_id)
        _sign_in(page, base)
        page.goto(f"{base}/catalog/album/{album_id}/")
        _upload(page, picture)
        expect(page.locator(COVER_IMG)).to_have_attribute("src", UPLOADED)
        page.locator(PANEL).get_by_role("button", name="Unpin").click()
        expect(page.locator("p.notice")).to_have_text(re.compile(r"^Unpinned"))
        # Back to automatic resolution: the sheet's Spotify cover comes back by itself.
        cover = page.locator(".album__art [data-cover-state]")
        expect(cover).not_to_have_attribute("data-cover-state", "pending", timeout=WAIT_MS)
        expect(cover).not_to_contain_text("No cover found")  # the lookup is asked again
        expect(page.locator(COVER_IMG)).to_have_attribute("src", spotify)
        assert _cover_json(page, base, album_id)["source"] == "spotify"


def test_a_visitor_sees_no_admin_controls_and_admin_routes_are_404(
    browser: Browser, pipe: Pipeline
) -> None:
    album_id = add_album(_unique("Protection"), _unique("Massive Attack")).id
    auth.create(NAME, PASSWORD)  # an administrator exists, but this visitor is not one
    with _browsing(browser, pipe) as (page, base):
        page.goto(f"{base}/catalog/album/{album_id}/")
        expect(page.locator("article.album h1")).to_be_visible()
        expect(page.get_by_text("Change cover")).to_have_count(0)
        expect(page.locator(PANEL)).to_have_count(0)
        expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
        expect(page.get_by_text("Signed in as")).to_have_count(0)
        for path in (
            f"/admin/albums/{album_id}/unpin",
            f"/admin/albums/{album_id}/candidates",
            f"/admin/albums/{album_id}/pin/url",
            "/admin/sign-out",
        ):
            assert page.request.post(f"{base}{path}").status == 404, path
            assert page.request.get(f"{base}{path}").status == 404, path
        assert page.request.get(f"{base}/admin/sign-in").status == 200


def test_a_form_posted_without_its_csrf_token_is_refused(browser: Browser, pipe: Pipeline) -> None:
    album_id = add_album(_unique("Heligoland"), _unique("Massive Attack")).id
    auth.create(NAME, PASSWORD)
    with _browsing(browser, pipe) as (page, base):
        _sign_in(page, base)
        cookies = [c for c in page.context.cookies() if c.get("name") == "session"]
        assert len(cookies) == 1
        assert cookies[0].get("httpOnly") is True
        assert cookies[0].get("sameSite") == "Lax"

        answer = page.request.post(
            f"{base}/admin/albums/{album_id}/pin/url",
            form={"url": "https://i.scdn.co/image/x"},
        )
        assert answer.status == 400
        assert "This form has expired or did not come from this site" in answer.text()
        assert _cover_json(page, base, album_id).get("source") != "manual"
        page.goto(f"{base}/catalog/album/{album_id}/")
        expect(page.locator(PANEL)).to_be_visible()  # still signed in
        expect(page.locator(PANEL)).not_to_contain_text("Pinned by")


def test_ten_wrong_passwords_lock_the_account_and_say_so(browser: Browser, pipe: Pipeline) -> None:
    auth.create(NAME, PASSWORD)
    with _browsing(browser, pipe) as (page, base):
        alert = page.get_by_role("alert")
        page.goto(f"{base}/admin/sign-in")
        for attempt in range(1, 11):
            assert _try_sign_in(page, base, NAME, f"wrong password {attempt:02d}") == 401
            if attempt < 10:
                expect(alert).to_have_text("Wrong name or password.")
        expect(alert).to_have_text(
            "Wrong name or password. This account is now locked for 15 minutes."
        )

        assert _try_sign_in(page, base, NAME, PASSWORD) == 401
        expect(alert).to_have_text(
            re.compile(
                r"^This account is locked after too many failed sign-ins; "
                r"try again in 1[45] minutes\.$"
            )
        )
        expect(page).to_have_url(re.compile(r"/admin/sign-in"))
        # Not signed in: the admin routes still answer 404 to this browser.
        assert page.request.post(f"{base}/admin/sign-out").status == 404
