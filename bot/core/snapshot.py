"""The index snapshot beside the store (``<db>.index/snapshot.npz``): a dated copy of the in-memory index.

One .npz file of named arrays plus a stamp (JSON in the ``meta`` array): the file format, the store's random
id, the analysis version of the terms, and ``seq``, the change-log entry the copy reflects. Written to a
temporary file, fsynced and renamed into place under a file lock, so a reader sees the old file or the new one,
whole, and a process that is behind never replaces a later copy.

The arrays are stored uncompressed, each starting on a 64-byte boundary, so that a reader maps the file into
memory (``mmap``) instead of reading it: opening costs no copy, and only the pages a question touches (the
postings of its words) become resident, which the kernel can drop again under memory pressure. A replaced
snapshot stays readable by processes that still map it (the renamed-over file lives on until unmapped). The
file is still an ordinary .npz (``np.load`` reads it), and its CRCs are checked before it is used.
"""

from __future__ import annotations

import ast
import io
import json
import math
import mmap
import os
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core import locks

if TYPE_CHECKING:  # numpy is imported where arrays are handled: reading a stamp (health) does without it
    import numpy as np

FORMAT = 4  # 4: arrays aligned for mapping, narrower dtypes (see BM25Index.from_arrays)
FILE_NAME = "snapshot.npz"
IDENTITY = ("format", "store_id", "analysis")  # a snapshot is usable only where all three match
_FIRST_FORMAT_FILES = ("meta.json", "meta.json.tmp", "sentences.npz", "articles.npz")


def path_for(db: Path) -> Path:
    return db.with_name(db.name + ".index") / FILE_NAME


def identity(stamp: dict[str, Any]) -> dict[str, Any]:
    return {key: stamp.get(key) for key in IDENTITY}


def _npy_bytes(raw: bytes) -> bytes:
    """The data of a one-dimensional uint8 .npy array (the stamp), read without numpy: `citebot health` reads
    stamps and should not pay for importing numpy. Raises ValueError on anything else."""
    if raw[:6] != b"\x93NUMPY":
        raise ValueError("not a .npy array")
    size_format, start = ("<H", 10) if raw[6] == 1 else ("<I", 12)
    (header_length,) = struct.unpack(size_format, raw[8:start])
    header = ast.literal_eval(raw[start : start + header_length].decode("latin-1"))
    if not isinstance(header, dict) or header.get("descr") not in ("|u1", "<u1") or header.get("fortran_order"):
        raise ValueError(f"the stamp is not a byte array: {header!r}")
    if not (isinstance(header.get("shape"), tuple) and len(header["shape"]) == 1):
        raise ValueError(f"the stamp is not a byte array: {header!r}")
    data = raw[start + header_length :]
    if len(data) != header["shape"][0]:
        raise ValueError("the stamp is truncated")
    return data


class ForeignSnapshot(ValueError):
    """A whole snapshot, but not this store's, or not for this code: expected after a store is made anew beside an
    old snapshot folder, or an upgrade; ``str()`` says which, for a host to read."""

    def __init__(self, found: dict[str, Any], expected: dict[str, Any]) -> None:
        if found.get("store_id") != expected.get("store_id"):
            why = "it was made for another store: this one was made anew or replaced since"
        elif found.get("analysis") != expected.get("analysis"):
            why = "it was made with another citebot version's tokeniser"
        else:
            why = f"it is in snapshot format {found.get('format')}, this citebot reads {expected.get('format')}"
        super().__init__(why)


def read_stamp(path: Path) -> dict[str, Any]:
    """The stamp alone (a few bytes of the file). Raises OSError, ValueError or zipfile.BadZipFile."""
    with zipfile.ZipFile(path) as archive:
        stamp = json.loads(_npy_bytes(archive.read("meta.npy")).decode("utf-8"))
    if not isinstance(stamp, dict) or not isinstance(stamp.get("seq"), int):
        raise ValueError("not a snapshot stamp")
    return stamp


