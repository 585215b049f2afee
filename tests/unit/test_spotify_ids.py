import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.spotify.ids import SpotifyLinkError, album_url, parse_album_id

ID = "4LH4d3cOWNNsVw41Gqt2kv"


@pytest.mark.parametrize(
    "text",
    [
        ID,
        f"  {ID}\n",
        f"spotify:album:{ID}",
        f"SPOTIFY:ALBUM:{ID}",
        f"https://open.spotify.com/album/{ID}",
        f"http://open.spotify.com/album/{ID}",
        f"open.spotify.com/album/{ID}",
        f"https://open.spotify.com/album/{ID}/",
        f"https://open.spotify.com/album/{ID}?si=a1b2c3d4e5f6",
        f"https://open.spotify.com/album/{ID}?si=abc#tracks",
        f"https://open.spotify.com/album/{ID}#x",
        f"https://open.spotify.com/intl-de/album/{ID}",
        f"https://open.spotify.com/intl-pt-BR/album/{ID}?si=1",
        f"https://OPEN.SPOTIFY.COM/album/{ID}",
        f"https://play.spotify.com/album/{ID}",
    ],
)
def test_accepts_every_album_form(text: str) -> None:
    assert parse_album_id(text) == ID


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (f"https://open.spotify.com/track/{ID}", "track link"),
        (f"https://open.spotify.com/artist/{ID}", "artist link"),
        (f"https://open.spotify.com/playlist/{ID}", "playlist link"),
        (f"spotify:track:{ID}", "track URI"),
        (f"https://example.com/album/{ID}", "example.com"),
        (f"https://open.spotify.com.evil.net/album/{ID}", "evil.net"),
        (f"ftp://open.spotify.com/album/{ID}", "scheme"),
        ("https://open.spotify.com/album/abc", "3 characters"),
        (f"{ID}X", "23 characters"),
        ("4LH4d3cOWNNsVw41Gqt2k!", "characters other"),
        ("https://open.spotify.com/", "no album"),
        (f"https://open.spotify.com/album/{ID}/extra", "not of the form"),
        ("spotify:album", "not a spotify:album"),
        ("not a link at all", "characters other"),
    ],
)
def test_rejects_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(SpotifyLinkError, match=reason):
        parse_album_id(text)


def test_album_url_round_trips() -> None:
    assert parse_album_id(album_url(ID)) == ID


@given(st.text())
def test_random_text_never_crashes(text: str) -> None:
    try:
        result = parse_album_id(text)
    except SpotifyLinkError as exc:
        message = str(exc)
        assert message, "every rejection carries a reason"
        return
    assert len(result) == 22
    assert result.isascii()
    assert result.isalnum()
