"""FileOutbox on real files in tmp_path: durability, crash recovery, acknowledgements,
segment deletion, capacity, group commit, and a real SIGKILL of a process appending.
The port's contract is tested for every adapter in tests/contract/test_event_outbox_contract.py."""
from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adapters.outbound import file_outbox as file_outbox_module
from adapters.outbound import file_outbox_disk as disk
from adapters.outbound.file_outbox import FileOutbox, OutboxInUseError
from adapters.outbound.file_outbox_codec import encode_record
from adapters.outbound.outbox_items import EVENT_CODEC
from domain.model.identifiers import CustomerKey
from domain.model.reports import Event
from ports.event_outbox import EventOutbox, OutboxFullError
from tests.fakes import FixedClock
from tests.fakes.outbox import outbox_event, outbox_events, outbox_keys

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


event, events, keys = outbox_event, outbox_events, outbox_keys


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock("2025-07-10T15:30:00Z")


@pytest.fixture
def directory(tmp_path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
async def opened(directory, clock):
    """``await opened(**options)`` opens the directory; everything opened is closed after."""
    outboxes: list[FileOutbox] = []

    async def open_(**options) -> FileOutbox:
        options = {"max_bytes": 64 * MiB, "clock": clock} | options
        outbox = await FileOutbox.open(directory, **options)
        outboxes.append(outbox)
        return outbox

    yield open_
    for outbox in outboxes:
        await outbox.close()


async def drain(outbox: EventOutbox) -> list[tuple[int, Event]]:
    """Everything queued (peek only, nothing acknowledged)."""
    return await outbox.peek(10**9)


def segments(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("seg-*.jsonl"))


def crash_copy(directory: Path, target: Path) -> Path:
    """What a crash would leave on disk right now: a copy of the files (no close)."""
    target.mkdir()
    for path in directory.iterdir():
        if path.name != disk.LOCK_FILE:
            (target / path.name).write_bytes(path.read_bytes())
    return target


# The port's contract (shared with the fake and the Redis outbox) is in
# tests/contract/test_event_outbox_contract.py.

# --- durability and round trips ---------------------------------------------------

async def test_events_round_trip_every_field_across_a_restart(opened, directory):
    sent = [
        Event("signup", CustomerKey("acme", "site-1"), "key-1",
              {"plan": "pro", "seats": 3.0, "trial": True, "count": 7}, 1752161400000),
        Event("ünïcødé ✓", CustomerKey("cust \"quoted\"\n"), "key-2"),
        Event("login", CustomerKey("acme"), "key-3", {"emoji": "🎉", "neg": -1.5}),
    ]
    outbox = await opened()
    await outbox.append(sent)
    await outbox.close()
    reopened = await opened()
    assert [e for _, e in await drain(reopened)] == sent


async def test_append_is_on_disk_when_it_returns(opened, directory, tmp_path, clock):
    outbox = await opened()
    await outbox.append(events(100))
    copy = crash_copy(directory, tmp_path / "after-crash")
    recovered = await FileOutbox.open(copy, max_bytes=64 * MiB, clock=clock)
    try:
        assert keys(await drain(recovered)) == [f"k-{i}" for i in range(100)]
    finally:
        await recovered.close()


async def test_second_process_cannot_open_the_same_directory(opened, directory, clock):
    await opened()
    with pytest.raises(OutboxInUseError):
        await FileOutbox.open(directory, max_bytes=MiB, clock=clock)


# --- recovery after a crash -------------------------------------------------------

async def test_torn_last_line_is_ignored_and_later_appends_are_safe(opened, directory):
    outbox = await opened()
    await outbox.append(events(10))
    await outbox.close()
    last = directory / segments(directory)[-1]
    data = last.read_bytes()
    last.write_bytes(data[:-25])  # a crash in the middle of the last record's write
    reopened = await opened()
    assert keys(await drain(reopened)) == [f"k-{i}" for i in range(9)]
    await reopened.append(events(5, start=100))
    await reopened.close()
    again = await opened()
    assert keys(await drain(again)) == [f"k-{i}" for i in range(9)] + [f"k-{i}" for i in range(100, 105)]


async def test_torn_garbage_after_the_last_record_is_ignored(opened, directory):
    outbox = await opened()
    await outbox.append(events(3))
    await outbox.close()
    with open(directory / segments(directory)[-1], "ab") as file:
        file.write(b'{"id": 999, "at": 17')
    reopened = await opened()
    assert keys(await drain(reopened)) == ["k-0", "k-1", "k-2"]


async def test_a_damaged_record_is_skipped_the_rest_recovered(opened, directory):
    outbox = await opened()
    await outbox.append(events(5))
    await outbox.close()
    path = directory / segments(directory)[-1]
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"\x00" * (len(lines[2]) - 1) + b"\n"
    path.write_bytes(b"".join(lines))
    reopened = await opened()
    assert keys(await drain(reopened)) == ["k-0", "k-1", "k-3", "k-4"]


async def test_a_record_damaged_past_its_header_is_dropped_when_read(opened, directory, caplog):
    outbox = await opened()
    await outbox.append(events(4))
    await outbox.close()
    path = directory / segments(directory)[-1]
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"n":"login"', b'"n":login" ')
    path.write_bytes(b"".join(lines))
    reopened = await opened()
    assert reopened.depth() == 4  # recovery reads headers only
    assert keys(await reopened.peek(10)) == ["k-0", "k-2", "k-3"]
    assert reopened.depth() == 3
    assert "damaged records" in caplog.text


async def test_stray_temporary_files_are_removed(opened, directory):
    outbox = await opened()
    await outbox.close()
    (directory / "acks.jsonl.tmp").write_bytes(b'{"a": [[1, 100')
    await opened()
    assert not (directory / "acks.jsonl.tmp").exists()


# --- acknowledgements -------------------------------------------------------------

async def test_acknowledgements_survive_a_restart(opened):
    outbox = await opened()
    await outbox.append(events(10))
    items = await outbox.peek(10)
    await outbox.acknowledge([item_id for item_id, _ in items[:4]] + [items[7][0]])
    await outbox.close()
    reopened = await opened()
    assert keys(await drain(reopened)) == ["k-4", "k-5", "k-6", "k-8", "k-9"]
    assert reopened.depth() == 5


async def test_acknowledgements_are_durable_when_acknowledge_returns(opened, directory, tmp_path, clock):
    outbox = await opened()
    await outbox.append(events(6))
    items = await outbox.peek(3)
    await outbox.acknowledge([item_id for item_id, _ in items])
    copy = crash_copy(directory, tmp_path / "after-crash")
    recovered = await FileOutbox.open(copy, max_bytes=64 * MiB, clock=clock)
    try:
        assert keys(await drain(recovered)) == ["k-3", "k-4", "k-5"]
    finally:
        await recovered.close()


async def test_a_torn_acknowledgement_means_those_events_are_sent_again(opened, directory):
    outbox = await opened()
    await outbox.append(events(4))
    await outbox.close()
    with open(directory / disk.ACK_LOG, "ab") as file:
        file.write(b'{"a":[[1,4]')  # the crash came before the line was complete
    reopened = await opened()
    assert reopened.depth() == 4


async def test_ids_are_never_reused_after_everything_was_acknowledged(opened):
    outbox = await opened()
    await outbox.append(events(10))
    first = await outbox.peek(10)
    await outbox.acknowledge([item_id for item_id, _ in first])
    await outbox.close()
    reopened = await opened()
    await reopened.append(events(5, start=50))
    later = await reopened.peek(10)
    assert min(i for i, _ in later) > max(i for i, _ in first)
    await reopened.close()
    again = await opened()
    assert keys(await drain(again)) == [f"k-{i}" for i in range(50, 55)]


async def test_the_acknowledgement_log_is_compacted(opened, directory, monkeypatch):
    monkeypatch.setattr(file_outbox_module, "ACK_LOG_COMPACT_BYTES", 2000)
    outbox = await opened(segment_bytes=64 * 1024)
    for round_ in range(10):
        await outbox.append(events(100, start=round_ * 100))
        for item_id, _ in await outbox.peek(100):
            await outbox.acknowledge([item_id])  # one line per id: the log grows fast
    assert (directory / disk.ACK_LOG).stat().st_size < 4000
    await outbox.append(events(3, start=9000))
    await outbox.close()
    reopened = await opened()
    assert keys(await drain(reopened)) == ["k-9000", "k-9001", "k-9002"]


# --- segments and capacity --------------------------------------------------------

async def test_segments_roll_and_are_deleted_once_fully_acknowledged(opened, directory):
    outbox = await opened(segment_bytes=4096)
    for round_ in range(10):
        await outbox.append(events(20, start=round_ * 20))
    assert len(segments(directory)) >= 3
    before = outbox.bytes_used()
    assert before == sum((directory / name).stat().st_size for name in segments(directory))
    first_segment = segments(directory)[0]
    in_first = len((directory / first_segment).read_bytes().splitlines())
    items = await outbox.peek(in_first)
    await outbox.acknowledge([item_id for item_id, _ in items])
    assert first_segment not in segments(directory)
    assert outbox.bytes_used() < before
    await outbox.acknowledge([item_id for item_id, _ in await drain(outbox)])
    assert (segments(directory), outbox.bytes_used(), outbox.depth()) == ([], 0, 0)
    await outbox.append(events(1, start=999))
    assert len(segments(directory)) == 1
    assert keys(await drain(outbox)) == ["k-999"]


async def test_capacity_refuses_until_acknowledgements_free_space(opened):
    one = len(encode_record(1, 1752161400000, EVENT_CODEC.encode(event(10))))
    outbox = await opened(max_bytes=one * 10, segment_bytes=one * 3)
    accepted = 0
    with pytest.raises(OutboxFullError) as caught:
        for i in range(100):
            await outbox.append([event(i)])
            accepted += 1
    assert 5 <= accepted <= 10
    assert caught.value.capacity_bytes == one * 10
    assert caught.value.used_bytes == outbox.bytes_used() <= one * 10
    assert outbox.depth() == accepted
    await outbox.acknowledge([item_id for item_id, _ in await outbox.peek(accepted)])
    await outbox.append(events(3, start=500))
    assert keys(await drain(outbox)) == ["k-500", "k-501", "k-502"]


async def test_a_full_disk_answers_outbox_full_and_leaves_no_torn_bytes(opened, directory, monkeypatch):
    outbox = await opened()
    await outbox.append(events(2))
    real = disk.append_durably

    def half_then_enospc(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(disk, "append_durably", half_then_enospc)
    with pytest.raises(OutboxFullError):
        await outbox.append(events(3, start=10))
    monkeypatch.setattr(disk, "append_durably", real)
    await outbox.append(events(1, start=20))
    assert keys(await drain(outbox)) == ["k-0", "k-1", "k-20"]
    await outbox.close()
    reopened = await opened()
    assert keys(await drain(reopened)) == ["k-0", "k-1", "k-20"]


async def test_other_write_errors_reach_the_caller_and_the_outbox_keeps_working(opened, monkeypatch):
    outbox = await opened()
    real = disk.append_durably

    def broken(fd: int, data: bytes) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(disk, "append_durably", broken)
    with pytest.raises(OSError, match="I/O error"):
        await outbox.append(events(1))
    monkeypatch.setattr(disk, "append_durably", real)
    await outbox.append(events(1, start=1))
    assert keys(await drain(outbox)) == ["k-1"]


# --- group commit -----------------------------------------------------------------

async def test_concurrent_appends_share_writes_and_all_are_durable(opened, directory, monkeypatch):
    outbox = await opened()
    writes = []
    real = disk.append_durably

    def counting(fd: int, data: bytes) -> None:
        writes.append(len(data))
        real(fd, data)

    monkeypatch.setattr(disk, "append_durably", counting)
    await asyncio.gather(*(outbox.append([event(i)]) for i in range(2000)))
    assert outbox.depth() == 2000
    assert len(writes) < 200  # group commit: far fewer syncs than appends
    await outbox.close()
    reopened = await opened()
    found = await drain(reopened)
    assert sorted(keys(found)) == sorted(f"k-{i}" for i in range(2000))
    assert len({item_id for item_id, _ in found}) == 2000


async def test_appends_do_not_block_the_event_loop(opened, monkeypatch):
    outbox = await opened()
    real = disk.append_durably

    def slow(fd: int, data: bytes) -> None:
        import time

        time.sleep(0.2)
        real(fd, data)

    monkeypatch.setattr(disk, "append_durably", slow)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    await outbox.append(events(10))
    beat.cancel()
    assert ticks >= 10


async def test_a_cancelled_appender_does_not_cancel_the_shared_write(opened):
    outbox = await opened()
    first = asyncio.create_task(outbox.append(events(1)))
    second = asyncio.create_task(outbox.append(events(1, start=1)))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    await outbox.close()
    reopened = await opened()
    assert "k-1" in keys(await drain(reopened))


# --- a real crash -----------------------------------------------------------------

CHILD = textwrap.dedent("""
    import asyncio, sys
    sys.path[:0] = [sys.argv[2], sys.argv[3]]
    from adapters.outbound.file_outbox import FileOutbox
    from adapters.outbound.system_clock import SystemClock
    from domain.model.identifiers import CustomerKey
    from domain.model.reports import Event

    async def writer(outbox, worker):
        n = 0
        while True:
            batch = [Event("login", CustomerKey("acme"), f"w{worker}-{n + i}") for i in range(5)]
            await outbox.append(batch)
            print(" ".join(e.idempotency_key for e in batch), flush=True)
            n += 5

    async def main():
        outbox = await FileOutbox.open(sys.argv[1], max_bytes=1 << 30, clock=SystemClock(),
                                            segment_bytes=64 * 1024)
        print("ready", flush=True)
        await asyncio.gather(*(writer(outbox, w) for w in range(8)))

    asyncio.run(main())
""")


async def test_sigkill_while_appending_loses_nothing_that_was_confirmed(directory, clock):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), str(ROOT / "src"), str(ROOT)],
        stdout=subprocess.PIPE, text=True)
    confirmed: set[str] = set()
    try:
        assert child.stdout.readline().strip() == "ready"
        while len(confirmed) < 3000:
            line = await asyncio.to_thread(child.stdout.readline)
            assert line, "the child exited early"
            confirmed.update(line.split())
        child.send_signal(signal.SIGKILL)
        rest = await asyncio.to_thread(child.stdout.read)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    for line in rest.split("\n")[:-1]:  # complete lines only: the kill may cut the last
        confirmed.update(line.split())
    recovered = await FileOutbox.open(directory, max_bytes=1 << 30, clock=clock)
    try:
        found = keys(await drain(recovered))
    finally:
        await recovered.close()
    assert confirmed <= set(found)
    assert len(found) == len(set(found))
