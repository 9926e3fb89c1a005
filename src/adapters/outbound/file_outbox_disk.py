"""Blocking file work of the file outbox (run in a worker thread), and the in-memory index
of one segment file.

Nothing here touches the event loop: ``FileOutbox`` calls these through
``asyncio.to_thread``.
"""
from __future__ import annotations

import bisect
import fcntl
import os
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from adapters.outbound.file_outbox_codec import (
    decode_ack_line,
    encode_acks,
    encode_next,
    id_ranges,
    record_header,
)

SEGMENT_PATTERN = re.compile(r"^seg-(\d{20})\.jsonl$")
ACK_LOG = "acks.jsonl"
LOCK_FILE = "lock"


def segment_name(first_id: int) -> str:
    return f"seg-{first_id:020d}.jsonl"


class Segment:
    """One segment file and an index of its records: parallel arrays (about 30 bytes a
    record), so a full outbox does not hold its events in memory.

    ``head`` is the first record not acknowledged; ``pending`` counts those not
    acknowledged. ``size`` is the file's length in bytes up to the last record written.
    """

    __slots__ = ("path", "first_id", "size", "ids", "offsets", "lengths", "at_ms", "acked",
                 "head", "pending")

    def __init__(self, path: Path, first_id: int) -> None:
        self.path = path
        self.first_id = first_id
        self.size = 0
        self.ids = array("q")
        self.offsets = array("q")
        self.lengths = array("q")
        self.at_ms = array("q")
        self.acked = bytearray()
        self.head = 0
        self.pending = 0

    def add(self, item_id: int, offset: int, length: int, at_ms: int) -> None:
        self.ids.append(item_id)
        self.offsets.append(offset)
        self.lengths.append(length)
        self.at_ms.append(at_ms)
        self.acked.append(0)
        self.pending += 1

    def index_of(self, item_id: int) -> int | None:
        index = bisect.bisect_left(self.ids, item_id)
        return index if index < len(self.ids) and self.ids[index] == item_id else None

    def mark_acked(self, index: int) -> bool:
        """Acknowledge record ``index``; ``False`` if it already was."""
        if self.acked[index]:
            return False
        self.acked[index] = 1
        self.pending -= 1
        while self.head < len(self.acked) and self.acked[self.head]:
            self.head += 1
        return True

    def acked_ids(self) -> list[int]:
        return [self.ids[i] for i, done in enumerate(self.acked) if done]


# --- small durable primitives -------------------------------------------------------

def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_directory(directory: Path) -> int:
    """Create ``directory`` if needed and hold its lock file; the kernel releases the lock
    when the process dies. Raises ``BlockingIOError`` if another process holds it."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def create_file(directory: Path, name: str) -> int:
    """A new empty file opened for appending; its directory entry is durable."""
    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    fsync_dir(directory)
    return fd


def open_for_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def append_durably(fd: int, data: bytes) -> None:
    """Write all of ``data`` at the end of the file, then flush it to the device."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fdatasync(fd)


def truncate_durably(fd: int, size: int) -> None:
    os.ftruncate(fd, size)
    os.fdatasync(fd)


def read_range(path: Path, start: int, end: int) -> bytes:
    with open(path, "rb") as file:
        file.seek(start)
        return file.read(end - start)


def delete_files(directory: Path, paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
    fsync_dir(directory)


def replace_ack_log(directory: Path, data: bytes) -> int:
    """Atomically replace the acknowledgement log with ``data``; returns a new append fd."""
    temporary = directory / (ACK_LOG + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        append_durably(fd, data)
    finally:
        os.close(fd)
    os.replace(temporary, directory / ACK_LOG)
    fsync_dir(directory)
    return open_for_append(directory / ACK_LOG)


def ack_log_contents(next_id: int, segments: list[Segment]) -> bytes:
    """A compacted log: the id floor, then the acknowledged ids of the live segments."""
    acked = [i for segment in segments for i in segment.acked_ids()]
    return encode_next(next_id) + (encode_acks(id_ranges(acked)) if acked else b"")


# --- recovery ---------------------------------------------------------------------

@dataclass
class Recovered:
    """What ``recover`` found: live segments (oldest first, each with at least one record
    not acknowledged), the next id to hand out, and what it skipped or removed."""

    segments: list[Segment] = field(default_factory=list)
    next_id: int = 1
    skipped_lines: int = 0
    deleted_segments: int = 0
    ack_fd: int = -1


def _lines(data: bytes):
    """``(offset, line)`` for each line, the last one without ``\\n`` if torn."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        yield start, data[start:end]
        start = end


def _read_acks(path: Path) -> tuple[list[tuple[int, int]], int]:
    ranges: list[tuple[int, int]] = []
    floor = 0
    if not path.exists():
        return ranges, floor
    for _, line in _lines(path.read_bytes()):
        decoded = decode_ack_line(line)
        if decoded is None:
            continue  # torn or damaged: its acknowledgement never returned, so resend
        found, next_id = decoded
        ranges.extend(found)
        floor = max(floor, next_id or 0)
    return ranges, floor


def _is_acked(merged_starts: list[int], merged: list[tuple[int, int]], item_id: int) -> bool:
    index = bisect.bisect_right(merged_starts, item_id) - 1
    return index >= 0 and merged[index][1] >= item_id


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _scan_segment(path: Path, first_id: int, merged, starts, result: Recovered) -> tuple[Segment, int]:
    segment = Segment(path, first_id)
    data = path.read_bytes()
    segment.size = len(data)
    last_id = first_id - 1
    for offset, line in _lines(data):
        header = record_header(line)
        if header is None or header[0] <= last_id:
            result.skipped_lines += 1
            continue
        item_id, at_ms = header
        last_id = item_id
        segment.add(item_id, offset, len(line), at_ms)
        if _is_acked(starts, merged, item_id):
            segment.mark_acked(len(segment.ids) - 1)
    return segment, last_id


def recover(directory: Path) -> Recovered:
    """Rebuild the index from disk (the directory is locked by the caller).

    Rules: a segment line is a record if it is complete (ends with ``}`` and a newline),
    starts with its ``id`` and ``at``, and its id is above the previous record's;
    anything else (a torn last line after a crash, damage) is skipped. The rest of a
    record is decoded when it is peeked (one damaged there is dropped and logged).
    Records whose id is in the acknowledgement log are done. Segments with nothing left
    are deleted, stray temporary files removed, and the acknowledgement log is rewritten
    compacted. Appends after recovery always go to a new segment, so a torn tail is never
    appended to.
    """
    result = Recovered()
    ranges, floor = _read_acks(directory / ACK_LOG)
    merged = _merge(ranges)
    starts = [first for first, _ in merged]
    highest = max([floor - 1] + [last for _, last in merged])
    found = sorted((int(m.group(1)), directory / m.group(0))
                   for m in map(SEGMENT_PATTERN.match, os.listdir(directory)) if m)
    done: list[Path] = [directory / name for name in os.listdir(directory) if name.endswith(".tmp")]
    for first_id, path in found:
        segment, last_id = _scan_segment(path, first_id, merged, starts, result)
        highest = max(highest, first_id, last_id)
        if segment.pending:
            result.segments.append(segment)
        else:
            done.append(path)
            result.deleted_segments += 1
    if done:
        delete_files(directory, done)
    result.next_id = max(1, highest + 1)
    result.ack_fd = replace_ack_log(directory, ack_log_contents(result.next_id, result.segments))
    return result
