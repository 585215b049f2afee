"""MusicBrainz release-group search with the Cover Art Archive's front covers.

MusicBrainz allows one request per second per IP (more gets 503) and refuses generic
User-Agents with 403, so every request names the app and a contact. A release group
found here may still have no art: `confirm` asks the Cover Art Archive.
"""

from __future__ import annotations

import re
from typing import Any, cast
from urllib.parse import quote

import requests

from app.sources import http
from app.sources.base import AlbumQuery, SourceUnavailableError
from app.sources.matching import Candidate, normalise
from app.spotify.models import Image

SEARCH_LIMIT = 10
THROTTLED_RETRY_AFTER = 1.5  # a little over MusicBrainz's one second between requests
REFUSED_RETRY_AFTER = 3600.0  # a refused User-Agent stays refused until someone acts
UNAVAILABLE_RETRY_AFTER = 10.0
CAA_SIZES = (1200, 500, 250)  # the thumbnails the archive keeps, widest first
# Lucene's special characters; "&&" and "||" are safe once each character is escaped.
_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')


def user_agent(contact: str, version: str) -> str:
    """The User-Agent MusicBrainz asks for: application, version and a way to reach us."""
    return f"AlbumCatalog/{version} ( {contact} )"


class CoverArtArchiveSource:
    """Release groups from MusicBrainz, covers from the Cover Art Archive."""

    name = "coverartarchive"

    def __init__(
        self,
        contact: str,
        *,
        musicbrainz_base: str = "https://musicbrainz.org/ws/2/",
        caa_base: str = "https://coverartarchive.org/",
        timeout: float = 10.0,
        session: requests.Session | None = None,
        version: str = "1.0",
    ) -> None:
        if not contact.strip():
            raise ValueError("MusicBrainz needs a contact (e-mail or URL) in the User-Agent")
        self.musicbrainz_base = musicbrainz_base
        self.caa_base = caa_base
        self.timeout = timeout
        self.session = session or requests.Session()
        # Per request rather than on the session: a shared session keeps its own headers.
        self.headers = {"User-Agent": user_agent(contact.strip(), version),
                        "Accept": "application/json"}  # fmt: skip

    def candidates(self, query: AlbumQuery) -> list[Candidate]:
        """Up to ten release groups (albums, EPs, singles) for the title and artist."""
        title, artist = _lucene(query.title), _lucene(query.artist)
        if not title or not artist:
            return []  # an empty field would match anything: nothing to look for
        params: dict[str, str | int] = {
            "query": f'releasegroup:"{title}" AND artist:"{artist}"',
            "fmt": "json",
            "limit": SEARCH_LIMIT,
        }
        response = self._get(f"{self.musicbrainz_base}release-group/", params)
        body = http.json_object(response, "MusicBrainz", UNAVAILABLE_RETRY_AFTER)
        groups = _dicts(body.get("release-groups"))
        return [c for group in groups if (c := _candidate(group))]

    def confirm(self, candidate: Candidate) -> Candidate | None:
        """The release group with its CAA front covers, or None when it has no front art."""
        base = f"{self.caa_base}release-group/{quote(candidate.ref, safe='')}/"
        response = self._get(base + "front-500", None)
        status = response.status_code
        if status == 200 or 300 <= status < 400:  # 307 to archive.org when there is art
            # The stable CAA URLs, not archive.org's: the browser follows the redirect.
            images = tuple(Image(f"{base}front-{size}", size, None) for size in CAA_SIZES)
            return Candidate(candidate.source, candidate.ref, candidate.title, candidate.artist,
                             candidate.year, images, candidate.url, candidate.upc)  # fmt: skip
        if status in (400, 404):  # no front art; 400: not an MBID, it never will have any
            return None
        raise SourceUnavailableError(f"Cover Art Archive: HTTP {status}", UNAVAILABLE_RETRY_AFTER)

    def _get(self, url: str, params: dict[str, str | int] | None) -> requests.Response:
        """The response, or SourceUnavailableError for throttling, refusal and network errors."""
        response = http.get(
            self.session,
            url,
            params,
            "MusicBrainz",
            UNAVAILABLE_RETRY_AFTER,
            headers=self.headers,
            timeout=self.timeout,
            allow_redirects=False,
        )
        status = response.status_code
        failure = f"HTTP {status} from {url}"
        # MusicBrainz's rate limit answers 503.
        http.raise_if_throttled(response, failure, THROTTLED_RETRY_AFTER, (429, 503))
        if status == 403:
            agent = self.headers["User-Agent"]
            message = f"MusicBrainz refused the User-Agent {agent!r}: check the contact"
            raise SourceUnavailableError(message, REFUSED_RETRY_AFTER, throttled=True)
        if status >= 500:
            raise SourceUnavailableError(failure, UNAVAILABLE_RETRY_AFTER)
        return response


def _candidate(group: dict[str, Any]) -> Candidate | None:
    mbid, title = _str(group.get("id")), _str(group.get("title"))
    artist = _artist(group.get("artist-credit"))
    if not mbid or not title or not artist:
        return None
    secondary = [t for t in _list(group.get("secondary-types")) if isinstance(t, str)]
    # MusicBrainz marks live recordings by type, not always in the title; the matcher
    # rejects live versions by title, so it has to see the word (once).
    if "Live" in secondary and "live" not in normalise(title).split():
        title = f"{title} (Live)"
    date = _str(group.get("first-release-date")) or ""
    year = int(date[:4]) if len(date) >= 4 and date[:4].isdigit() else None
    url = f"https://musicbrainz.org/release-group/{mbid}"
    return Candidate("coverartarchive", mbid, title, artist, year, (), url)


def _artist(credits: Any) -> str | None:
    """The credit as MusicBrainz prints it: names joined by their join phrases."""
    parts: list[str] = []
    for credit in _dicts(credits):
        artist: Any = credit.get("artist")
        nested = (
            _str(cast(dict[str, Any], artist).get("name")) if isinstance(artist, dict) else None
        )
        name = _str(credit.get("name")) or nested
        if not name:
            return None  # a partial credit would be another artist
        parts.append(name + (_str(credit.get("joinphrase")) or ""))
    return "".join(parts).strip() or None


def _lucene(text: str) -> str:
    """A name fit for a quoted Lucene field, special characters escaped."""
    return _LUCENE_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _list(value: Any) -> list[Any]:
    return cast(list[Any], value) if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [cast(dict[str, Any], item) for item in _list(value) if isinstance(item, dict)]
