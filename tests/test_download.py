"""Retrieval: file:// and loopback-HTTP sources, checksums, truncation, resume."""

from __future__ import annotations

import hashlib
import http.server
import logging
import threading
from functools import partial
from pathlib import Path

import pytest

from hiref.datasets.download import (
    ChecksumError,
    DownloadError,
    fetch,
    parse_checksum,
    torchvision_checksum,
    verify_checksum,
)

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # ~1 MB, crosses several copy chunks


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src" / "archive.zip"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


def test_file_url_is_copied_verified_and_renamed(source, tmp_path):
    dest = tmp_path / "out" / "archive.zip"
    assert fetch(source.as_uri(), dest, f"sha256:{sha256(PAYLOAD)}", progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("archive.zip.part").exists()


def test_plain_path_and_md5_checksum(source, tmp_path):
    dest = tmp_path / "archive.zip"
    fetch(str(source), dest, f"md5:{hashlib.md5(PAYLOAD).hexdigest()}", progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_mismatch_names_file_expected_and_actual(source, tmp_path):
    dest = tmp_path / "archive.zip"
    wrong = sha256(b"something else")
    with pytest.raises(ChecksumError) as err:
        fetch(source.as_uri(), dest, wrong, progress=False)
    msg = str(err.value)
    assert str(dest) in msg and wrong in msg and sha256(PAYLOAD) in msg
    assert not dest.exists() and not dest.with_name("archive.zip.part").exists()


def test_truncated_source_fails_with_checksum_error(source, tmp_path):
    source.write_bytes(PAYLOAD[: len(PAYLOAD) // 3])
    dest = tmp_path / "archive.zip"
    with pytest.raises(
        ChecksumError, match=r"archive\.zip.*checksum mismatch.*expected " + sha256(PAYLOAD)
    ):
        fetch(source.as_uri(), dest, sha256(PAYLOAD), progress=False)
    assert not dest.exists()


def test_interrupted_transfer_resumes_from_part_file(source, tmp_path):
    dest = tmp_path / "archive.zip"
    half = len(PAYLOAD) // 2
    dest.with_name("archive.zip.part").write_bytes(PAYLOAD[:half])
    # Spoil the source's first half: only a transfer that resumes at `half` verifies.
    source.write_bytes(b"\0" * half + PAYLOAD[half:])
    fetch(source.as_uri(), dest, sha256(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_torchvision_prefix_checksum(tmp_path):
    weights = b"fake state dict bytes"
    name = f"resnet50-{sha256(weights)[:8]}.pth"
    src = tmp_path / name
    src.write_bytes(weights)
    checksum = torchvision_checksum(name)
    assert checksum == f"sha256:{sha256(weights)[:8]}"
    fetch(src.as_uri(), tmp_path / "w" / name, checksum, progress=False)
    with pytest.raises(
        ChecksumError, match=r"expected 0676ba61\.\.\. \(prefix\), actual " + sha256(weights)
    ):
        verify_checksum(src, torchvision_checksum("resnet50-0676ba61.pth"))


@pytest.mark.parametrize(
    ("checksum", "problem"),
    [
        ("abc", "at least 8"),
        ("sha256:xyz12345", "hexadecimal"),
        ("crc32:0676ba61", "unknown algorithm"),
        ("md5:" + "0" * 40, "32 hex"),
    ],
)
def test_malformed_checksum_rejected_before_transfer(source, tmp_path, checksum, problem):
    with pytest.raises(ValueError, match=problem):
        fetch(source.as_uri(), tmp_path / "x", checksum, progress=False)
    assert not (tmp_path / "x.part").exists()
    assert parse_checksum("0676BA61") == ("sha256", "0676ba61")


def test_missing_local_source_is_named(tmp_path):
    missing = tmp_path / "nowhere.h5ad"
    with pytest.raises(DownloadError, match="nowhere.h5ad: local source file does not exist"):
        fetch(missing.as_uri(), tmp_path / "dest.h5ad", None, progress=False)


def test_no_checksum_logs_digest_to_pin(source, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="hiref.datasets.download"):
        fetch(source.as_uri(), tmp_path / "a.zip", None, progress=False)
    assert sha256(PAYLOAD) in caplog.text


def test_no_checksum_restarts_a_stale_part_file(source, tmp_path, caplog):
    """Without a checksum nothing can vouch for an old `.part` (another file, another
    version): the transfer starts over, and the digest offered "to pin" is the fresh file's."""
    dest = tmp_path / "a.zip"
    dest.with_name("a.zip.part").write_bytes(b"an unrelated, stale partial file" * 1000)
    with caplog.at_level(logging.INFO, logger="hiref.datasets.download"):
        fetch(source.as_uri(), dest, None, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert sha256(PAYLOAD) in caplog.text and "resuming" not in caplog.text


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP byte ranges (``Range: bytes=N-``), as CDNs do."""

    def log_message(self, *args):
        pass

    def end_headers(self):
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def do_GET(self):
        requested = self.headers.get("Range")
        if not requested:
            return super().do_GET()
        data = Path(self.translate_path(self.path)).read_bytes()
        start = int(requested.split("=")[1].rstrip("-"))
        self.send_response(206)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(data[start:])


def serve(directory, handler):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(directory))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("ranges", [True, False])
def test_http_download_with_and_without_range_support(source, tmp_path, ranges):
    class Plain(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = serve(source.parent, RangeHandler if ranges else Plain)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/archive.zip"
        dest = tmp_path / "archive.zip"
        half = len(PAYLOAD) // 2
        if ranges:  # the server's first half is spoilt: only a resumed transfer verifies
            dest.with_name("archive.zip.part").write_bytes(PAYLOAD[:half])
            source.write_bytes(b"\0" * half + PAYLOAD[half:])
        else:  # no range support: the stale .part must be discarded, not appended to
            dest.with_name("archive.zip.part").write_bytes(b"garbage")
        fetch(url, dest, sha256(PAYLOAD), progress=False)
        assert dest.read_bytes() == PAYLOAD
        with pytest.raises(DownloadError, match="missing.zip: could not retrieve"):
            fetch(url.replace("archive", "missing"), tmp_path / "missing.zip", None, progress=False)
    finally:
        server.shutdown()
