"""Which cover sources run, which image hosts they bring, and what the CSP then allows."""

from __future__ import annotations

import pytest

from app.config import Config, ConfigError
from app.security import content_security_policy
from app.spotify.images import image_allowed


def test_default_order_and_the_contact_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COVER_SOURCES", raising=False)
    monkeypatch.delenv("COVER_CONTACT", raising=False)
    config = Config()
    assert config.COVER_SOURCES == ("spotify", "spotify-search", "deezer", "coverartarchive")
    # MusicBrainz blocks anonymous User-Agents: without a contact the CAA source is off.
    assert config.enabled_sources() == ("spotify", "spotify-search", "deezer")
    monkeypatch.setenv("COVER_CONTACT", "club@example.org")
    assert Config().enabled_sources() == config.COVER_SOURCES


def test_an_unknown_source_is_refused_with_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVER_SOURCES", "spotify,lastfm")
    with pytest.raises(ConfigError, match="unknown source lastfm; the sources are spotify"):
        Config().validate()


def test_image_hosts_follow_the_enabled_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVER_SOURCES", "spotify,deezer")
    hosts = Config().IMAGE_HOSTS
    assert "cdn-images.dzcdn.net" in hosts
    assert "coverartarchive.org" not in hosts  # not enabled: not allowed
    monkeypatch.setenv("COVER_SOURCES", "spotify")
    assert "cdn-images.dzcdn.net" not in Config().IMAGE_HOSTS


def test_spotify_covers_from_both_cdn_families_are_shown() -> None:
    hosts = Config().SPOTIFY_IMAGE_HOSTS
    assert image_allowed("https://i.scdn.co/image/ab67", hosts)
    assert image_allowed("https://image-cdn-ak.spotifycdn.com/image/ab67", hosts)
    assert image_allowed("https://image-cdn-fa.spotifycdn.com/image/ab67", hosts)
    assert not image_allowed("http://image-cdn-ak.spotifycdn.com/image/ab67", hosts)  # https only
    assert not image_allowed("https://evilspotifycdn.com/x", hosts)  # not under the domain
    assert not image_allowed("https://spotifycdn.com.evil.example/x", hosts)


def test_the_csp_lets_in_exactly_the_allowed_image_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVER_CONTACT", "club@example.org")
    policy = content_security_policy(Config().IMAGE_HOSTS)
    img_src = next(d for d in policy.split("; ") if d.startswith("img-src"))
    assert img_src.split() == [
        "img-src",
        "'self'",
        "https://i.scdn.co",
        "https://*.spotifycdn.com",
        "https://cdn-images.dzcdn.net",
        "https://e-cdns-images.dzcdn.net",
        "https://coverartarchive.org",
        "https://archive.org",
        "https://*.archive.org",
    ]
