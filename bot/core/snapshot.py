"""The index snapshot beside the store (``<db>.index/snapshot.npz``): a dated copy of the in-memory index.

One .npz file of named arrays plus a stamp (JSON in the ``meta`` array): the file format, the store's random
id, the analysis version of the terms, and ``seq``, the change-log entry the copy reflects. Written to a
temporary file, fsynced and renamed into place under a file lock, so a reader sees the old file or the new one,
whole, and a process that is behind never replaces a later copy.
"""

from __future__ import annotations

import ast
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core import locks

if TYPE_CHECKING:
    import numpy as np

FORMAT = 3
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


def read_stamp(path: Path) -> dict[str, Any]:
    """The stamp alone (a few bytes of the file). Raises OSError, ValueError or zipfile.BadZipFile."""
    with zipfile.ZipFile(path) as archive:
        stamp = json.loads(_npy_bytes(archive.read("meta.npy")).decode("utf-8"))
    if not isinstance(stamp, dict) or not isinstance(stamp.get("seq"), int):
        raise ValueError("not a snapshot stamp")
    return stamp


def read(path: Path, expected: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The stamp and the arrays; ValueError when the stamp's identity is not ``expected``."""
    import numpy as np

    stamp = read_stamp(path)
    if identity(stamp) != expected:
        raise ValueError(f"stamped {identity(stamp)}, this store and code need {expected}")
    with np.load(path, allow_pickle=False) as data:
        return stamp, {name: data[name] for name in data.files if name != "meta"}


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
        with tmp.open("wb") as handle:
            meta = np.frombuffer(json.dumps(stamp).encode("utf-8"), dtype=np.uint8)
            np.savez(handle, meta=meta, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    return True