def read(path: Path, expected: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The stamp and the arrays, read-only views of the file mapped into memory; ValueError when the stamp's
    identity is not ``expected``, zipfile.BadZipFile when a CRC or the layout is wrong."""
    stamp = read_stamp(path)
    if (found := identity(stamp)) != expected:
        raise ForeignSnapshot(found, expected)
    with path.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        damaged = archive.testzip()  # reads through the page cache: the CRCs, without making the pages ours
        if damaged is not None:
            raise zipfile.BadZipFile(f"{damaged}: CRC mismatch")
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mmap, "MADV_RANDOM"):  # questions read a few postings here and there: no read-ahead
            mapped.madvise(mmap.MADV_RANDOM)
        arrays = {
            info.filename.removesuffix(".npy"): _mapped_array(mapped, info)
            for info in archive.infolist()
            if info.filename != "meta.npy"
        }
    return stamp, arrays


def release(arrays: dict[str, np.ndarray]) -> None:
    """Drop the mapped pages a check read from this process's resident set (they stay in the page cache and
    come back on the next touch): a load that validated its arrays does not keep them all resident."""
    import numpy as np

    seen: set[int] = set()
    for array in arrays.values():
        base = array.base
        while isinstance(base, np.ndarray):
            base = base.base
        if isinstance(base, mmap.mmap) and id(base) not in seen and hasattr(mmap, "MADV_DONTNEED"):
            seen.add(id(base))
            base.madvise(mmap.MADV_DONTNEED)


def _mapped_array(mapped: mmap.mmap, info: zipfile.ZipInfo) -> np.ndarray:
    """One stored .npy member as an array over the mapping (no copy)."""
    import numpy as np

    if info.compress_type != zipfile.ZIP_STORED:
        raise zipfile.BadZipFile(f"{info.filename} is compressed")
    local = mapped[info.header_offset : info.header_offset + _LOCAL_HEADER]
    if len(local) < _LOCAL_HEADER or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"{info.filename}: no local header")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    start = info.header_offset + _LOCAL_HEADER + name_length + extra_length
    end = start + info.file_size
    if end > len(mapped):
        raise zipfile.BadZipFile(f"{info.filename} runs past the end of the file")
    header = io.BytesIO(mapped[start : min(end, start + 65536)])
    version = np.lib.format.read_magic(header)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(header)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(header)
    if dtype.hasobject:
        raise ValueError(f"{info.filename} holds Python objects")
    offset = start + header.tell()
    if offset + math.prod(shape) * dtype.itemsize > end:
        raise zipfile.BadZipFile(f"{info.filename} is shorter than its shape")
    return np.ndarray(shape, dtype, buffer=mapped, offset=offset, order="F" if fortran else "C")


_LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field
_ALIGN = 64
_PADDING_FIELD = 0x6361  # an extra-field id zip readers skip: it only pads the data to _ALIGN


def _write_npz(handle: io.BufferedWriter, arrays: dict[str, Any]) -> None:
    """``np.savez`` with every array's data starting at a multiple of _ALIGN bytes in the file, so a reader
    can map it with aligned, zero-copy views."""
    import numpy as np

    with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            array = np.ascontiguousarray(value)
            header = io.BytesIO()
            np.lib.format.write_array_header_2_0(header, np.lib.format.header_data_from_array_1_0(array))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = len(header.getvalue()) + array.nbytes
            zip64 = info.file_size * 1.05 > zipfile.ZIP64_LIMIT  # as zipfile decides
            before_data = archive.start_dir + _LOCAL_HEADER + len(info.filename.encode()) + (20 if zip64 else 0)
            pad = -(before_data + 4 + len(header.getvalue())) % _ALIGN
            info.extra = struct.pack("<HH", _PADDING_FIELD, pad) + bytes(pad)
            with archive.open(info, "w") as member:
                member.write(header.getvalue())
                member.write(array.data.cast("B"))


def write(path: Path, arrays: dict[str, Any], stamp: dict[str, Any]) -> bool:
    """Replace the snapshot unless it already holds this state or a later one; returns whether it wrote."""
    import numpy as np

    path.parent.mkdir(exist_ok=True)
    with locks.exclusive(path.parent / "lock"):
        try:
            current = read_stamp(path)
            if identity(current) == identity(stamp) and current["seq"] >= stamp["seq"]:
                return False
        except Exception:  # missing or unreadable: replaced below
            pass
        for stale in path.parent.glob(f"{FILE_NAME}.*.tmp"):  # left by a writer that was killed
            stale.unlink(missing_ok=True)
        for old in _FIRST_FORMAT_FILES:
            (path.parent / old).unlink(missing_ok=True)
        tmp = path.with_name(f"{FILE_NAME}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as handle:
                meta = np.frombuffer(json.dumps(stamp).encode("utf-8"), dtype=np.uint8)
                _write_npz(handle, {"meta": meta, **arrays})
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a part written to a full disk would keep it full (hundreds of MB at 1M)
            raise
    return True
