"""Where an MP4's samples end, read from its sample tables without touching the media data.

A download cut short still opens (with ``+faststart`` the ``moov`` index sits at the front), so proving a
file whole means checking that every sample the index lists lies inside the file. The index says it
exactly: per track, ``stco``/``co64`` give chunk offsets, ``stsc`` how many samples each chunk holds and
``stsz`` each sample's size. Reading those few kilobytes is O(1) in the file's size and keeps memory
flat, where demuxing every packet of a 1 GB video takes a second and tens of megabytes of heap.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}
MAX_TABLE_BYTES = 64 * 1024 * 1024


class Mp4TableError(ValueError):
    pass


@dataclass(frozen=True)
class TrackExtent:
    track: int
    samples: int
    end: int  # offset one past the last byte of the track's last sample


def _boxes(fh: BinaryIO, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload offset, payload end) of each box in [start, end)."""
    out = []
    pos = start
    while pos + 8 <= end:
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            break
        size, kind = struct.unpack(">I4s", head)
        header = 8
        if size == 1:
            big = fh.read(8)
            if len(big) < 8:
                raise Mp4TableError(f"box {kind!r} header is cut at byte {pos}")
            size = struct.unpack(">Q", big)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise Mp4TableError(f"box {kind!r} at byte {pos} has an impossible size {size}")
        out.append((kind, pos + header, pos + size))
        pos += size
    return out


def _read(fh: BinaryIO, start: int, end: int) -> bytes:
    if end - start > MAX_TABLE_BYTES:
        raise Mp4TableError("sample table is implausibly large")
    fh.seek(start)
    data = fh.read(end - start)
    if len(data) != end - start:
        raise Mp4TableError("sample table is cut short")
    return data


def _track_extent(fh: BinaryIO, index: int, stbl: tuple[int, int]) -> TrackExtent:
    tables = {kind: (s, e) for kind, s, e in _boxes(fh, *stbl)}
    if b"stsz" not in tables or b"stsc" not in tables or not ({b"stco", b"co64"} & tables.keys()):
        raise Mp4TableError(f"track {index} has no sample table")
    stsz = _read(fh, *tables[b"stsz"])
    fixed, count = struct.unpack(">II", stsz[4:12])
    sizes = [fixed] * count if fixed else list(struct.unpack(f">{count}I", stsz[12 : 12 + 4 * count]))
    if len(sizes) != count:
        raise Mp4TableError(f"track {index}: stsz is cut short")
    if b"co64" in tables:
        co = _read(fh, *tables[b"co64"])
        n = struct.unpack(">I", co[4:8])[0]
        offsets = list(struct.unpack(f">{n}Q", co[8 : 8 + 8 * n]))
    else:
        co = _read(fh, *tables[b"stco"])
        n = struct.unpack(">I", co[4:8])[0]
        offsets = list(struct.unpack(f">{n}I", co[8 : 8 + 4 * n]))
    stsc = _read(fh, *tables[b"stsc"])
    m = struct.unpack(">I", stsc[4:8])[0]
    runs = [struct.unpack(">III", stsc[8 + 12 * i : 20 + 12 * i])[:2] for i in range(m)]
    end = 0
    sample = 0
    for r, (first_chunk, per_chunk) in enumerate(runs):
        last_chunk = runs[r + 1][0] - 1 if r + 1 < len(runs) else len(offsets)
        for chunk in range(first_chunk, last_chunk + 1):
            if chunk - 1 >= len(offsets) or sample >= count:
                break
            take = sizes[sample : sample + per_chunk]
            end = max(end, offsets[chunk - 1] + sum(take))
            sample += len(take)
    if sample != count:
        raise Mp4TableError(f"track {index}: chunk table covers {sample} of {count} samples")
    return TrackExtent(index, count, end)


def sample_extents(path: str | os.PathLike[str]) -> list[TrackExtent]:
    """Per track: sample count and where its data ends. Raises :class:`Mp4TableError` if unreadable."""
    size = os.stat(path).st_size
    with open(path, "rb") as fh:
        top = _boxes(fh, 0, size)
        moov = next(((s, e) for kind, s, e in top if kind == b"moov"), None)
        if moov is None:
            raise Mp4TableError("no moov box (index missing: the file is cut short or not an MP4)")
        if moov[1] > size:
            raise Mp4TableError("moov box is cut short")
        extents = []
        for i, (_kind, s, e) in enumerate(k for k in _boxes(fh, *moov) if k[0] == b"trak"):
            stbl = _find(fh, (s, e), [b"mdia", b"minf", b"stbl"])
            if stbl is not None:
                extents.append(_track_extent(fh, i, stbl))
        if not extents:
            raise Mp4TableError("no tracks with samples")
        return extents


def _find(fh: BinaryIO, span: tuple[int, int], path: list[bytes]) -> tuple[int, int] | None:
    for kind, s, e in _boxes(fh, *span):
        if kind == path[0]:
            return (s, e) if len(path) == 1 else _find(fh, (s, e), path[1:])
    return None
