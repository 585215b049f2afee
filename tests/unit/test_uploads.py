"""Uploaded covers: only a real image is kept, re-encoded as JPEG in the stored widths."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.curation.uploads import (
    MAX_UPLOAD_BYTES,
    URL_PREFIX,
    UploadRefusedError,
    cover_path,
    store_upload,
)

ORIENTATION = 0x0112
MAKE = 0x010F


def picture(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A noisy picture, so JPEG data is of realistic size and a cut lands in the pixels."""
    noise = Image.effect_noise(size, 60)
    image = Image.merge(
        "RGB", (noise, noise.rotate(90), noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    )
    if mode == "RGBA":
        # Transparent at the top, opaque at the bottom.
        image.putalpha(Image.linear_gradient("L").resize(size))
        return image
    return image.convert(mode)


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_with_exif(image: Image.Image, **tags: int | str) -> bytes:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[{"orientation": ORIENTATION, "make": MAKE}[tag]] = value
    return encode(image, "JPEG", exif=exif.tobytes())


def png_declaring(width: int, height: int) -> bytes:
    """A small real PNG whose header claims another size (the CRC is fixed up to match)."""
    data = bytearray(encode(picture((64, 64)), "PNG"))
    # Signature (8), IHDR length (4) and type (4), then width and height; CRC after 13 bytes.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def colour_at(path: Path, xy: tuple[int, int]) -> tuple[int, ...]:
    with Image.open(path) as image:
        pixel = image.convert("RGB").getpixel(xy)
    assert isinstance(pixel, tuple)
    return pixel


def close_to(pixel: tuple[int, ...], expected: tuple[int, int, int]) -> bool:
    """Within JPEG's error of the expected colour."""
    return all(abs(got - want) <= 40 for got, want in zip(pixel, expected, strict=True))


def stored_files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "covers"


@pytest.mark.parametrize(
    ("upload", "widths"),
    [
        pytest.param(
            jpeg_with_exif(picture((1000, 1000)), make="Camera"), [1000, 640, 300], id="jpeg"
        ),
        pytest.param(encode(picture((1000, 1000), "RGBA"), "PNG"), [1000, 640, 300], id="png"),
        pytest.param(encode(picture((500, 500)), "WEBP"), [500, 300], id="webp"),
        pytest.param(encode(picture((2000, 1000)), "JPEG"), [1200, 640, 300], id="capped-at-1200"),
    ],
)
def test_an_image_is_stored_as_jpeg_in_each_width(
    upload: bytes, widths: list[int], folder: Path
) -> None:
    cover = store_upload(upload, folder)

    assert [image["width"] for image in cover.images] == widths
    assert len(cover.digest) == 64
    for entry in cover.images:
        name = f"{cover.digest}-{entry['width']}.jpg"
        assert entry["url"] == URL_PREFIX + name
        with Image.open(folder / name) as stored:
            assert stored.format == "JPEG"
            assert stored.size == (entry["width"], entry["height"])
            stored.load()
            assert not stored.getexif()
            assert "exif" not in stored.info
    # The aspect ratio is kept.
    first = cover.images[0]
    assert [image["height"] for image in cover.images] == [
        round(first["height"] * w / first["width"]) for w in widths
    ]
    assert [path.name for path in stored_files(folder)] == sorted(
        image["url"].removeprefix(URL_PREFIX) for image in cover.images
    )


def test_storing_the_same_image_twice_changes_nothing(folder: Path) -> None:
    upload = encode(picture((700, 700)), "PNG")
    first = store_upload(upload, folder)
    files = {path: path.read_bytes() for path in stored_files(folder)}

    second = store_upload(upload, folder)

    assert second == first
    assert {path: path.read_bytes() for path in stored_files(folder)} == files


def test_transparency_is_laid_on_white(folder: Path) -> None:
    image = Image.new("RGBA", (200, 200), (255, 0, 0, 255))
    image.paste((0, 0, 255, 0), (100, 0, 200, 200))  # right half fully transparent

    cover = store_upload(encode(image, "PNG"), folder)

    stored = folder / f"{cover.digest}-200.jpg"
    assert close_to(colour_at(stored, (50, 100)), (255, 0, 0))
    assert close_to(colour_at(stored, (150, 100)), (255, 255, 255))


def test_an_exif_rotated_photo_comes_out_upright(folder: Path) -> None:
    # Stored sideways: red on the left, blue on the right; orientation 6 = turn 90° clockwise.
    image = Image.new("RGB", (200, 100), "blue")
    image.paste((255, 0, 0), (0, 0, 100, 100))

    cover = store_upload(jpeg_with_exif(image, orientation=6), folder)

    assert [(i["width"], i["height"]) for i in cover.images] == [(100, 200)]
    stored_path = folder / f"{cover.digest}-100.jpg"
    with Image.open(stored_path) as stored:
        assert stored.size == (100, 200)
        assert not stored.getexif()
    # Red on top, blue below.
    assert close_to(colour_at(stored_path, (50, 40)), (255, 0, 0))
    assert close_to(colour_at(stored_path, (50, 160)), (0, 0, 255))


def test_an_animated_image_keeps_its_first_frame(folder: Path) -> None:
    frames = [Image.new("RGB", (100, 100), color) for color in ("red", "blue")]
    upload = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)

    cover = store_upload(upload, folder)

    assert close_to(colour_at(folder / f"{cover.digest}-100.jpg", (50, 50)), (255, 0, 0))


