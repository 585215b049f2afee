"""A search counts its matches in its page query (it sorts every match for its rank
anyway): the total shown is right on every page and in every sort, for one scan."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.integration.test_catalog_paging import import_rows, tile_ids


def total(html: str) -> int:
    found = re.search(r'data-total="(\d+)"', html)
    assert found is not None
    return int(found.group(1))


def separate_counts(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("SELECT count(*)")]


@pytest.fixture
def catalog(app: Flask) -> None:
    app.config["CATALOG_PAGE_CACHE_SECONDS"] = 0
    rows = [[f"Band {n % 5}", f"Night Song {n:03d}" if n % 2 else f"Day {n:03d}", "1999", "Pop"]
            for n in range(130)]  # fmt: skip
    import_rows(rows)


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize("page", [1, 2])
def test_a_search_page_counts_its_matches_in_the_same_query(
    client: FlaskClient, count_queries: Callable[[], Any], page: int
) -> None:
    with count_queries() as counter:
        html = client.get(f"/catalog/?q=night&page={page}").get_data(as_text=True)

    assert total(html) == 65
    assert len(tile_ids(html)) == (48 if page == 1 else 17)
    assert separate_counts(counter.statements) == []


@pytest.mark.usefixtures("catalog")
def test_the_total_of_a_search_serves_every_sort_and_a_page_past_the_end(
    client: FlaskClient, count_queries: Callable[[], Any]
) -> None:
    client.get("/catalog/?q=song")
    with count_queries() as counter:
        titles = client.get("/catalog/?q=song&sort=title").get_data(as_text=True)
    assert total(titles) == 65
    assert not any("count(*)" in s for s in counter.statements)  # counted once

    past = client.get("/catalog/?q=day&page=9").get_data(as_text=True)
    assert tile_ids(past) == []
    assert "There is no page 9" in past
    assert total(client.get("/catalog/?q=day").get_data(as_text=True)) == 65
