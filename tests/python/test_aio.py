"""ferrotemp.aio side by side with anyio's own temp files, on asyncio and trio.

Each behaviour case runs the same code against ``anyio`` and ``ferrotemp.aio`` and compares
what it observed (results, exception classes and errno); what ferrotemp.aio adds (no thread
hop for memory, per-item ``writelines`` checks, cleanup that survives cancellation) is tested
on its own, with anyio's thread hops counted through ``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

import gc
import inspect
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import anyio
import anyio.to_thread
import ferrotemp
import ferrotemp.aio as aio
import pytest
from anyio import AsyncFile

NAMES = [
    "TemporaryFile",
    "NamedTemporaryFile",
    "SpooledTemporaryFile",
    "TemporaryDirectory",
    "mkstemp",
    "mkdtemp",
    "gettempdir",
    "gettempdirb",
]

MODULES = [pytest.param(anyio, id="anyio"), pytest.param(aio, id="aio")]


# trio is in the test extra: its absence is a broken environment, not a reason to skip.
@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


Outcome = tuple[Any, ...]


async def outcome(step: Callable[[], Awaitable[Any]]) -> Outcome:
    """What ``step`` gave: ("ok", value) or ("raised", exception class, errno)."""
    try:
        return ("ok", await step())
    except Exception as exc:
        return ("raised", type(exc), getattr(exc, "errno", None))


async def side_by_side(
    tmp_path: Path, case: Callable[[Any, Path], Awaitable[Any]]
) -> tuple[Any, Any]:
    """``case(module, work_dir)`` for anyio and for ferrotemp.aio, each in a fresh directory
    that must be empty afterwards."""
    results = []
    for module in (anyio, aio):
        work = tmp_path / module.__name__
        work.mkdir()
        results.append(await case(module, work))
        assert sorted(os.listdir(work)) == [], module.__name__
    return results[0], results[1]


class HopCounter:
    """Counts (and can cancel at) calls of ``anyio.to_thread.run_sync``, which ferrotemp.aio
    and ``anyio.AsyncFile`` make for every thread hop."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.cancel_at = 0
        self.during = False
        self.scope: anyio.CancelScope | None = None
        self.original = anyio.to_thread.run_sync
        monkeypatch.setattr(anyio.to_thread, "run_sync", self.run_sync)

    async def run_sync(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.cancel_at and self.scope is not None:
            scope = self.scope
            if not self.during:
                scope.cancel()
            else:
                # Cancelled from inside the worker, while the awaiting task waits for it.
                def cancelled_meanwhile(*inner: Any) -> Any:
                    anyio.from_thread.run_sync(scope.cancel)
                    return func(*inner)

                return await self.original(cancelled_meanwhile, *args, **kwargs)
        return await self.original(func, *args, **kwargs)


def open_fds() -> set[int]:
    """This process's open descriptors, once collected objects (a TemporaryDirectory holds
    one while it lives) have let theirs go."""
    gc.collect()
    # The crash guard's record file is opened at the process's first guarded entry and kept.
    ferrotemp.NamedTemporaryFile().close()
    return (
        {int(n) for n in os.listdir("/proc/self/fd")} if os.path.isdir("/proc/self/fd") else set()
    )


# -- the API, name for name ---------------------------------------------------------------


def test_every_name_of_anyios_tempfile_api_is_exported_with_its_parameters() -> None:
    assert sorted(aio.__all__) == sorted(NAMES)
    for name in NAMES:
        theirs = inspect.signature(getattr(anyio, name))
        ours = inspect.signature(getattr(aio, name))
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
            (p.name, p.kind, p.default) for p in theirs.parameters.values()
        ], name
        assert inspect.iscoroutinefunction(getattr(aio, name)) == inspect.iscoroutinefunction(
            getattr(anyio, name)
        )


def test_the_spooled_file_is_an_asyncfile_as_anyios_is() -> None:
    assert issubclass(aio.SpooledTemporaryFile, AsyncFile)
    assert issubclass(anyio.SpooledTemporaryFile, AsyncFile)


def test_import_ferrotemp_alone_never_imports_anyio() -> None:
    code = "import sys, ferrotemp; print('anyio' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k != "FERROTEMP_AS_TEMPFILE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "False", out.stderr
    code = "import sys, ferrotemp.aio; print('anyio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "True", out.stderr


