"""Byte counts as people read them, for every limit message (uploads, fetched pages, files)."""

from __future__ import annotations

KB = 1024
MB = 1024 * KB


def human_size(n: int) -> str:
    """'5 MB', '1.9 MB', '512 KB', '80 bytes' (binary units, as the limits are set: 5 MB is 5 × 1024²)."""
    for unit, scale in (("MB", MB), ("KB", KB)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"
