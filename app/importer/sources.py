"""Read the album list from a CSV file, a Google Sheet (service account) or a public sheet.

Every source yields plain text cells with spreadsheet row numbers (header = row 1),
so "007" stays "007" and a multi-line cell does not shift later rows.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, quote, urlsplit

import requests

from app.importer.rows import ImportFatalError

SHEETS_TIMEOUT = 30.0
_SHEET_KEY_RE = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]{20,})")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]{20,}")


@dataclass(frozen=True, slots=True)
class Table:
    """Header cells plus (spreadsheet row number, cells) for every later row."""

    headers: list[str]
    records: list[tuple[int, list[str]]]
    description: str


def table_from_rows(rows: Sequence[Sequence[str]], description: str) -> Table:
    """Rows as a spreadsheet shows them: the first one is the header row (row 1)."""
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ImportFatalError(f"{description} has no header row")
    records = [(index + 1, list(cells)) for index, cells in enumerate(rows) if index > 0]
    return Table(headers=list(rows[0]), records=records, description=description)


def read_csv_text(text: str, description: str) -> Table:
    # csv keeps a quoted multi-line cell in one record, so record n is sheet row n.
    try:
        rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    except csv.Error as exc:
        raise ImportFatalError(f"{description} is not valid CSV: {exc}") from exc
    return table_from_rows(rows, description)


def read_csv_file(path: str) -> Table:
    """A CSV file by path, or standard input for `-`."""
    if path == "-":
        return read_csv_text(_decode(sys.stdin.buffer.read()), "standard input")
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError as exc:
        raise ImportFatalError(f"file not found: {path}") from exc
    except OSError as exc:
        raise ImportFatalError(f"cannot read {path}: {exc.strerror}") from exc
    return read_csv_text(_decode(raw), path)


def _decode(raw: bytes) -> str:
    """UTF-8 text; a byte that is not UTF-8 becomes U+FFFD, and its row is rejected
    (by number) instead of the whole file."""
    return raw.decode("utf-8-sig", errors="replace")


@dataclass(frozen=True, slots=True)
class SheetRef:
    key: str
    gid: str | None


def parse_sheet_ref(key_or_url: str) -> SheetRef:
    """The spreadsheet key (and tab gid, if the URL names one) of a sheet URL or key."""
    text = key_or_url.strip()
    match = _SHEET_KEY_RE.search(text)
    if match:
        parts = urlsplit(text)
        gid = parse_qs(parts.query).get("gid", [None])[0]
        frag = parse_qs(parts.fragment).get("gid", [None])[0]
        return SheetRef(match.group(1), gid or frag)
    if _BARE_KEY_RE.fullmatch(text):
        return SheetRef(text, None)
    raise ImportFatalError(f"{key_or_url!r} is neither a Google Sheet URL nor a sheet key")


def read_sheet_with_service_account(
    ref: SheetRef, worksheet: str | None, credentials_file: str
) -> Table:
    """Read a private sheet through the Sheets API with a read-only service account."""
    # Imported here: gspread and google-auth cost every command (and every web and
    # worker process) a tenth of a second to start, and only this reads a sheet.
    import gspread
    from google.auth.exceptions import GoogleAuthError

    try:
        client = gspread.service_account(
            filename=credentials_file, scopes=gspread.auth.READONLY_SCOPES
        )
        client.set_timeout(SHEETS_TIMEOUT)
        spreadsheet = client.open_by_key(ref.key)
        if worksheet:
            tab = spreadsheet.worksheet(worksheet)
        elif ref.gid is not None:
            tab = spreadsheet.get_worksheet_by_id(ref.gid)
        else:
            tab = spreadsheet.sheet1
        # get_all_values gives formatted text; get_all_records would turn "007" into 7
        # and raise on duplicate or blank headers.
        grid = cast("list[list[object]]", tab.get_all_values())
        values = [[str(c) for c in row] for row in grid]
    except FileNotFoundError as exc:
        raise ImportFatalError(f"service account file not found: {credentials_file}") from exc
    except (ValueError, KeyError) as exc:
        raise ImportFatalError(
            f"service account file {credentials_file} is invalid: {exc}"
        ) from exc
    except gspread.exceptions.SpreadsheetNotFound as exc:
        raise ImportFatalError(
            f"sheet {ref.key} not found, or not shared with the service account"
        ) from exc
    except gspread.exceptions.WorksheetNotFound as exc:
        raise ImportFatalError(
            f"worksheet {worksheet or ref.gid!r} not found in the sheet"
        ) from exc
    except gspread.exceptions.APIError as exc:
        raise ImportFatalError(f"Google Sheets API error: {exc}") from exc
    except GoogleAuthError as exc:
        raise ImportFatalError(f"Google sign-in failed: {exc}") from exc
    except requests.RequestException as exc:
        raise ImportFatalError(f"cannot reach Google Sheets: {exc}") from exc
    return table_from_rows(values, f"sheet {ref.key}")


def public_csv_url(ref: SheetRef, worksheet: str | None) -> str:
    base = f"https://docs.google.com/spreadsheets/d/{ref.key}"
    if worksheet:
        # The export endpoint only knows tab ids; the visualisation endpoint takes names.
        return f"{base}/gviz/tq?tqx=out:csv&sheet={quote(worksheet)}"
    url = f"{base}/export?format=csv"
    return f"{url}&gid={ref.gid}" if ref.gid is not None else url


def read_public_sheet(ref: SheetRef, worksheet: str | None) -> Table:
    """Read a sheet shared "anyone with the link" through its CSV export."""
    url = public_csv_url(ref, worksheet)
    try:
        response = requests.get(url, timeout=SHEETS_TIMEOUT)
    except requests.RequestException as exc:
        raise ImportFatalError(f"cannot reach Google Sheets: {exc}") from exc
    content_type = response.headers.get("Content-Type", "")
    if response.status_code in (401, 403) or "text/html" in content_type:
        raise ImportFatalError(
            "the sheet is not shared publicly; share it as 'anyone with the link' "
            "or set GOOGLE_SERVICE_ACCOUNT_FILE"
        )
    if response.status_code == 404:
        raise ImportFatalError(f"sheet {ref.key} not found")
    if response.status_code >= 400:
        raise ImportFatalError(f"Google Sheets answered HTTP {response.status_code}")
    return read_csv_text(response.content.decode("utf-8-sig", errors="replace"), f"sheet {ref.key}")


def read_sheet(key_or_url: str, worksheet: str | None, credentials_file: str) -> Table:
    ref = parse_sheet_ref(key_or_url)
    if credentials_file:
        return read_sheet_with_service_account(ref, worksheet, credentials_file)
    return read_public_sheet(ref, worksheet)
