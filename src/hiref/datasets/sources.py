"""Checks of the real-data sources, made once when the workflow is parsed, before any job:
local copies that a key names but that are missing, stand-in files offered as real data,
and, with stand-ins on, anything a stand-in would overwrite. rules/data_common.smk gathers
every problem into one message (:func:`problems_message`).

These run in Snakemake's own process, which has every package; the readers in the jobs
check the same markers again (:mod:`hiref.datasets.stand_ins.markers`).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

from hiref.datasets.stand_ins.markers import (
    GZIP_MAGIC,
    SWITCH,
    gzip_comment,
    h5_marker,
    meta_marker,
    parse_marker_text,
)

_HDF5_MAGIC, _JPEG_MAGIC, _ZIP_MAGICS = b"\x89HDF\r\n\x1a\n", b"\xff\xd8\xff", (b"PK\x03\x04",
                                                                             b"PK\x05\x06")


def read_marker(path: str | os.PathLike) -> dict | None:
    """The stand-in marker of any file a generator writes (h5ad, gzip, zip, npz, JPEG), found
    by the file's first bytes; ``None`` for a file without one (real data) or an unreadable
    one (its reader reports it, named, when its job runs)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
            fh.seek(0)
            if magic[:2] == GZIP_MAGIC:
                return parse_marker_text(gzip_comment(fh))
        if magic == _HDF5_MAGIC:
            import h5py

            with h5py.File(path, "r") as f:
                return h5_marker(f)
        if magic[:4] in _ZIP_MAGICS:
            return _zip_marker(path)
        if magic[:3] == _JPEG_MAGIC:
            from PIL import Image

            with Image.open(path) as img:
                return parse_marker_text(img.info.get("comment"))
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return None


def _zip_marker(path: Path) -> dict | None:
    """An npz's ``meta`` marker, or a zip's comment marker."""
    import numpy as np

    with zipfile.ZipFile(path) as zf:
        if "meta.npy" not in zf.namelist():
            return parse_marker_text(zf.comment)
        with zf.open("meta.npy") as member:
            meta = np.lib.format.read_array(member, allow_pickle=False)
    try:
        return meta_marker(json.loads(str(meta)))
    except json.JSONDecodeError:
        return None


def first_image(folder: Path) -> Path | None:
    """The first JPEG of a folder in sorted order (enough to tell a stand-in folder)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith((".jpg", ".jpeg")) and not name.startswith("."):
                return Path(root, name)
    return None


def local_problems(sources: dict[str, Iterable[str | os.PathLike]]) -> list[str]:
    """Problems of local copies in real mode: ``sources`` maps a configuration key to the
    files (or folders) it makes the workflow read. A missing one, or a stand-in, is a
    problem naming the key."""
    problems = []
    for key, paths in sources.items():
        for path in map(Path, paths):
            if not path.exists():
                problems.append(f"{key}: {path} does not exist")
                continue
            probe = first_image(path) if path.is_dir() else path
            if probe is not None and read_marker(probe) is not None:
                problems.append(
                    f"{key}: {path} is stand-in data, not the real data; stand-ins are read "
                    f"only with {SWITCH}: true (and then from data.stand_in_data.dir)"
                )
    return problems


def stand_in_problems(generated: Iterable[str | os.PathLike],
                      real: Iterable[str | os.PathLike],
                      prepared: Iterable[str | os.PathLike]) -> list[str]:
    """Problems of a stand-in run: a generated path that is also a real-data path (the
    stand-in folder must be its own), an existing unmarked file where a stand-in would be
    written, and prepared datasets in this working directory made from real data (stand-in
    runs would replace them and their run records)."""
    real = {Path(p).resolve() for p in real}
    problems = []
    for path in map(Path, generated):
        if path.resolve() in real:
            problems.append(
                f"{path}: the stand-in generator would write the real data's own file; give "
                "data.stand_in_data.dir a folder of its own"
            )
        elif path.exists() and read_marker(path) is None:
            problems.append(
                f"{path}: exists and is not stand-in data; the stand-in generator never "
                "replaces it: move it, or give data.stand_in_data.dir another folder"
            )
    for path in map(Path, prepared):
        if path.exists() and read_marker(path) is None:
            problems.append(
                f"{path}: was prepared from real data; a stand-in run would replace it and the "
                "runs made from it: run stand-ins in another working directory "
                "(snakemake -d <folder>, docs/stand-ins.md)"
            )
    return problems


def problems_message(problems: list[str]) -> str:
    """The one message for every problem found before any job."""
    return ("the real-data experiments cannot start (nothing has run):\n"
            + "\n".join(f"  - {p}" for p in problems)
            + f"\nEach dataset is downloaded when its local key is null (docs/datasets.md), "
              f"or generated as a stand-in with {SWITCH}: true (docs/stand-ins.md).")