def half_of_a_jpeg() -> bytes:
    data = encode(picture((400, 400)), "JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        pytest.param(b"", "The file is empty.", id="empty"),
        pytest.param(
            b"Shopping list\nmilk\neggs\n", "This is not a JPEG, PNG or WebP image.", id="text"
        ),
        pytest.param(
            b'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="640">'
            b"<script>alert(document.cookie)</script></svg>",
            "This is not a JPEG, PNG or WebP image.",
            id="svg",
        ),
        pytest.param(
            b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
            "This is not a JPEG, PNG or WebP image.",
            id="pdf",
        ),
        pytest.param(
            encode(picture((300, 300)), "GIF"),
            "GIF images are not accepted: upload a JPEG, PNG or WebP image.",
            id="gif",
        ),
        pytest.param(
            encode(picture((64, 64)), "PNG").ljust(MAX_UPLOAD_BYTES + 1, b"\0"),
            "The file is larger than 10 MB.",
            id="over-10-mb",
        ),
        pytest.param(
            png_declaring(20_000, 20_000),
            "The image is far larger than 40 megapixels, the most accepted.",
            id="bomb",
        ),
        pytest.param(
            png_declaring(8_000, 6_000),
            "The image is 8000 × 6000 px, more than 40 megapixels, the most accepted.",  # noqa: RUF001
            id="48-megapixels",
        ),
        pytest.param(half_of_a_jpeg(), "The image is damaged and cannot be read.", id="truncated"),
        pytest.param(
            b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
            "The image is damaged and cannot be read.",
            id="png-signature-only",
        ),
        pytest.param(
            encode(picture((10, 10)), "PNG"),
            "The image is too small (at least 64 × 64 px).",  # noqa: RUF001
            id="too-small",
        ),
    ],
)
def test_a_refused_upload_says_why_and_writes_nothing(
    upload: bytes, message: str, tmp_path: Path, folder: Path
) -> None:
    with pytest.raises(UploadRefusedError) as refused:
        store_upload(upload, folder)

    assert str(refused.value) == message
    assert list(tmp_path.iterdir()) == []


def test_cover_path_finds_only_stored_covers(folder: Path) -> None:
    cover = store_upload(encode(picture((300, 300)), "PNG"), folder)
    name = f"{cover.digest}-300.jpg"
    (folder.parent / "secret.txt").write_text("not a cover")

    assert cover_path(folder, name) == folder / name
    assert cover_path(folder, f"{cover.digest}-640.jpg") is None  # well-formed, not stored
    for bad in (
        "../etc/passwd",
        "../secret.txt",
        f"../covers/{name}",
        f"{cover.digest.upper()}-300.jpg",
        f"{cover.digest}-300.jpg.exe",
        f"{cover.digest}-300.png",
        f"{cover.digest[:-1]}-300.jpg",
        "",
    ):
        assert cover_path(folder, bad) is None, bad
