"""Runs CPython's own ``test.test_tempfile`` against ferrotemp installed as ``tempfile``.

The suite comes from the running interpreter's ``test`` package; nothing of it is copied
here. Only the tests listed in ``ALLOWED_FAILURES`` for the running version may fail, each
for the reason given; any other failure fails the run, and so does an allowed one that starts
passing or that is not in this version's suite (so the list stays true).

    python tests/cpython/run_test_tempfile.py            # install() from this process
    python tests/cpython/run_test_tempfile.py --env-only # rely on FERROTEMP_AS_TEMPFILE=1
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import json
import os
import sys
import unittest
from typing import Collection

# Test id -> (the versions on which it may fail, why). Only tests of the standard module's
# private machinery belong here (its name generator, _mkstemp_inner, _candidate_tempdir_list,
# _O_TMPFILE_WORKS, io.open mocks, the exports list). Each entry names exactly the versions
# whose suite has the test and fails it, so one that starts passing is noticed.
_T = "test.test_tempfile."
V310, V311, V312, V313 = (3, 10), (3, 11), (3, 12), (3, 13)
ALL = frozenset({V310, V311, V312, V313})
_INNER = "tests CPython's private _mkstemp_inner, which ferrotemp does not have (Rust creates)"
_MOCK_NAMES = "mocks _get_candidate_names to force collisions; ferrotemp draws names in Rust"
ALLOWED_FAILURES: dict[str, tuple[Collection[tuple[int, int]], str]] = {
    _T + "TestExports.test_exports": (
        ALL,
        "compares dir(tempfile) with a fixed list; ferrotemp also exports install(),"
        " uninstall(), sweep() and SweepReport",
    ),
    _T + "TestGetDefaultTempdir.test_no_files_left_behind": (
        ALL,
        "patches _candidate_tempdir_list and os.open/os.write, which Rust discovery never calls",
    ),
    _T + "TestMkdtemp.test_collision_with_existing_directory": (ALL, _MOCK_NAMES),
    _T + "TestMkdtemp.test_collision_with_existing_file": (ALL, _MOCK_NAMES),
    _T + "TestMkstempInner.test_basic": (ALL, _INNER),
    _T + "TestMkstempInner.test_basic_many": (ALL, _INNER),
    _T + "TestMkstempInner.test_basic_with_bytes_names": (ALL, _INNER),
    _T + "TestMkstempInner.test_choose_directory": (ALL, _INNER),
    _T + "TestMkstempInner.test_collision_with_existing_directory": (ALL, _INNER),
    _T + "TestMkstempInner.test_collision_with_existing_file": (ALL, _INNER),
    _T + "TestMkstempInner.test_file_mode": (ALL, _INNER),
    _T + "TestMkstempInner.test_noinherit": (ALL, _INNER),
    _T + "TestMkstempInner.test_non_directory": (ALL, _INNER),
    _T + "TestMkstempInner.test_nonexisting_directory": (ALL, _INNER),
    # Skipped as root (the directory stays writable for root); runs without DAC_OVERRIDE.
    _T + "TestMkstempInner.test_read_only_directory": (ALL, _INNER),
    _T + "TestNamedTemporaryFile.test_unexpected_error": (
        ALL,
        "mocks io.open and _TemporaryFileWrapper to fail mid-creation; ferrotemp opens the"
        " descriptor in Rust (its own test_bad_input_* cover cleanup after such failures)",
    ),
    _T + "TestTemporaryFile.test_unexpected_error": (
        ALL,
        "mocks _O_TMPFILE_WORKS, os.open and os.unlink; ferrotemp makes the file in Rust",
    ),
}


def _parent_id(test: unittest.TestCase) -> str:
    """A subtest's failure counts against the test that holds it."""
    parent = getattr(test, "test_case", None)
    return parent.id() if isinstance(parent, unittest.TestCase) else test.id()


def _suite_ids(suite: unittest.TestSuite) -> set[str]:
    ids: set[str] = set()
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            ids |= _suite_ids(item)
        else:
            ids.add(item.id())
    return ids


