"""FileOutbox: a durable outbox as append-only JSON-lines files in one directory.

Layout of ``directory`` (format 1; line formats in ``file_outbox_codec``):

- ``seg-<first id, 20 digits>.jsonl``: records, appended in id order. A segment is
  rolled once it reaches ``segment_bytes`` and deleted once every record in it is
  acknowledged (the one being appended to included: the next append starts a new one).
- ``acks.jsonl``: one line per ``acknowledge`` call, appended; rewritten compacted (via
  a temporary file and ``rename``) on open and when it grows past ``ACK_LOG_COMPACT_BYTES``.
- ``lock``: ``flock``-ed while open, so two processes never share a directory.

Durability: ``append`` returns after the records are written and ``fdatasync``-ed.
Concurrent appends are group-committed: one write and one sync for whatever queued up
while the previous sync ran. Acknowledgements are synced before they take effect, and a
segment is only deleted after its acknowledgements are durable. Recovery rules:
``file_outbox_disk.recover``.

The capacity counts segment bytes on disk plus appends not yet written; the
acknowledgement log (small) is not counted. A full disk also answers ``OutboxFullError``.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from adapters.outbound import file_outbox_disk as disk
from adapters.outbound.file_outbox_codec import decode_record, encode_acks, encode_record, id_ranges
from adapters.outbound.outbox_items import EVENT_CODEC, Item, ItemCodec
from ports.clock import Clock
from ports.event_outbox import Outbox, OutboxFullError, OutboxItemId

log = logging.getLogger("sidecar.outbox")

#: Rewrite the acknowledgement log once it is this long (bytes; our choice).
ACK_LOG_COMPACT_BYTES = 1024 * 1024
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class OutboxInUseError(OSError):
    """Another process holds the outbox directory (each process needs its own)."""


def default_segment_bytes(max_bytes: int) -> int:
    """A sixteenth of the capacity, between 64 KiB and 16 MiB (our choice: at most one
    partly acknowledged segment wastes capacity)."""
    return min(16 * 1024 * 1024, max(64 * 1024, max_bytes // 16))


@dataclass
class _Append:
    first_id: int
    lines: list[bytes]
    at_ms: int
    size: int
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class FileOutbox(Outbox[Item]):
    """Build with ``await FileOutbox.open(directory, max_bytes=…, clock=…, codec=…)``;
    ``codec`` (default: events) turns items into records and back (``outbox_items``)."""

    def __init__(self, directory: Path, lock_fd: int, recovered: disk.Recovered, *,
                 max_bytes: int, clock: Clock, segment_bytes: int, codec: ItemCodec[Item],
                 name: str = "event outbox") -> None:
        self._dir = directory
        self._codec = codec
        self._name = name  # in log lines
        self._lock_fd = lock_fd
        self._max_bytes = max_bytes
        self._clock = clock
        self._segment_bytes = segment_bytes
        self._segments: list[disk.Segment] = recovered.segments
        self._next_id = recovered.next_id
        self._ack_fd = recovered.ack_fd
        self._ack_log_bytes = 0
        self._active: disk.Segment | None = None
        self._active_fd = -1
        self._disk_bytes = sum(s.size for s in self._segments)
        self._depth = sum(s.pending for s in self._segments)
        self._reserved = 0
        self._queue: list[_Append] = []
        self._committer: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._ack_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, directory: str | os.PathLike[str], *, max_bytes: int, clock: Clock,
                   segment_bytes: int | None = None,
                   codec: ItemCodec[Item] = EVENT_CODEC,
                   name: str = "event outbox") -> FileOutbox[Item]:
        """Lock ``directory`` (created if missing) and recover what it holds.

        Raises ``OutboxInUseError`` if another process has it open, ``OSError`` if it
        cannot be used.
        """
        path = Path(directory)
        try:
            lock_fd = await asyncio.to_thread(disk.lock_directory, path)
        except BlockingIOError as error:
            raise OutboxInUseError(f"{name} directory {path} is in use by another process") from error
        try:
            recovered = await asyncio.to_thread(disk.recover, path)
        except BaseException:
            os.close(lock_fd)
            raise
        outbox = cls(path, lock_fd, recovered, max_bytes=max_bytes, clock=clock,
                     segment_bytes=segment_bytes or default_segment_bytes(max_bytes), codec=codec,
                     name=name)
        log.info(f"{name} opened", extra={
            "directory": str(path), "depth": outbox.depth(), "bytes_used": outbox.bytes_used(),
            "capacity_bytes": max_bytes, "skipped_lines": recovered.skipped_lines,
            "deleted_segments": recovered.deleted_segments})
        return outbox

    # --- appends (group commit) -----------------------------------------------------

    async def append(self, items: Sequence[Item]) -> None:
        if self._closed:
            raise RuntimeError("the outbox is closed")
        if not items:
            return
        at_ms = self._clock.now_ms()
        encode = self._codec.encode
        lines = [encode_record(self._next_id + i, at_ms, encode(item)) for i, item in enumerate(items)]
        size = sum(map(len, lines))
        used = self.bytes_used()
        if used + size > self._max_bytes:
            raise OutboxFullError(self._max_bytes, used, size)
        pending = _Append(self._next_id, lines, at_ms, size)
        self._next_id += len(lines)
        self._reserved += size
        self._queue.append(pending)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued())
        # Shielded: a cancelled caller does not cancel the write others share.
        await asyncio.shield(pending.done)

    async def _commit_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            size = sum(p.size for p in batch)
            try:
                async with self._write_lock:
                    await self._write(batch, size)
            except Exception as error:  # noqa: BLE001 - every waiter must hear of it
                failure = self._translate(error) if isinstance(error, OSError) else error
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(failure)
            else:
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_result(None)
            finally:
                self._reserved -= size

    async def _write(self, batch: list[_Append], size: int) -> None:
        segment = self._active
        if segment is not None and segment.size and segment.size + size > self._segment_bytes:
            self._seal()
            segment = None
        if segment is None:
            segment = disk.Segment(self._dir / disk.segment_name(batch[0].first_id), batch[0].first_id)
            self._active_fd = await asyncio.to_thread(disk.create_file, self._dir, segment.path.name)
            self._active = segment
            self._segments.append(segment)
        start = segment.size
        try:
            await asyncio.to_thread(disk.append_durably, self._active_fd, b"".join(
                line for pending in batch for line in pending.lines))
        except OSError:
            await self._discard_tail(start)
            raise
        offset = start
        for pending in batch:
            for index, line in enumerate(pending.lines):
                segment.add(pending.first_id + index, offset, len(line), pending.at_ms)
                offset += len(line)
        segment.size = offset
        self._disk_bytes += size
        self._depth += sum(len(p.lines) for p in batch)

    async def _discard_tail(self, start: int) -> None:
        """After a failed write: cut the segment back, or stop appending to it."""
        try:
            await asyncio.to_thread(disk.truncate_durably, self._active_fd, start)
        except OSError:
            log.exception("could not truncate a failed outbox write; starting a new segment")
            self._seal()

    def _seal(self) -> None:
        if self._active_fd >= 0:
            os.close(self._active_fd)
        self._active, self._active_fd = None, -1

    def _translate(self, error: OSError) -> Exception:
        if error.errno in _FULL_ERRNOS:
            return OutboxFullError(self._max_bytes, self.bytes_used())
        return error

    # --- reads and acknowledgements -------------------------------------------------

    async def peek(self, max_events: int, *, max_bytes: int | None = None
                   ) -> list[tuple[OutboxItemId, Item]]:
        picks = self._pick(max_events, max_bytes)
        found, damaged = await asyncio.to_thread(self._read, picks, self._codec)
        if damaged:
            log.error("damaged records in the outbox were dropped",
                      extra={"ids": damaged, "directory": str(self._dir)})
            await self.acknowledge(damaged)
        return found

    def _pick(self, max_events: int, max_bytes: int | None) -> list[tuple[disk.Segment, list[int]]]:
        """The oldest unacknowledged records within the limits, grouped by segment."""
        picks: list[tuple[disk.Segment, list[int]]] = []
        count = total = 0
        for segment in self._segments:
            chosen: list[int] = []
            picks.append((segment, chosen))
            for index in range(segment.head, len(segment.ids)):
                if segment.acked[index]:
                    continue
                length = segment.lengths[index]
                if count >= max_events or (count and max_bytes is not None and total + length > max_bytes):
                    return [pick for pick in picks if pick[1]]
                chosen.append(index)
                count, total = count + 1, total + length
        return [pick for pick in picks if pick[1]]

    @staticmethod
    def _read(picks: list[tuple[disk.Segment, list[int]]], codec: ItemCodec[Item]):
        found: list[tuple[OutboxItemId, Item]] = []
        damaged: list[int] = []
        for segment, chosen in picks:
            start = segment.offsets[chosen[0]]
            end = segment.offsets[chosen[-1]] + segment.lengths[chosen[-1]]
            try:
                data = disk.read_range(segment.path, start, end)
            except FileNotFoundError:
                continue  # acknowledged and deleted meanwhile
            for index in chosen:
                if segment.acked[index]:
                    continue
                offset = segment.offsets[index] - start
                decoded = decode_record(data[offset : offset + segment.lengths[index]], codec)
                if decoded is None or decoded[0] != segment.ids[index]:
                    damaged.append(segment.ids[index])
                else:
                    found.append((decoded[0], decoded[2]))
        return found, damaged

    def _locate(self, item_id: int) -> tuple[disk.Segment, int] | None:
        for segment in reversed(self._segments):
            if segment.first_id <= item_id:
                index = segment.index_of(item_id)
                return None if index is None else (segment, index)
        return None

    async def acknowledge(self, ids: Sequence[OutboxItemId]) -> None:
        targets = [t for t in map(self._locate, set(ids)) if t is not None and not t[0].acked[t[1]]]
        if not targets:
            return
        line = encode_acks(id_ranges(s.ids[i] for s, i in targets))
        async with self._ack_lock:
            await asyncio.to_thread(disk.append_durably, self._ack_fd, line)
            self._ack_log_bytes += len(line)
        for segment, index in targets:
            if segment.mark_acked(index):
                self._depth -= 1
        await self._reclaim()

    async def _reclaim(self) -> None:
        """Delete fully acknowledged segments, then compact the log if it grew long."""
        if any(s.pending == 0 for s in self._segments):
            async with self._write_lock:  # no write is under way into the active segment
                done = [s for s in self._segments if s.pending == 0]
                if self._active in done:
                    self._seal()
                if done:
                    self._segments = [s for s in self._segments if s.pending]
                    self._disk_bytes -= sum(s.size for s in done)
                    await asyncio.to_thread(disk.delete_files, self._dir, [s.path for s in done])
        if self._ack_log_bytes > ACK_LOG_COMPACT_BYTES:
            async with self._ack_lock:
                data = disk.ack_log_contents(self._next_id, self._segments)
                old, self._ack_fd = self._ack_fd, await asyncio.to_thread(
                    disk.replace_ack_log, self._dir, data)
                os.close(old)
                self._ack_log_bytes = len(data)

    # --- gauges and lifecycle -------------------------------------------------------

    def depth(self) -> int:
        return self._depth

    def bytes_used(self) -> int:
        return self._disk_bytes + self._reserved

    def oldest_age_s(self, now_ms: int) -> float | None:
        for segment in self._segments:
            if segment.pending:
                return max(0.0, (now_ms - segment.at_ms[segment.head]) / 1000)
        return None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._committer is not None:
            await self._committer
        async with self._write_lock:
            self._seal()
        async with self._ack_lock:
            os.close(self._ack_fd)
        os.close(self._lock_fd)
        log.info(f"{self._name} closed", extra={"depth": self._depth, "bytes_used": self._disk_bytes})