# -- behaviour side by side ------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["w+b", "w+"])
async def test_temporary_file_reads_and_writes_as_anyios(tmp_path: Path, mode: str) -> None:
    async def case(module: Any, work: Path) -> Any:
        data: Any = "line one\nline two\n" if "b" not in mode else b"line one\nline two\n"
        seen: list[Any] = []
        async with module.TemporaryFile(mode, dir=str(work), prefix="p", suffix="s") as f:
            seen.append(type(f))
            seen.append(await f.write(data))
            seen.append(await f.tell())
            seen.append(await f.seek(0))
            seen.append(await f.readline())
            seen.append(await f.readlines())
            await f.seek(0)
            seen.append([line async for line in f])
            await f.flush()
            seen.append(await f.truncate(4))
            await f.seek(0)
            seen.append(await f.read())
            seen.append(sorted(os.listdir(work)))
            seen.append(f.closed)
        seen.append(f.closed)
        return seen

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs
    assert ours[0] is AsyncFile


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["w+b", "w+"])
async def test_named_temporary_file_is_named_and_removed_as_anyios(
    tmp_path: Path, mode: str
) -> None:
    async def case(module: Any, work: Path) -> Any:
        seen: list[Any] = []
        async with module.NamedTemporaryFile(mode, dir=str(work), prefix="pre", suffix=".x") as f:
            name = f.name
            seen.append(type(f))
            seen.append(os.path.dirname(name) == str(work))
            base = os.path.basename(name)
            seen.append((base[:3], base[-2:], len(base)))
            seen.append(sorted(os.listdir(work)) == [base])
            await f.write("abc" if "b" not in mode else b"abc")
            await f.flush()
            seen.append(os.path.getsize(name))
        seen.append(os.path.exists(name))
        seen.append(f.closed)
        return seen

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs


@pytest.mark.anyio
async def test_named_temporary_file_with_delete_false_stays_as_anyios(tmp_path: Path) -> None:
    async def case(module: Any, work: Path) -> Any:
        async with module.NamedTemporaryFile(dir=str(work), delete=False) as f:
            await f.write(b"kept")
        with open(f.name, "rb") as check:
            content = check.read()
        os.unlink(f.name)
        return content, f.closed

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs == (b"kept", True)


@pytest.mark.anyio
@pytest.mark.skipif(
    sys.version_info < (3, 12),
    reason="anyio passes delete_on_close to the standard module only on 3.12+",
)
async def test_named_temporary_file_delete_on_close_false_as_anyios(tmp_path: Path) -> None:
    async def case(module: Any, work: Path) -> Any:
        async with module.NamedTemporaryFile(dir=str(work), delete_on_close=False) as f:
            await f.write(b"x")
            await f.aclose()
            still_there = os.path.exists(f.wrapped.name)
        # anyio's leaves the file to the garbage collector; the standard module's context
        # manager (and ferrotemp.aio: the next test) removes it at the end of the block.
        if os.path.exists(f.wrapped.name):
            os.unlink(f.wrapped.name)
        return still_there

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs is True


@pytest.mark.anyio
async def test_named_temporary_file_delete_on_close_false_is_removed_at_block_end(
    tmp_path: Path,
) -> None:
    async with aio.NamedTemporaryFile(dir=str(tmp_path), delete_on_close=False) as f:
        await f.aclose()
        assert os.path.exists(f.wrapped.name)
    assert not os.path.exists(f.wrapped.name)