def _summary(trace: str) -> str:
    """The last line of a traceback: the exception and its message."""
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def allowed_for(version: tuple[int, int]) -> dict[str, str]:
    """Test id -> reason, for the tests that may fail on this Python version."""
    return {
        test_id: reason
        for test_id, (versions, reason) in ALLOWED_FAILURES.items()
        if version in versions
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-only", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--report", help="also write the counts and failures here as JSON")
    args = parser.parse_args()

    if args.env_only:
        # Installed at startup by the .pth hook, before this script ran.
        if "tempfile" not in sys.modules or sys.modules["tempfile"].__name__ != "ferrotemp":
            print("FERROTEMP_AS_TEMPFILE=1 did not install ferrotemp at startup", file=sys.stderr)
            return 2
    # Children the suite starts (`python -I -c ...`) inherit this and install at startup
    # through ferrotemp's .pth hook, so they exercise ferrotemp too.
    os.environ["FERROTEMP_AS_TEMPFILE"] = "1"
    import ferrotemp

    if not args.env_only:
        ferrotemp.install()
    import tempfile

    if tempfile is not ferrotemp:
        print("tempfile is not ferrotemp: the install did not take", file=sys.stderr)
        return 2

    test_tempfile = importlib.import_module("test.test_tempfile")
    suite = unittest.defaultTestLoader.loadTestsFromModule(test_tempfile)
    present = _suite_ids(suite)
    # The runner's own output (a traceback for every allowed failure) only with --verbose:
    # the summary below names each failure, with the whole traceback of unexpected ones.
    stream = sys.stdout if args.verbose else io.StringIO()
    runner = unittest.TextTestRunner(stream=stream, verbosity=2 if args.verbose else 0)
    # The allowed _mkstemp_inner failures leave half-made helper objects whose __del__ raises
    # when collected; those are counted, anything else unraisable is reported as usual.
    unraisable: list[object] = []
    sys.unraisablehook = unraisable.append
    try:
        result = runner.run(suite)
        del suite, runner
        gc.collect()
    finally:
        sys.unraisablehook = sys.__unraisablehook__
    from_allowed = 0
    for event in unraisable:
        where = getattr(getattr(event, "object", None), "__qualname__", "")
        if where == "TestMkstempInner.mkstemped.__del__":
            from_allowed += 1
        else:
            sys.__unraisablehook__(event)  # type: ignore[arg-type]

    version = sys.version_info[:2]
    allowed = allowed_for(version)
    traces: dict[str, str] = {}
    full_traces: dict[str, str] = {}
    for test, trace in result.failures + result.errors:
        traces.setdefault(_parent_id(test), _summary(trace))
        full_traces.setdefault(_parent_id(test), trace)
    failed = set(traces)
    unexpected = sorted(failed - allowed.keys())
    # Listed for this version but not in its suite: the list is wrong for this version.
    missing = sorted(allowed.keys() - present)
    # A skipped test did not pass (root skips the read-only directory tests, for one).
    skipped_ids = {_parent_id(test) for test, _ in result.skipped}
    now_passing = sorted((allowed.keys() & present) - failed - skipped_ids)
    skipped = len(result.skipped)
    passed = result.testsRun - len(failed) - skipped

    tag = f"{version[0]}.{version[1]}"
    for test_id in sorted(failed & allowed.keys()):
        print(f"allowed failure ({tag}): {test_id}: {allowed[test_id]}")
    for test_id in unexpected:
        print(f"UNEXPECTED FAILURE ({tag}): {test_id}: {traces[test_id]}")
        if not args.verbose:
            print(full_traces[test_id].rstrip())
    for test_id in now_passing:
        print(f"NOW PASSING on {tag} (remove it from ALLOWED_FAILURES for {tag}): {test_id}")
    for test_id in missing:
        print(f"NOT IN {tag}'S SUITE (remove it from ALLOWED_FAILURES for {tag}): {test_id}")
    n_allowed = len(failed) - len(unexpected)
    # "failed" counts failures outside the allowed list: those fail the run.
    if from_allowed:
        print(f"({from_allowed} ignored errors in __del__ of the allowed _mkstemp_inner tests)")
    print(
        f"test_tempfile ({tag}): {passed} passed, {len(unexpected)} failed, {skipped} skipped,"
        f" {n_allowed} allowed failures (listed above)"
    )
    if args.report:
        with open(args.report, "w") as out:
            json.dump(
                {
                    "version": tag,
                    "passed": passed,
                    "failed": len(unexpected),
                    "skipped": skipped,
                    "allowed": n_allowed,
                    "now_passing": len(now_passing),
                    "missing": len(missing),
                    "unexpected": {test_id: traces[test_id] for test_id in unexpected},
                },
                out,
                indent=1,
            )
    return 1 if unexpected or now_passing or missing else 0


if __name__ == "__main__":
    sys.exit(main())
