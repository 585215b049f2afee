"""`flask import-albums --sheet`: gspread with a service account, and public sheets."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from app.extensions import db
from app.models import Album
from tests.helpers import album_by_title

KEY = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"
SHEET_URL = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
SHEETS_API = f"https://sheets.googleapis.com/v4/spreadsheets/{KEY}"
TOKEN_URI = "https://oauth2.googleapis.com/token"


@pytest.fixture
def service_account_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "club",
                "private_key_id": "abc123",
                "private_key": pem,
                "client_email": "importer@club.iam.gserviceaccount.com",
                "client_id": "1234567890",
                "token_uri": TOKEN_URI,
            }
        )
    )
    return path


def sheet_metadata(*titles: str) -> dict[str, object]:
    return {
        "spreadsheetId": KEY,
        "properties": {"title": "Club albums"},
        "sheets": [
            {"properties": {"sheetId": i, "title": t, "index": i, "gridProperties": {}}}
            for i, t in enumerate(titles)
        ],
    }


def jwt_scopes(body: object) -> set[str]:
    """The scopes a service-account token request asks for (inside its signed JWT)."""
    text = body.decode() if isinstance(body, bytes) else str(body)
    assertion = parse_qs(text)["assertion"][0]
    payload = assertion.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return set(claims["scope"].split())


VALUES = [
    ["Artist", "Album", "Year", "Spotify link"],
    ["James Bond Orchestra", "007", "1965", ""],
    ["Radiohead", "OK Computer", "1997", "https://open.spotify.com/album/6dVIqQ8qmQ5GBnJ9shOYGE"],
    [],
    ["Portishead", "", "1994", ""],
    ["Air", "Moon Safari", "1998", "spotify:album:6rVFgEvlqz3Ub69NBBdKYh"],
]


@responses.activate
def test_private_sheet_through_service_account(
    runner: FlaskCliRunner, service_account_file: Path
) -> None:
    runner.app.config["GOOGLE_SERVICE_ACCOUNT_FILE"] = str(service_account_file)
    token = responses.post(TOKEN_URI, json={"access_token": "ya29.x", "expires_in": 3600})
    responses.get(SHEETS_API, json=sheet_metadata("Albums", "Archive"))
    values = responses.get(
        re.compile(re.escape(SHEETS_API) + r"/values/.*Albums.*"),
        json={"range": "Albums!A1:D6", "majorDimension": "ROWS", "values": VALUES},
    )

    result = runner.invoke(args=["import-albums", "--sheet", SHEET_URL])

    assert result.exit_code == 0, result.output
    assert "created 3, updated 0, unchanged 0, skipped 1, removed 0" in result.output
    assert "row 5: album title is empty" in result.output
    # "007" stays text: gspread's get_all_records would have made it the number 7.
    assert album_by_title("007").year == 1965
    assert album_by_title("Moon Safari").spotify_album_id == "6rVFgEvlqz3Ub69NBBdKYh"
    assert token.call_count == 1
    assert values.call_count == 1
    assert jwt_scopes(token.calls[0].request.body) == {
        "https://www.googleapis.com/auth/spreadsheets.readonly",
        "https://www.googleapis.com/auth/drive.readonly",
    }
    assert values.calls[0].request.headers["Authorization"] == "Bearer ya29.x"


@responses.activate
def test_named_worksheet(runner: FlaskCliRunner, service_account_file: Path) -> None:
    runner.app.config["GOOGLE_SERVICE_ACCOUNT_FILE"] = str(service_account_file)
    responses.post(TOKEN_URI, json={"access_token": "ya29.x", "expires_in": 3600})
    responses.get(SHEETS_API, json=sheet_metadata("Albums", "Archive"))
    responses.get(
        re.compile(re.escape(SHEETS_API) + r"/values/.*Archive.*"),
        json={"values": [["artist", "title"], ["Can", "Tago Mago"]]},
    )

    result = runner.invoke(args=["import-albums", "--sheet", KEY, "--worksheet", "Archive"])

    assert result.exit_code == 0, result.output
    assert album_by_title("Tago Mago").artist.name == "Can"


@responses.activate
def test_missing_worksheet_is_fatal(runner: FlaskCliRunner, service_account_file: Path) -> None:
    runner.app.config["GOOGLE_SERVICE_ACCOUNT_FILE"] = str(service_account_file)
    responses.post(TOKEN_URI, json={"access_token": "ya29.x", "expires_in": 3600})
    responses.get(SHEETS_API, json=sheet_metadata("Albums"))

    result = runner.invoke(args=["import-albums", "--sheet", KEY, "--worksheet", "Nope"])

    assert result.exit_code == 1
    assert "worksheet 'Nope' not found" in result.output


@responses.activate
def test_sheet_not_shared_with_service_account_is_fatal(
    runner: FlaskCliRunner, service_account_file: Path
) -> None:
    runner.app.config["GOOGLE_SERVICE_ACCOUNT_FILE"] = str(service_account_file)
    responses.post(TOKEN_URI, json={"access_token": "ya29.x", "expires_in": 3600})
    responses.get(
        SHEETS_API,
        status=404,
        json={
            "error": {
                "code": 404,
                "message": "Requested entity was not found.",
                "status": "NOT_FOUND",
            }
        },
    )

    result = runner.invoke(args=["import-albums", "--sheet", KEY])

    assert result.exit_code == 1
    assert "not found, or not shared with the service account" in result.output


def test_missing_service_account_file_is_fatal(runner: FlaskCliRunner, tmp_path: Path) -> None:
    runner.app.config["GOOGLE_SERVICE_ACCOUNT_FILE"] = str(tmp_path / "nope.json")
    result = runner.invoke(args=["import-albums", "--sheet", KEY])
    assert result.exit_code == 1
    assert "service account file not found" in result.output


@responses.activate
def test_public_sheet_through_csv_export(runner: FlaskCliRunner) -> None:
    export = responses.get(
        f"https://docs.google.com/spreadsheets/d/{KEY}/export",
        body="Artist,Album\r\nAir,Moon Safari\r\n,\r\nCan,Ege Bamyasi\r\n",
        content_type="text/csv",
    )

    result = runner.invoke(args=["import-albums", "--sheet", SHEET_URL])

    assert result.exit_code == 0, result.output
    assert "created 2," in result.output
    assert str(export.calls[0].request.url).endswith("format=csv&gid=0")


@responses.activate
def test_public_sheet_worksheet_by_name(runner: FlaskCliRunner) -> None:
    gviz = responses.get(
        f"https://docs.google.com/spreadsheets/d/{KEY}/gviz/tq",
        body='"Artist","Album"\n"Can","Future Days"\n',
        content_type="text/csv",
    )
    result = runner.invoke(args=["import-albums", "--sheet", KEY, "--worksheet", "Old Stuff"])
    assert result.exit_code == 0, result.output
    assert "sheet=Old%20Stuff" in str(gviz.calls[0].request.url)


@responses.activate
def test_private_sheet_without_service_account_is_fatal(runner: FlaskCliRunner) -> None:
    responses.get(
        f"https://docs.google.com/spreadsheets/d/{KEY}/export",
        body="<html>Sign in</html>",
        content_type="text/html; charset=utf-8",
    )

    result = runner.invoke(args=["import-albums", "--sheet", KEY])

    assert result.exit_code == 1
    assert "not shared publicly" in result.output
    assert db.session.execute(select(func.count()).select_from(Album)).scalar_one() == 0


def test_not_a_sheet_is_fatal(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["import-albums", "--sheet", "https://example.com/x"])
    assert result.exit_code == 1
    assert "neither a Google Sheet URL nor a sheet key" in result.output