def spooled_script(text: bool) -> list[tuple[str, tuple[Any, ...]]]:
    piece: Any = "abcd\n" if text else b"abcd\n"
    return [
        ("write", (piece,)),
        ("tell", ()),
        ("seek", (0,)),
        ("readline", ()),
        ("read", ()),
        ("write", (piece * 2,)),  # crosses max_size 12: rolls over
        ("tell", ()),
        ("seek", (0,)),
        ("readlines", ()),
        ("seek", (2,)),
        ("read", (3,)),
        ("write", (piece,)),
        ("seek", (0,)),
        ("read", ()),
        ("flush", ()),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
async def test_spooled_file_gives_anyios_results_and_rolls_over_at_the_same_write(
    tmp_path: Path, text: bool
) -> None:
    async def case(module: Any, work: Path) -> Any:
        mode = "w+" if text else "w+b"
        seen: list[Any] = []
        async with module.SpooledTemporaryFile(12, mode, dir=str(work)) as f:
            for method, args in spooled_script(text):
                result = await getattr(f, method)(*args)
                seen.append((method, result, f._rolled))
            seen.append(f.closed)
        seen.append(f.closed)
        return seen

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs
    assert [rolled for *_, rolled in ours[:-2]].index(True) == 5


@pytest.mark.anyio
async def test_spooled_file_reads_into_buffers_and_iterates_as_anyios(tmp_path: Path) -> None:
    async def case(module: Any, work: Path) -> Any:
        seen: list[Any] = []
        async with module.SpooledTemporaryFile(100, dir=str(work)) as f:
            await f.writelines([b"one\n", b"two\n"])
            await f.seek(0)
            buf = bytearray(3)
            seen.append((await f.readinto(buf), bytes(buf)))
            seen.append((await f.readinto1(buf), bytes(buf)))
            seen.append(await f.read1(2))
            await f.seek(0)
            seen.append([line async for line in f])
            await f.rollover()
            seen.append(f._rolled)
            await f.rollover()
            await f.seek(0)
            seen.append([line async for line in f])
            seen.append((await f.readinto(buf), bytes(buf)))
        return seen

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs


@pytest.mark.anyio
@pytest.mark.parametrize("max_size", [100, 1], ids=["in-memory", "rolled"])
async def test_spooled_readinto_as_the_sync_spooled_file(tmp_path: Path, max_size: int) -> None:
    sync = ferrotemp.SpooledTemporaryFile(max_size, dir=str(tmp_path))
    async with aio.SpooledTemporaryFile(max_size, dir=str(tmp_path)) as f:
        with sync:
            await f.write(b"one\ntwo\n")
            sync.write(b"one\ntwo\n")
            await f.seek(0)
            sync.seek(0)
            mine, theirs = bytearray(3), bytearray(3)
            assert (await f.readinto(mine), mine) == (sync.readinto(theirs), theirs)
            assert (await f.readinto1(mine), mine) == (sync.readinto1(theirs), theirs)
            assert await f.read1(2) == sync.read1(2)
            assert f._rolled == sync._rolled == (max_size == 1)


@pytest.mark.anyio
async def test_spooled_truncate_within_max_size_as_anyios(tmp_path: Path) -> None:
    async def case(module: Any, work: Path) -> Any:
        async with module.SpooledTemporaryFile(10, dir=str(work)) as f:
            await f.write(b"12345678")
            first = await f.truncate(3)
            await f.seek(0)
            return first, await f.read(), f._rolled

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs == (3, b"123", False)


@pytest.mark.anyio
async def test_spooled_truncate_past_max_size_rolls_over_as_the_standard_module(
    tmp_path: Path,
) -> None:
    # anyio truncates its BytesIO (which cannot grow); the standard module rolls over first,
    # and the file on disk grows with zeros.
    sync = ferrotemp.SpooledTemporaryFile(4, dir=str(tmp_path))
    async with aio.SpooledTemporaryFile(4, dir=str(tmp_path)) as f:
        with sync:
            sync.write(b"ab")
            await f.write(b"ab")
            sync.truncate(8)
            assert await f.truncate(8) == 8
            sync.seek(0)
            await f.seek(0)
            assert (
                (await f.read(), f._rolled)
                == (sync.read(), sync._rolled)
                == (b"ab" + bytes(6), True)
            )


@pytest.mark.anyio
async def test_spooled_file_raises_anyios_exceptions(tmp_path: Path) -> None:
    async def case(module: Any, work: Path) -> Any:
        seen: list[Any] = []
        missing = str(work / "missing")
        f = module.SpooledTemporaryFile(4, dir=missing)
        seen.append(await outcome(lambda: f.write("text into binary")))
        seen.append(await outcome(lambda: f.write(b"12345")))  # the rollover fails
        await f.aclose()
        seen.append(f.closed)
        seen.append(await outcome(lambda: f.read()))
        seen.append(await outcome(lambda: f.write(b"x")))
        text = module.SpooledTemporaryFile(mode="w+", dir=str(work))
        seen.append(await outcome(lambda: text.write(b"bytes into text")))
        await text.aclose()
        return seen

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs
    assert ours[1][:2] == ("raised", FileNotFoundError)


@pytest.mark.anyio
async def test_spooled_fileno_raises_in_memory_as_anyios_and_works_after_rollover(
    tmp_path: Path,
) -> None:
    async def case(module: Any, work: Path) -> Any:
        async with module.SpooledTemporaryFile(100, dir=str(work)) as f:
            await f.write(b"x")
            seen: list[Any] = [await outcome(lambda: checkpointed(f.fileno))]
            await f.write(b"y")
            seen.append(f._rolled)
            await f.rollover()
            seen.append(type(f.fileno()))
            await f.seek(0)
            seen.append(await f.read())
        return seen

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs == [("raised", io.UnsupportedOperation, None), False, int, b"xy"]


async def checkpointed(call: Callable[[], Any]) -> Any:
    return call()


@pytest.mark.anyio
async def test_max_size_zero_never_rolls_over_as_in_the_standard_module(tmp_path: Path) -> None:
    async with aio.SpooledTemporaryFile(dir=str(tmp_path)) as f:
        await f.write(b"x" * 100_000)
        await f.writelines([b"y" * 1000] * 10)
        assert not f._rolled
        assert await f.tell() == 110_000


@pytest.mark.anyio
async def test_a_failed_rollover_keeps_the_data_in_memory(tmp_path: Path) -> None:
    f = aio.SpooledTemporaryFile(4, dir=str(tmp_path / "missing"))
    async with f:
        with pytest.raises(FileNotFoundError):
            await f.write(b"12345")
        assert not f._rolled
        await f.seek(0)
        assert await f.read() == b"12345"


@pytest.mark.anyio
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
async def test_temporary_directory_as_anyios(tmp_path: Path, as_bytes: bool) -> None:
    def arg(s: str) -> Any:
        return os.fsencode(s) if as_bytes else s

    async def case(module: Any, work: Path) -> Any:
        seen: list[Any] = []
        td = module.TemporaryDirectory(suffix=arg("-s"), prefix=arg("p-"), dir=arg(str(work)))
        async with td as name:
            seen.append(type(name))
            base = os.path.basename(name)
            seen.append((base[:2], base[-2:], len(base)))
            seen.append(os.path.dirname(name) == arg(str(work)))
            os.makedirs(os.path.join(name, arg("a"), arg("b")))
            with open(os.path.join(name, arg("a"), arg("f")), "wb") as out:
                out.write(b"x")
        seen.append(os.path.exists(name))
        async with module.TemporaryDirectory(dir=str(work)) as name:
            await td.cleanup()
        async with module.TemporaryDirectory(dir=str(work), delete=False) as kept:
            pass
        seen.append(os.path.isdir(kept))
        if os.path.isdir(kept):
            os.rmdir(kept)
        explicit = module.TemporaryDirectory(dir=str(work))
        name = await explicit.__aenter__()
        await explicit.cleanup()
        seen.append(os.path.exists(name))
        await explicit.cleanup()  # again: nothing there, no error
        return seen

    theirs, ours = await side_by_side(tmp_path, case)
    if sys.version_info < (3, 12):
        # anyio passes `delete` to the standard module only from 3.12, so before that its
        # directory goes at the end of the block whatever delete says.
        theirs[4] = True
    assert ours == theirs


@pytest.mark.anyio
async def test_temporary_directory_errors_as_anyios(tmp_path: Path) -> None:
    async def case(module: Any, work: Path) -> Any:
        seen: list[Any] = []
        missing = str(work / "missing")
        seen.append(await outcome(lambda: module.TemporaryDirectory(dir=missing).__aenter__()))
        mixed = module.TemporaryDirectory(prefix=b"b", dir=str(work))
        seen.append(await outcome(mixed.__aenter__))
        return seen

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs
    assert ours[0][:2] == ("raised", FileNotFoundError)
    assert ours[1][:2] == ("raised", TypeError)


@pytest.mark.anyio
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
async def test_mkstemp_and_mkdtemp_as_anyios(tmp_path: Path, as_bytes: bool) -> None:
    def arg(s: str) -> Any:
        return os.fsencode(s) if as_bytes else s

    async def case(module: Any, work: Path) -> Any:
        seen: list[Any] = []
        fd, path = await module.mkstemp(arg(".s"), arg("p"), arg(str(work)), True)
        seen.append((type(fd), type(path), os.path.dirname(path) == arg(str(work))))
        seen.append(oct(os.stat(path).st_mode & 0o777))
        os.close(fd)
        os.unlink(path)
        made = await module.mkdtemp(arg(".s"), arg("p"), arg(str(work)))
        seen.append((type(made), oct(os.stat(made).st_mode & 0o777)))
        base = os.path.basename(made)
        seen.append((base[:1], base[-2:], len(base)))
        os.rmdir(made)
        seen.append(await outcome(lambda: module.mkstemp(dir=str(work / "missing"))))
        seen.append(await outcome(lambda: module.mkdtemp(dir=str(work / "missing"))))
        seen.append(await outcome(lambda: module.mkstemp(prefix=b"x", suffix="y")))
        return seen

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs
    assert ours[4][:2] == ("raised", FileNotFoundError)


@pytest.mark.anyio
async def test_gettempdir_as_anyios() -> None:
    assert await aio.gettempdir() == await anyio.gettempdir()
    assert await aio.gettempdirb() == await anyio.gettempdirb()


@pytest.mark.anyio
async def test_gettempdir_follows_an_assigned_tempdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ferrotemp, "tempdir", str(tmp_path))
    assert await aio.gettempdir() == str(tmp_path)
    assert await aio.gettempdirb() == os.fsencode(str(tmp_path))


