"""Hostile input is ordinary input: no route answers 5xx, whatever the URL holds."""

from __future__ import annotations

import base64
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import add_album

# Anything a browser can send: every character but lone surrogates (not encodable).
TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60)
NUMBERS = st.integers(min_value=0, max_value=2**70)
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(number=NUMBERS)
def test_album_ids_of_any_size_are_404_not_500(client: FlaskClient, number: int) -> None:
    for suffix in ("", "cover-art/", "metadata/", "cover-art/?format=json"):
        assert client.get(f"/catalog/album/{number}/{suffix}").status_code in (200, 404)


def _cursor(text: str, number: int) -> str:
    """A well-formed cursor holding hostile values (what a tampered link could carry)."""
    raw = json.dumps([text, number, text, number]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@FUZZ
@given(text=TEXT, number=NUMBERS)
def test_catalog_parameters_never_break_the_page(
    client: FlaskClient, text: str, number: int
) -> None:
    for params in (
        {"q": text},
        {"artist": text},
        {"genre": text},
        {"sort": text},
        {"page": text},
        {"page": str(number)},
        {"after": text},
        {"before": text, "page": str(number)},
        {"after": _cursor(text, number)},  # fits the default order: keys reach SQL
        {"before": _cursor(text, number), "q": text},
        {"q": text, "genre": text, "artist": text, "page": str(number)},
    ):
        response = client.get("/catalog/", query_string=params)
        assert response.status_code == 200, params


@pytest.fixture
def album_id(app: Flask) -> int:
    return add_album("Kid A", "Radiohead", spotify_id="6GjwtEZcfenmOf6l18N7T7").id


@FUZZ
@given(text=TEXT)
def test_fragment_parameters_never_break_a_fragment(
    client: FlaskClient, album_id: int, text: str
) -> None:
    for kind in ("cover-art", "metadata"):
        for params in ({"attempt": text}, {"format": text}):
            url = f"/catalog/album/{album_id}/{kind}/"
            assert client.get(url, query_string=params).status_code < 500, params


def test_the_named_cases_from_the_review(client: FlaskClient) -> None:
    assert client.get("/catalog/album/2147483648/").status_code == 404
    assert client.get("/catalog/album/2147483648/cover-art/").status_code == 404
    assert client.get("/catalog/album/2147483648/metadata/?format=json").status_code == 404
    assert client.get("/catalog/?page=192153584101141164").status_code == 200
    for params in ({"q": "\x00"}, {"artist": "\x00"}, {"genre": "a\x00b"}):
        assert client.get("/catalog/", query_string=params).status_code == 200
