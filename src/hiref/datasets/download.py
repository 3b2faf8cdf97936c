"""Verified, resumable retrieval of the raw data files.

Why pooch plus a thin wrapper: pooch (the downloader used by SciPy and scikit-image)
streams HTTP(S)/FTP/SFTP/DOI transfers with a tqdm progress bar and hashes files in
chunks, so we do not re-implement either. It does not resume interrupted transfers,
does not read ``file://`` URLs (needed for mirrors on shared disks and for our offline
tests) and only compares full digests, while torchvision publishes its weights with the
first 8 hex digits of the SHA-256 in the file name. This module adds exactly those three
things. ``snakemake-storage-plugin-http`` was not chosen: it verifies no checksum, so we
would still need this code, plus a second plugin for local mirrors.

The protocol of :func:`fetch`:

1. bytes are appended to ``<dest>.part``; an existing ``.part`` from an interrupted run
   is resumed (HTTP ``Range`` when the server accepts it, a seek for local files) only when
   a checksum is configured: without one nothing could tell a stale or unrelated ``.part``
   from the start of the right file, so the transfer restarts from byte 0 and the SHA-256
   logged "to pin" is always that of one complete, fresh transfer;
2. the finished ``.part`` is hashed and compared with the expected checksum; on a
   mismatch it is deleted and :class:`ChecksumError` names the file, the expected and
   the actual digest (a truncated transfer shows up here too);
3. only a verified file is renamed to ``dest`` (``os.replace``, atomic on one file
   system), so ``dest`` never holds partial or corrupt data.
"""

from __future__ import annotations

import logging
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pooch
from tqdm import tqdm

log = logging.getLogger(__name__)

#: Hex length of a full digest for the algorithms a checksum may name.
DIGEST_LENGTHS = {"sha256": 64, "md5": 32, "sha1": 40, "sha512": 128}
#: Shortest accepted digest prefix (torchvision file names carry 8 hex digits).
MIN_PREFIX = 8
CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A file's digest differs from the one given in the configuration."""


class DownloadError(RuntimeError):
    """A source could not be read (missing local file, HTTP error, ...)."""


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split ``"alg:hex"`` (or a bare SHA-256 hex) into ``(alg, hex)``.

    A hex string shorter than the algorithm's full digest is a prefix (at least
    :data:`MIN_PREFIX` digits), as in torchvision's ``resnet50-0676ba61.pth``.
    """
    alg, _, digest = checksum.rpartition(":")
    alg = (alg or "sha256").lower()
    digest = digest.strip().lower()
    if alg not in DIGEST_LENGTHS:
        raise ValueError(
            f"checksum {checksum!r}: unknown algorithm {alg!r}; use one of {sorted(DIGEST_LENGTHS)}"
        )
    if not digest or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"checksum {checksum!r}: the digest must be hexadecimal")
    if not MIN_PREFIX <= len(digest) <= DIGEST_LENGTHS[alg]:
        raise ValueError(
            f"checksum {checksum!r}: {alg} digests have {DIGEST_LENGTHS[alg]} hex digits "
            f"(a prefix of at least {MIN_PREFIX} is accepted), got {len(digest)}"
        )
    return alg, digest


def torchvision_checksum(filename: str) -> str:
    """The SHA-256 prefix that torchvision puts in weight file names: ``name-<hex8>.pth``."""
    stem = Path(filename).name.split(".")[0]
    prefix = stem.rpartition("-")[2]
    parse_checksum(prefix)  # validates: hexadecimal, long enough
    return f"sha256:{prefix}"


def verify_checksum(
    path: str | os.PathLike, checksum: str, *, name: str | os.PathLike | None = None
) -> str:
    """Hash ``path``; raise :class:`ChecksumError` naming ``name`` (default ``path``) on a mismatch.

    Returns the full hex digest.
    """
    alg, expected = parse_checksum(checksum)
    actual = pooch.file_hash(str(path), alg=alg)
    if not actual.startswith(expected):
        size = Path(path).stat().st_size
        raise ChecksumError(
            f"{name or path}: {alg} checksum mismatch: expected {expected}"
            f"{'... (prefix)' if len(expected) < len(actual) else ''}, actual {actual} "
            f"({size} bytes). The file is corrupt or truncated, or the configured "
            "checksum belongs to another version of the file."
        )
    return actual


def local_source(url: str) -> Path | None:
    """The local path of a ``file://`` URL or plain path; ``None`` for remote URLs."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and sys.platform == "win32"):
        return Path(url)
    return None


def _copy_local(src: Path, out, offset: int, progress: bool) -> None:
    """Stream ``src`` from byte ``offset`` into the open binary file ``out``."""
    if not src.is_file():
        raise DownloadError(f"{src}: local source file does not exist")
    total = src.stat().st_size
    with (
        open(src, "rb") as fin,
        tqdm(
            total=total,
            initial=min(offset, total),
            unit="B",
            unit_scale=True,
            disable=not progress,
            desc=src.name,
            file=sys.stderr,
        ) as bar,
    ):
        fin.seek(offset)
        while chunk := fin.read(CHUNK):
            out.write(chunk)
            bar.update(len(chunk))


def _resume_offset(url: str, offset: int) -> int:
    """Keep ``offset`` only if the HTTP server accepts byte ranges; else restart at 0."""
    if offset == 0 or not url.startswith(("http://", "https://")):
        return 0
    import requests  # pooch's own dependency

    head = requests.head(url, allow_redirects=True, timeout=30)
    if head.ok and head.headers.get("Accept-Ranges", "").lower() == "bytes":
        return offset
    return 0


def _download_remote(url: str, out, offset: int, progress: bool) -> None:
    """Stream a remote URL through pooch's downloader for its protocol."""
    if offset:
        downloader = pooch.HTTPDownloader(
            progressbar=progress, headers={"Range": f"bytes={offset}-"}
        )
    else:
        downloader = pooch.downloaders.choose_downloader(url, progressbar=progress)
    downloader(url, out, None)


def fetch(
    url: str, dest: str | os.PathLike, checksum: str | None, *, progress: bool = True
) -> Path:
    """Retrieve ``url`` (http(s)/ftp/``file://``/plain path) to ``dest``, verified and atomically.

    ``checksum`` is ``"sha256:<hex>"``, ``"md5:<hex>"``, a bare SHA-256 hex, or a prefix of
    one (see :func:`parse_checksum`). ``None`` skips verification and logs the SHA-256 to
    pin in the configuration (use it only for files whose publisher gives no digest); an
    interrupted transfer is then restarted, never resumed.
    """
    dest = Path(dest)
    if checksum is not None:
        parse_checksum(checksum)  # reject a malformed checksum before transferring anything
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() and checksum is not None else 0
    src = local_source(url)
    if src is None:
        offset = _resume_offset(url, offset)
    if offset:
        log.info("resuming %s at byte %d", part, offset)
    try:
        with open(part, "ab" if offset else "wb") as out:
            if src is not None:
                _copy_local(src, out, offset, progress)
            else:
                _download_remote(url, out, offset, progress)
    except DownloadError:
        raise
    except Exception as err:  # network and HTTP errors: keep .part for a later resume
        raise DownloadError(f"{dest}: could not retrieve {url}: {err}") from err
    if checksum is None:
        digest = pooch.file_hash(str(part), alg="sha256")
        log.warning("%s: no checksum configured; sha256 is %s (pin it in the config)", dest, digest)
    else:
        try:
            verify_checksum(part, checksum, name=f"{dest} (from {url})")
        except ChecksumError:
            part.unlink()  # a corrupt file must not be resumed
            raise
    os.replace(part, dest)
    return dest