@pytest.mark.anyio
async def test_temporary_file_creation_errors_as_anyios(tmp_path: Path) -> None:
    async def case(module: Any, work: Path) -> Any:
        seen: list[Any] = []
        for cls in (module.TemporaryFile, module.NamedTemporaryFile):
            seen.append(await outcome(cls(dir=str(work / "missing")).__aenter__))
            seen.append(await outcome(cls("wz", dir=str(work)).__aenter__))
            seen.append(await outcome(cls("w", dir=str(work), errors=1).__aenter__))
        return seen

    theirs, ours = await side_by_side(tmp_path, case)
    assert ours == theirs
    assert ours[0][:2] == ("raised", FileNotFoundError)
    assert ours[1][:2] == ("raised", ValueError)


# -- where the work happens ------------------------------------------------------------------


@pytest.mark.anyio
async def test_in_memory_spooled_operations_take_no_thread_hop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops = HopCounter(monkeypatch)
    async with aio.SpooledTemporaryFile(1000, dir=str(tmp_path)) as f:
        for _ in range(10):
            await f.write(b"0123456789")
        await f.writelines([b"a", b"b"])
        await f.seek(0)
        await f.read(5)
        await f.readline()
        await f.tell()
        await f.truncate(50)
        await f.flush()
        assert hops.calls == 0
        await f.write(b"x" * 1000)
        assert f._rolled
        rolled_at = hops.calls
        assert rolled_at >= 1
        await f.write(b"on disk")
        assert hops.calls > rolled_at


