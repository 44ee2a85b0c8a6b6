"""SpooledTemporaryFile under threads and interrupts, and the in-memory phase's edges that
follow ``io.BytesIO`` (compared with the running interpreter's standard module).

A spooled file never deadlocks, loses no byte when threads write it while it rolls over (each
write lands whole), and is consistent after a ``KeyboardInterrupt`` at any point of the
rollover: still in memory with all its data, or rolled over with all of it.
"""

from __future__ import annotations

import array
import functools
import io
import sys
import tempfile
import threading
from types import FrameType
from typing import Any, Callable, Optional

import ferrotemp
import pytest

MODES = ["w+b", "w+"]


def chunk(mode: str, thread: int, i: int) -> Any:
    text = f"<{thread}:{i:04}>" + "." * (i % 7)
    return text.encode() if "b" in mode else text


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", ["write", "writelines"])
def test_threads_writing_during_rollover_lose_no_byte(mode: str, via: str) -> None:
    # Many rounds, each a fresh file that rolls over while several threads write to it. The
    # standard module garbles data here (and ferrotemp used to deadlock); every chunk must
    # land whole, once.
    rounds, threads, writes = 20, 4, 200
    for _ in range(rounds):
        f = ferrotemp.SpooledTemporaryFile(max_size=4096, mode=mode)
        start = threading.Barrier(threads)
        errors: list[BaseException] = []

        def writer(
            n: int,
            f: Any = f,
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                start.wait()
                for i in range(writes):
                    if via == "write":
                        f.write(chunk(mode, n, i))
                    else:
                        f.writelines([chunk(mode, n, i)])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
            assert not w.is_alive(), "a writer hangs"
        assert errors == []
        assert f._rolled
        f.seek(0)
        data = f.read()
        expected = [chunk(mode, n, i) for n in range(threads) for i in range(writes)]
        assert len(data) == sum(len(c) for c in expected)
        for c in expected:
            assert data.count(c) == 1, c
        f.close()


@pytest.mark.timeout(120)
def test_threads_reading_and_writing_during_rollover_do_not_hang() -> None:
    for _ in range(20):
        f = ferrotemp.SpooledTemporaryFile(max_size=2048)
        stop = threading.Event()
        errors: list[BaseException] = []

        def reader(
            f: Any = f, stop: threading.Event = stop, errors: list[BaseException] = errors
        ) -> None:
            try:
                while not stop.is_set():
                    f.tell()
                    f.readable()
                    f.closed  # noqa: B018 - the property is the call being tested
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        readers = [threading.Thread(target=reader) for _ in range(2)]
        for r in readers:
            r.start()
        for i in range(300):
            f.write(b"%05d" % i)
        stop.set()
        for r in readers:
            r.join(60)
            assert not r.is_alive()
        assert errors == []
        f.seek(0)
        assert f.read() == b"".join(b"%05d" % i for i in range(300))
        f.close()


class Interrupt:
    """A trace function that raises KeyboardInterrupt at the `target`-th point of a rollover:
    before each of its lines, and as each Python function it calls starts (where Python
    3.12+ checks for signals). What happens deeper is those functions' own business:
    `TemporaryFile`, like the standard module's, can leak the file it is making to an
    interrupt inside it."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.fired = False
        self.rollover: Optional[FrameType] = None

    def trace(self, frame: FrameType, event: str, arg: Any) -> Optional[Callable[..., Any]]:
        if self.rollover is None:
            if event == "call" and frame.f_code.co_name == "rollover":
                self.rollover = frame
            else:
                return self.trace
        if self.fired:
            return None
        point = (event == "line" and frame is self.rollover) or (
            event == "call" and frame.f_back is self.rollover
        )
        if point:
            self.seen += 1
            if self.seen == self.target:
                self.fired = True
                raise KeyboardInterrupt
        return self.trace


def check_consistent(f: Any, expected: Any, mode: str) -> None:
    """Either still in memory with all the data, or rolled over with all of it; and usable:
    more data can be written, read back, and rolled over."""
    more = b"tail" if "b" in mode else "tail"
    if f._rolled:
        assert not isinstance(f._file, io.BytesIO) and f._file.fileno() >= 0
    else:
        buffer = f._file if "b" in mode else f._file.buffer
        assert buffer.getvalue() == (expected if "b" in mode else expected.encode())
    assert f.tell() == len(expected)
    f.seek(0)
    assert f.read() == expected
    f.write(more)
    f.rollover()
    assert f._rolled
    f.seek(0)
    assert f.read() == expected + more
    f.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", MODES)
def test_an_interrupt_at_any_point_of_a_rollover_leaves_a_consistent_file(mode: str) -> None:
    data = b"x" * 50 if "b" in mode else "x" * 50
    target = 1
    outcomes = set()
    while True:
        f = ferrotemp.SpooledTemporaryFile(max_size=100, mode=mode)
        f.write(data)
        interrupt = Interrupt(target)
        sys.settrace(interrupt.trace)
        try:
            f.rollover()
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        if not interrupt.fired:
            check_consistent(f, data, mode)
            break
        outcomes.add(f._rolled)
        check_consistent(f, data, mode)
        target += 1
        assert target < 1000
    # Interrupts landed both before the switch and after it.
    assert outcomes == {False, True}, outcomes


@pytest.mark.parametrize("rolled", [False, True])
def test_a_non_contiguous_buffer_is_refused_as_bytesio_refuses_it(rolled: bool) -> None:
    strided = memoryview(b"abcdefgh")[::2]
    for mod in (tempfile, ferrotemp):
        f = mod.SpooledTemporaryFile(max_size=1000)
        if rolled:
            f.rollover()
        with pytest.raises(BufferError) as raised:
            f.write(strided)
        with pytest.raises(BufferError) as direct:
            io.BytesIO().write(strided)
        if not rolled:
            assert str(raised.value) == str(direct.value)
        assert f.tell() == 0
        f.close()
    # A contiguous non-bytes buffer is taken, as by BytesIO.
    f = ferrotemp.SpooledTemporaryFile(max_size=1000)
    ints = array.array("i", [1, 2])
    assert f.write(ints) == io.BytesIO().write(ints)
    f.seek(0)
    assert f.read() == ints.tobytes()
    f.close()


def _outcome(call: Callable[[], Any]) -> tuple[str, str]:
    try:
        return ("ok", repr(call()))
    except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rolled", [False, True])
@pytest.mark.parametrize("items", ["list", "empty", "generator", "not-iterable", "bad-type"])
def test_writelines_on_a_closed_file_follows_the_standard_module(
    mode: str, rolled: bool, items: str
) -> None:
    results = []
    for mod in (tempfile, ferrotemp):
        f = mod.SpooledTemporaryFile(max_size=10, mode=mode)
        if rolled:
            f.rollover()
        f.close()
        consumed: list[int] = []
        item = b"a" if "b" in mode else "a"

        def generator(item: Any = item, consumed: list[int] = consumed) -> Any:
            consumed.append(1)
            yield item

        iterable: Any = {
            "list": [item],
            "empty": [],
            "generator": generator(),
            "not-iterable": 5,
            "bad-type": [1],
        }[items]
        results.append((_outcome(functools.partial(f.writelines, iterable)), len(consumed)))
    assert results[1] == results[0]
