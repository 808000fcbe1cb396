"""Hostile files cannot take labdb down: each bomb is built here, refused before it is decoded
with a message naming the file, what it declares and the limit, never stored as "ok", and
its raw bytes are kept when the upload itself was within the upload size. Oversized uploads
are refused while they stream, at a bounded memory cost (tracemalloc peak, not time)."""

from __future__ import annotations

import io
import re
import struct
import tracemalloc
import zipfile
import zlib

import h5py
import numpy as np
import pytest
import tifffile
from django.core.files.storage import default_storage
from django.test import Client

from characterization.enums import ParseStatus
from characterization.models import DataFile
from characterization.parsers._limits import Limits
from characterization.parsers.registry import detect_format, parse_file
from characterization.previews import preview_pixels
from characterization.services import attach_data_file
from labdb.lib.errors import ParseError
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

MIB = 1024 * 1024
DM3 = SHARED_DATA / "instruments" / "gatan_dm" / "test_STEM_image.dm3"
EMD_MESSAGE = (
    "bomb.emd: EMD (Velox/HDF5): the dataset /data/bomb/data (gzip-compressed) declares "
    "32768 × 32768 values of 1 bytes = 1074 MB once decoded, more than the 537 MB allowed per "
    "file (LABDB_MAX_EXPANDED_BYTES); it was not read"
)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def emd_bomb() -> bytes:
    """Berkeley-EMD-shaped HDF5: one gzip dataset of zeros declaring 32768² uint8 = 1 GiB."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        h5.attrs["version_major"], h5.attrs["version_minor"] = 0, 2
        group = h5.create_group("data/bomb")
        group.attrs["emd_group_type"] = 1
        ds = group.create_dataset(
            "data", shape=(32768, 32768), dtype="u1", chunks=(1024, 1024),
            compression="gzip", fillvalue=0,
        )
        ds[:1024, :1024] = 0  # one real compressed chunk; the rest is implicit zeros
    return buf.getvalue()


def tiff_bomb(side: int) -> bytes:
    """A valid zlib-tiled TIFF of ``side`` × ``side`` zero pixels (uint8), built from one
    pre-compressed 1024² tile repeated: ~1 kB per tile, 1.6 GB declared at 40000²."""
    tile = zlib.compress(bytes(1024 * 1024), 9)
    n_tiles = ((side + 1023) // 1024) ** 2
    buf = io.BytesIO()
    tifffile.imwrite(
        buf, data=(tile for _ in range(n_tiles)), shape=(side, side), dtype=np.uint8,
        tile=(1024, 1024), compression="zlib",
    )
    return buf.getvalue()


def dm3_bomb() -> bytes:
    """The real 68 × 68 DM3 STEM image with its image Dimensions tags set to 40000 × 40000."""
    data = bytearray(DM3.read_bytes())
    pos = [m.start() for m in re.finditer(b"Dimensions", data)][-1]  # the image, not thumbnail
    marker = b"%%%%\x00\x00\x00\x01\x00\x00\x00\x05"  # one uint32 value follows
    for _ in range(2):
        pos = data.index(marker, pos) + len(marker)
        assert data[pos:pos + 4] == struct.pack("<I", 68)
        data[pos:pos + 4] = struct.pack("<I", 40000)
    return bytes(data)


def brml_bomb(member_bytes: int) -> bytes:
    """A BRML-shaped ZIP whose RawData member inflates to ``member_bytes`` spaces."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("Experiment0/RawData0.xml", "w", force_zip64=True) as member:
            chunk = b" " * MIB
            for _ in range(member_bytes // MIB):
                member.write(chunk)
    return buf.getvalue()


def _refusal(data: bytes, filename: str, **kwargs) -> str:
    with pytest.raises(ParseError) as caught:
        parse_file(data, filename=filename, **kwargs)
    return caught.value.message


def _stored_failed(content: bytes, filename: str, member) -> DataFile:
    """Upload through the service: the raw bytes are kept, the parse is 'failed'."""
    sample = builders.sample(f"BOMB-{filename}", actor=member)
    data_file, created = attach_data_file(
        content=content, filename=filename, sample=sample, actor=member
    )
    assert created
    data_file.refresh_from_db()
    assert data_file.parse_status == ParseStatus.FAILED
    with default_storage.open(data_file.file.name, "rb") as handle:
        assert handle.read() == content
    return data_file


def test_emd_gzip_bomb_refused_from_the_dataset_header():
    data = emd_bomb()
    assert len(data) < 200_000
    assert _refusal(data, "bomb.emd") == EMD_MESSAGE


@pytest.mark.django_db
def test_emd_bomb_kept_raw_and_failed_with_the_limit(member):
    data_file = _stored_failed(emd_bomb(), "bomb.emd", member)
    assert data_file.parse_error == EMD_MESSAGE
    assert data_file.format == "emd"


def test_tiff_40000_squared_refused_before_decoding():
    data = tiff_bomb(40000)
    assert len(data) < 2_000_000
    assert _refusal(data, "bomb.tif") == (
        "bomb.tif: TIFF image: the image declares 40000 × 40000 values of 1 bytes = 1600 MB "
        "once decoded, more than the 537 MB allowed per file (LABDB_MAX_EXPANDED_BYTES); it "
        "was not read"
    )


def test_tiff_over_the_pixel_limit_refused():
    data = tiff_bomb(20000)  # 400 MB: under the byte cap, over 268 megapixels
    assert _refusal(data, "wide.tif") == (
        "wide.tif: TIFF image: the image declares 20000 × 20000 = 400 megapixels, more than "
        "the 268 megapixels allowed; it was not read"
    )


def test_dm3_header_with_enormous_shape_refused():
    assert _refusal(dm3_bomb(), "bomb.dm3") == (
        "bomb.dm3: Gatan DigitalMicrograph: the image 'test_STEM_image' declares 40000 × 40000 "
        "values of 4 bytes = 6400 MB once decoded, more than the 537 MB allowed per file "
        "(LABDB_MAX_EXPANDED_BYTES); it was not read"
    )


@pytest.mark.django_db
def test_brml_zip_bomb_kept_raw_and_failed(member):
    data = brml_bomb(600 * MIB)
    assert len(data) < 1_000_000
    data_file = _stored_failed(data, "bomb.brml", member)
    assert data_file.parse_error == (
        "bomb.brml: Bruker BRML: the archive would expand to 629 MB, more than the 537 MB "
        "allowed"
    )


@pytest.mark.django_db
def test_huge_text_table_refused_by_value_count(member, settings):
    settings.LABDB_MAX_TABLE_CELLS = 200_000
    rows = "".join(f"{i},{5 + (i % 7) * 0.1:.1f}\n" for i in range(150_000))
    data = ("particle,feret_nm\n" + rows).encode()
    assert detect_format(data, "sizes.csv") == "size_table"
    data_file = _stored_failed(data, "sizes.csv", member)
    assert data_file.parse_error == (
        "sizes.csv: TEM size table: the file holds 300002 values in 150002 lines, more "
        "than the 200000 values allowed per file (LABDB_MAX_TABLE_CELLS); split the export or "
        "decimate it"
    )


def test_table_under_the_value_cap_still_parses():
    data = b"particle,feret_nm\n1,5.5\n2,5.7\n3,5.6\n"
    parsed = parse_file(data, filename="sizes.csv", limits=Limits(max_cells=8))
    assert parsed.format == "size_table"


def test_image_preview_is_a_bounded_strided_view():
    pixels = np.zeros((5000, 3000), dtype=np.uint16)
    view = preview_pixels(pixels)
    assert view.shape == (1250, 750)  # step 4: 937 500 pixels ≤ 1 048 576
    assert np.shares_memory(view, pixels)
    assert preview_pixels(np.zeros((3, 200, 100))).shape == (200, 100)


def _multipart_on_disk(path, field: str, filename: str, n_mib: int) -> tuple[str, int]:
    """Write a multipart body with one ``n_mib`` MiB file to ``path``; (content type, size)."""
    boundary = "labdbBombBoundary7MA4YWxk"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    with open(path, "wb") as out:
        out.write(head)
        chunk = b"0 " * (MIB // 2)
        for _ in range(n_mib):
            out.write(chunk)
        out.write(f"\r\n--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", path.stat().st_size


def _post_streamed(client, url, path, content_type, size, **headers):
    """POST the body from disk (never whole in memory); (response, tracemalloc peak bytes).

    A first small request imports the URLconf and views, so the peak is the upload's own."""
    client.post(url, {})
    stream = {"wsgi.input": None, "CONTENT_LENGTH": str(size), "CONTENT_TYPE": content_type}
    with open(path, "rb") as body:
        stream["wsgi.input"] = body
        tracemalloc.start()
        try:
            response = client.generic("POST", url, content_type=content_type, **stream, **headers)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return response, peak


TOO_LARGE = (
    "file: huge.xrdml is larger than the upload limit of 4 MB (LABDB_MAX_UPLOAD_BYTES); it was "
    "not stored. Split or compress the export."
)


@pytest.mark.django_db
def test_api_upload_over_the_limit_refused_while_streaming(api, settings, tmp_path):
    settings.LABDB_MAX_UPLOAD_BYTES = 4 * MIB
    content_type, size = _multipart_on_disk(tmp_path / "body", "file", "huge.xrdml", 48)
    response, peak = _post_streamed(api, "/api/files/", tmp_path / "body", content_type, size)
    assert response.status_code == 413, response.content
    assert response.json() == {"error": "DomainError", "message": TOO_LARGE, "field": "file"}
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB for a {size / MIB:.0f} MiB upload"
    assert not DataFile.objects.exists()


@pytest.mark.django_db
def test_web_upload_over_the_limit_reported_per_file(member, settings, tmp_path):
    settings.LABDB_MAX_UPLOAD_BYTES = 4 * MIB
    sample = builders.sample("BOMB-WEB", actor=member)
    client = Client()
    client.force_login(member)
    content_type, size = _multipart_on_disk(tmp_path / "body", "files", "huge.xrdml", 24)
    response, peak = _post_streamed(
        client, f"/samples/{sample.pk}/files/", tmp_path / "body", content_type, size,
        headers={"X-Requested-With": "fetch"},
    )
    assert response.status_code == 200
    assert TOO_LARGE in response.content.decode()
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB for a {size / MIB:.0f} MiB upload"
    assert not DataFile.objects.exists()