@pytest.mark.anyio
async def test_disk_work_runs_in_worker_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops = HopCounter(monkeypatch)
    async with aio.NamedTemporaryFile(dir=str(tmp_path)) as f:
        assert hops.calls == 1
        await f.write(b"x")
        assert hops.calls == 2
    assert hops.calls == 3
    async with aio.TemporaryDirectory(dir=str(tmp_path)):
        assert hops.calls == 4
    assert hops.calls == 5
    fd, path = await aio.mkstemp(dir=str(tmp_path))
    os.close(fd)
    os.unlink(path)
    os.rmdir(await aio.mkdtemp(dir=str(tmp_path)))
    assert hops.calls == 7


@pytest.mark.anyio
@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
async def test_writelines_rolls_over_right_after_the_item_that_crosses(
    tmp_path: Path, text: bool
) -> None:
    f = aio.SpooledTemporaryFile(10, "w+" if text else "w+b", dir=str(tmp_path))
    sync = ferrotemp.SpooledTemporaryFile(10, "w+" if text else "w+b", dir=str(tmp_path))
    for target in (f.wrapped, sync):
        pulled: list[bool] = []

        def items(target: Any = target, pulled: list[bool] = pulled) -> Iterator[Any]:
            for i in range(6):
                pulled.append(target._rolled)
                yield str(i) * 4 if text else bytes([48 + i]) * 4

        if target is sync:
            sync.writelines(items())
        else:
            await f.writelines(items())
        # The third item takes the position to 12 > 10: the fourth finds the file on disk.
        assert pulled == [False, False, False, True, True, True]
    await f.seek(0)
    sync.seek(0)
    assert await f.read() == sync.read()
    await f.aclose()
    sync.close()


