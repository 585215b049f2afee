"""Administrators: sign-in, its throttle and cookie, CSRF, pins by URL and upload, the CLI.

On SQLite and PostgreSQL (fakeredis); the worker's side is in test_pinned_covers.py.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from PIL import Image

from app.admin import auth
from app.curation import audit
from app.extensions import db
from app.models import Album, AuditEntry
from tests.helpers import add_album

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def album(app: Flask, tmp_path: Path) -> Album:
    app.config["MEDIA_DIR"] = str(tmp_path / "covers")
    auth.create("alice", PASSWORD)
    return add_album(
        "Kid A",
        "Radiohead",
        spotify_id="6GjwtEZcfenmOf6l18N7T7",
        cover_url="https://i.scdn.co/image/a",
    )


def token(
    client: FlaskClient, path: str = "/admin/sign-in", base_url: str = "http://localhost"
) -> str:
    found = TOKEN.search(client.get(path, base_url=base_url).get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(
    client: FlaskClient,
    password: str = PASSWORD,
    name: str = "alice",
    base_url: str = "http://localhost",
) -> str:
    response = client.post(
        "/admin/sign-in",
        data={"csrf_token": token(client, base_url=base_url), "name": name, "password": password},
        base_url=base_url,
        # Over https Flask-WTF also checks that the form came from this site (as browsers say).
        headers={"Referer": f"{base_url}/admin/sign-in"},
    )
    return response.get_data(as_text=True) if response.status_code != 302 else "signed in"


def post(client: FlaskClient, album_id: int, action: str, **data: object) -> str:
    """An admin form posted from the album page; the page it comes back to."""
    page = f"/catalog/album/{album_id}/"
    fields = {"csrf_token": token(client, page), **data}
    response = client.post(f"/admin/albums/{album_id}/{action}", data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client.get(page).get_data(as_text=True)


def cover_json(client: FlaskClient, album_id: int) -> dict[str, object]:
    body = client.get(f"/catalog/album/{album_id}/cover-art/?format=json").get_json()
    assert isinstance(body, dict)
    return body


def png(width: int = 800, height: int = 800) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 60)).save(buffer, "PNG")
    return buffer.getvalue()


def bomb() -> bytes:
    """A small PNG whose header claims 20,000 x 20,000 pixels."""
    data = bytearray(png(8, 8))
    ihdr = struct.pack(">II", 20_000, 20_000) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def uploaded(app: Flask) -> list[Path]:
    folder = Path(app.config["MEDIA_DIR"])
    return sorted(folder.glob("*")) if folder.exists() else []


def test_a_visitor_sees_no_admin_controls_and_every_admin_route_is_a_404(
    client: FlaskClient, album: Album
) -> None:
    html = client.get(f"/catalog/album/{album.id}/").get_data(as_text=True)
    assert "Change cover" not in html
    assert "Sign out" not in html
    for action in ("unpin", "wrong-match", "pin/url", "pin/upload", "pin/candidate", "candidates"):
        assert client.post(f"/admin/albums/{album.id}/{action}").status_code == 404
        assert client.get(f"/admin/albums/{album.id}/{action}").status_code == 404
    assert client.post("/admin/sign-out").status_code == 404
    assert client.get("/admin/sign-in").status_code == 200


def test_an_administrator_signs_in_pins_a_url_and_signs_out(
    client: FlaskClient, album: Album
) -> None:
    assert sign_in(client) == "signed in"
    html = client.get(f"/catalog/album/{album.id}/").get_data(as_text=True)
    assert "Change cover" in html
    assert "Signed in as alice" in html
    assert client.get(f"/admin/albums/{album.id}/unpin").status_code == 405  # never a GET

    html = post(client, album.id, "pin/url", url="https://i.scdn.co/image/the-right-one")
    assert "Cover pinned" in html
    assert "Pinned by alice" in html
    body = cover_json(client, album.id)
    assert (body["source"], body["cover_url"]) == (
        "manual",
        "https://i.scdn.co/image/the-right-one",
    )
    grid = client.get("/catalog/").get_data(as_text=True)
    assert "https://i.scdn.co/image/the-right-one" in grid

    response = client.post(
        "/admin/sign-out", data={"csrf_token": token(client, "/catalog/album/1/")}
    )
    assert response.status_code == 302
    assert "Change cover" not in client.get(f"/catalog/album/{album.id}/").get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    client: FlaskClient, album: Album
) -> None:
    sign_in(client)
    response = client.post(f"/admin/albums/{album.id}/pin/url", data={"url": "https://i.scdn.co/x"})
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    assert cover_json(client, album.id)["source"] == "spotify"
    forged = client.post(
        f"/admin/albums/{album.id}/pin/url",
        data={"csrf_token": "forged", "url": "https://i.scdn.co/x"},
    )
    assert forged.status_code == 400


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:secret@i.scdn.co/image/x", "user name or password"),
        (" https://i.scdn.co/image/x", "spaces or line breaks"),
        ("https://i.scdn.co/image/x y", "spaces or line breaks"),
        ("http://i.scdn.co/image/x", "Only https://"),
        ("javascript:alert(1)", "Only https://"),
        ("https://evil.example/cover.jpg", "Images from evil.example are not allowed"),
    ],
)
def test_a_pasted_url_that_cannot_be_a_cover_is_refused_with_the_reason(
    client: FlaskClient, album: Album, url: str, message: str
) -> None:
    sign_in(client)
    html = post(client, album.id, "pin/url", url=url)
    assert message in html
    assert cover_json(client, album.id)["source"] == "spotify"  # nothing pinned


def test_an_upload_is_re_encoded_served_for_a_year_and_pinned(
    app: Flask, client: FlaskClient, album: Album
) -> None:
    sign_in(client)
    html = post(client, album.id, "pin/upload", file=(io.BytesIO(png()), "cover.png"))
    assert "Uploaded cover pinned" in html
    body = cover_json(client, album.id)
    assert body["source"] == "manual"
    url = str(body["cover_url"])
    assert re.fullmatch(r"/media/covers/[0-9a-f]{64}-800\.jpg", url)
    assert [p.name for p in uploaded(app)] == sorted(
        f"{url.split('/')[-1][:64]}-{w}.jpg" for w in (800, 640, 300)
    )
    served = client.get(url)
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert "immutable" in served.headers["Cache-Control"]
    grid = client.get("/catalog/").get_data(as_text=True)
    assert url.replace("-800.jpg", "-300.jpg") in grid  # the tile's size
    assert client.get("/media/covers/../../instance/test.db").status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("cover.png", b"just some text, renamed", "This is not a JPEG, PNG or WebP image."),
        ("cover.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
         "This is not a JPEG, PNG or WebP image."),
        ("bomb.png", bomb(), "megapixels"),
    ],
)  # fmt: skip
def test_an_upload_that_is_no_real_image_is_refused_and_nothing_is_stored(
    app: Flask, client: FlaskClient, album: Album, name: str, data: bytes, message: str
) -> None:
    sign_in(client)
    html = post(client, album.id, "pin/upload", file=(io.BytesIO(data), name))
    assert message in html
    assert uploaded(app) == []
    assert cover_json(client, album.id)["source"] == "spotify"


def test_a_file_over_the_limit_is_refused_before_it_is_read(
    client: FlaskClient, album: Album
) -> None:
    sign_in(client)
    page = f"/catalog/album/{album.id}/"
    big = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * (11 * 1024 * 1024 + 10))
    response = client.post(
        f"/admin/albums/{album.id}/pin/upload",
        data={"csrf_token": token(client, page), "file": (big, "huge.png")},
    )
    assert response.status_code == 413
    assert "larger than 10 MB" in response.get_data(as_text=True)


def test_ten_wrong_passwords_lock_the_account_and_say_so(client: FlaskClient, album: Album) -> None:
    for _ in range(9):
        assert "Wrong name or password." in sign_in(client, "not the password")
    assert "This account is now locked for 15 minutes" in sign_in(client, "not the password")
    refused = sign_in(client)  # the right password, too late
    assert "This account is locked after too many failed sign-ins" in refused
    assert "Change cover" not in client.get(f"/catalog/album/{album.id}/").get_data(as_text=True)
    failures = db.session.query(AuditEntry).filter_by(action=audit.SIGN_IN_FAILED).count()
    assert failures == 10  # attempts against the lock are not recorded


def test_an_unknown_name_counts_as_a_failure_from_that_address(
    client: FlaskClient, album: Album
) -> None:
    for i in range(30):  # three accounts' worth, spread over names nobody has
        sign_in(client, "guess", name=f"nobody{i}")
    assert "Too many failed sign-ins from your address" in sign_in(client)


def test_the_session_cookie_is_httponly_lax_bounded_and_secure_over_https(
    app: Flask, album: Album
) -> None:
    plain = app.test_client()
    sign_in(plain)
    cookie = plain.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert not cookie.secure
    assert cookie.expires is not None  # a bounded lifetime, not "until the browser closes"

    https = app.test_client()
    assert sign_in(https, base_url="https://localhost") == "signed in"
    secure = https.get_cookie("session")
    assert secure is not None
    assert secure.secure


def test_flask_admin_creates_lists_and_deletes(runner: FlaskCliRunner, app: Flask) -> None:
    made = runner.invoke(args=["admin", "create", "Bob"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    assert "Administrator Bob created" in made.output
    assert auth.find("bob") is not None
    assert auth.find("bob").password_hash.startswith("scrypt:")  # type: ignore[union-attr]

    short = runner.invoke(args=["admin", "create", "Carol"], input="short\nshort\n")
    assert short.exit_code != 0
    assert "at least 12 characters" in short.output
    mismatch = runner.invoke(
        args=["admin", "create", "Dave"], input=f"{PASSWORD}\nanother one entirely\n" * 3
    )
    assert mismatch.exit_code != 0
    assert auth.find("dave") is None
    twice = runner.invoke(args=["admin", "create", "bob"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert twice.exit_code != 0
    assert "already" in twice.output

    listed = runner.invoke(args=["admin", "list"])
    assert "Bob\tlast sign-in: never" in listed.output
    gone = runner.invoke(args=["admin", "delete", "Bob", "--yes"])
    assert gone.exit_code == 0
    assert auth.find("bob") is None


def test_flask_covers_pin_unpin_list_and_history(
    runner: FlaskCliRunner, app: Flask, album: Album, tmp_path: Path
) -> None:
    image = tmp_path / "scan.png"
    image.write_bytes(png(640, 640))
    pinned = runner.invoke(args=["covers", "pin", str(album.id), "--file", str(image)])
    assert pinned.exit_code == 0, pinned.output
    assert "cover pinned" in pinned.output
    listed = runner.invoke(args=["covers", "list", "--pinned"])
    assert f"{album.id}\tRadiohead - Kid A" in listed.output

    both = runner.invoke(args=["covers", "pin", str(album.id), "--url", "https://i.scdn.co/x",
                               "--file", str(image)])  # fmt: skip
    assert both.exit_code != 0
    assert "exactly one of" in both.output
    bad = runner.invoke(args=["covers", "pin", str(album.id), "--url", "http://i.scdn.co/x"])
    assert bad.exit_code != 0
    assert "Only https://" in bad.output

    unpinned = runner.invoke(args=["covers", "unpin", str(album.id)])
    assert unpinned.exit_code == 0, unpinned.output
    assert "No pinned covers." in runner.invoke(args=["covers", "list", "--pinned"]).output
    again = runner.invoke(args=["covers", "unpin", str(album.id)])
    assert again.exit_code != 0
    assert "not pinned" in again.output

    history = runner.invoke(args=["covers", "history", str(album.id)]).output.splitlines()
    assert [line.split("\t")[2] for line in history] == [audit.UPLOAD, audit.UNPIN]
    upload, unpin = (line.split("\t") for line in history)
    assert upload[1].startswith("cli")
    assert upload[3].startswith("https://i.scdn.co/image/a -> /media/covers/")
    assert unpin[3].startswith("/media/covers/")
    assert unpin[3].endswith("-> -")