@pytest.mark.anyio
async def test_the_loop_keeps_running_while_a_directory_is_removed(tmp_path: Path) -> None:
    td = aio.TemporaryDirectory(dir=str(tmp_path))
    name = await td.__aenter__()
    for i in range(50):
        sub = os.path.join(name, str(i))
        os.mkdir(sub)
        for j in range(40):
            open(os.path.join(sub, str(j)), "wb").close()
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await anyio.sleep(0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0)
        before = ticks
        await td.__aexit__(None, None, None)
        during = ticks - before
        done = True
    assert not os.path.exists(name)
    assert during >= 1


# -- cancellation -----------------------------------------------------------------------------


def _scenarios() -> dict[str, Callable[[Path, list[Any]], Awaitable[None]]]:
    async def named(work: Path, returned: list[Any]) -> None:
        async with aio.NamedTemporaryFile(dir=str(work)) as f:
            await f.write(b"x" * 100)
            await f.flush()
            await anyio.sleep(0)

    async def named_kept(work: Path, returned: list[Any]) -> None:
        async with aio.NamedTemporaryFile(dir=str(work), delete=False) as f:
            returned.append(f.name)
            await f.write(b"x")

    async def unnamed(work: Path, returned: list[Any]) -> None:
        async with aio.TemporaryFile(dir=str(work)) as f:
            await f.write(b"x")
            await f.seek(0)
            await f.read()

    async def spooled(work: Path, returned: list[Any]) -> None:
        async with aio.SpooledTemporaryFile(8, dir=str(work)) as f:
            await f.write(b"1234")
            await f.writelines([b"5678", b"9abc", b"def"])
            await f.seek(0)
            await f.read()
            await f.write(b"more")

    async def spooled_rollover(work: Path, returned: list[Any]) -> None:
        async with aio.SpooledTemporaryFile(dir=str(work)) as f:
            await f.write(b"1234")
            await f.rollover()
            await f.truncate(2)

    async def directory(work: Path, returned: list[Any]) -> None:
        async with aio.TemporaryDirectory(dir=str(work)) as name:
            os.mkdir(os.path.join(name, "sub"))
            open(os.path.join(name, "sub", "f"), "wb").close()
            await anyio.sleep(0)

    async def directory_kept(work: Path, returned: list[Any]) -> None:
        async with aio.TemporaryDirectory(dir=str(work), delete=False) as name:
            returned.append(name)
            await anyio.sleep(0)

    async def directory_cleanup(work: Path, returned: list[Any]) -> None:
        td = aio.TemporaryDirectory(dir=str(work))
        name = await td.__aenter__()
        try:
            open(os.path.join(name, "f"), "wb").close()
            await td.cleanup()
        finally:
            if os.path.exists(name):
                returned.append(name)

    async def functions(work: Path, returned: list[Any]) -> None:
        fd, path = await aio.mkstemp(dir=str(work))
        returned.append(path)
        os.close(fd)
        returned.append(await aio.mkdtemp(dir=str(work)))
        fd, as_bytes = await aio.mkstemp(dir=os.fsencode(str(work)))
        returned.append(os.fsdecode(as_bytes))
        os.close(fd)

    return {
        "named": named,
        "named_kept": named_kept,
        "unnamed": unnamed,
        "spooled": spooled,
        "spooled_rollover": spooled_rollover,
        "directory": directory,
        "directory_kept": directory_kept,
        "directory_cleanup": directory_cleanup,
        "functions": functions,
    }


SCENARIOS = _scenarios()


@pytest.mark.anyio
@pytest.mark.parametrize("during", [False, True], ids=["before-hop", "during-hop"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_cancellation_at_each_await_point_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str, during: bool
) -> None:
    run = SCENARIOS[scenario]
    hops = HopCounter(monkeypatch)
    fds = open_fds()
    # The uncancelled run counts the hops; then a run cancelled at each of them in turn.
    work = tmp_path / "full"
    work.mkdir()
    returned: list[Any] = []
    await run(work, returned)
    total = hops.calls
    # A creation and an end, each a hop; a kept directory's end has nothing to do (no hop).
    assert total >= (1 if scenario == "directory_kept" else 2)
    assert sorted(os.listdir(work)) == sorted(os.path.basename(p) for p in returned)
    for k in range(1, total + 1):
        work = tmp_path / str(k)
        work.mkdir()
        returned = []
        hops.calls = 0
        hops.cancel_at = k
        hops.during = during
        with anyio.CancelScope() as scope:
            hops.scope = scope
            await run(work, returned)
        assert scope.cancel_called, k
        left = sorted(os.listdir(work))
        assert left == sorted(os.path.basename(p) for p in returned), (k, left)
        assert open_fds() <= fds, k


@pytest.mark.anyio
async def test_a_creation_cancelled_while_its_thread_runs_raises_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops = HopCounter(monkeypatch)
    fds = open_fds()
    makers: list[Callable[[], Awaitable[Any]]] = [
        lambda: aio.mkstemp(dir=str(tmp_path)),
        lambda: aio.mkdtemp(dir=str(tmp_path)),
        lambda: aio.NamedTemporaryFile(dir=str(tmp_path), delete=False).__aenter__(),
        lambda: aio.TemporaryFile(dir=str(tmp_path)).__aenter__(),
        lambda: aio.TemporaryDirectory(dir=str(tmp_path), delete=False).__aenter__(),
    ]
    for make in makers:
        hops.calls = 0
        hops.cancel_at = 1
        hops.during = True
        got: list[Any] = []
        with anyio.CancelScope() as scope:
            hops.scope = scope
            got.append(await make())
        assert scope.cancelled_caught
        assert got == []
        assert os.listdir(tmp_path) == []
        assert open_fds() <= fds


# -- crash guard and keep mode ---------------------------------------------------------------

GUARD_CHILD = """
import json, logging, os, sys
import anyio
import ferrotemp.aio as aio

logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")

work = sys.argv[1]

async def main():
    async with aio.NamedTemporaryFile(dir=work) as f, aio.TemporaryDirectory(dir=work) as d:
        await f.write(b"x" * 100)
        await f.flush()
        open(os.path.join(d, "inside"), "wb").close()
        print(json.dumps([f.name, d]), flush=True)
        if os.environ.get("FERROTEMP_KEEP") != "1":
            await anyio.sleep(600)

anyio.run(main)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the crash guard is POSIX-only")
def test_a_killed_process_aio_entries_are_swept(tmp_path: Path) -> None:
    import json
    import signal

    from _support import guard_env

    root = tmp_path / "root"
    work = tmp_path / "work"
    root.mkdir()
    work.mkdir()
    registry = root / f"ferrotemp-guard-{os.geteuid()}"
    child = subprocess.Popen(
        [sys.executable, "-c", GUARD_CHILD, str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=guard_env(registry),
        text=True,
    )
    try:
        assert child.stdout is not None
        names = json.loads(child.stdout.readline())
        assert all(os.path.exists(n) for n in names)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    assert all(os.path.exists(n) for n in names)
    report = ferrotemp.sweep(str(root))
    assert sorted(report.paths) == sorted(names)
    assert os.listdir(work) == []


@pytest.mark.skipif(sys.platform == "win32", reason="the crash guard is POSIX-only")
def test_keep_mode_keeps_aio_entries(tmp_path: Path) -> None:
    import json

    from _support import guard_env

    registry = tmp_path / "registry"
    done = subprocess.run(
        [sys.executable, "-c", GUARD_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        env=guard_env(registry, FERROTEMP_KEEP="1"),
        check=True,
    )
    names = json.loads(done.stdout)
    assert all(os.path.exists(n) for n in names)
    assert os.path.exists(os.path.join(names[1], "inside"))
    logged = [line for line in done.stderr.splitlines() if line.startswith("ferrotemp INFO")]
    assert logged == [f"ferrotemp INFO FERROTEMP_KEEP=1: keeping {p}" for p in names]


# -- the benchmark ----------------------------------------------------------------------------


def test_the_aio_benchmark_runs_small_and_leaves_nothing(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ferrotemp._bench.aio",
            "--files=300",
            "--rounds=1",
            "--writes=100",
            "--write-rounds=1",
            f"--dir={tmp_path}",
            f"--json={tmp_path / 'report.json'}",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    for row in ("ferrotemp.aio", "anyio", "tempfile (sync, in the loop)", "anyio / ferrotemp.aio"):
        assert row in out.stdout
    import json

    report = json.loads((tmp_path / "report.json").read_text())
    assert all(gap > 0 for row in report["latency"].values() for gap in row["gaps_ms"])
    assert os.listdir(tmp_path) == ["report.json"]
