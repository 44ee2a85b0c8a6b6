# The developer's entry points. `make test` is what CI runs (.ci/run calls it).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MATURIN_VERSION := 1.16.0
# Every supported CPython: `make test` runs the suites on each, from pyenv, in its own venv
# (.venvs/<version>). A missing one fails the gate. Narrow it while iterating, not in CI.
PYTHON_VERSIONS ?= 3.9 3.10 3.11 3.12 3.13

.PHONY: venv build-dev lint lint-rust lint-python test test-rust test-python test-cpython test-matrix typecheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# A venv made by hand gets maturin too.
$(VENV)/bin/maturin: | $(PY)
	$(PY) -m pip install -q maturin==$(MATURIN_VERSION)

venv: $(VENV)/bin/maturin

# Builds the abi3 wheel and installs it (not an editable install: the tests then run against
# exactly what users get, .pth hook included), with the test dependencies.
build-dev: $(VENV)/bin/maturin
	rm -rf dist
	$(VENV)/bin/maturin build -q --release --out dist
	$(PY) -m pip install -q --force-reinstall --no-deps dist/ferrotemp-*.whl
	$(PY) -m pip install -q --find-links dist "ferrotemp[test]"

lint-rust:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q

lint-python: build-dev
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches

lint: lint-rust lint-python

test-rust:
	cargo test

# The quick loops on the default interpreter only (.venv); `make test` runs them everywhere.
test-python: build-dev
	$(PY) -m pytest -m "not typecheck"

# CPython's own test_tempfile against ferrotemp: installed by install(), then at startup.
test-cpython: build-dev
	$(PY) tests/cpython/run_test_tempfile.py
	FERROTEMP_AS_TEMPFILE=1 $(PY) tests/cpython/run_test_tempfile.py --env-only

# The pytest suite and CPython's test_tempfile (both modes) against the one wheel built above,
# on each of PYTHON_VERSIONS, as root and with the DAC capabilities dropped; ends with a table.
test-matrix: build-dev
	$(PY) tests/run_matrix.py --wheel "$$(ls dist/ferrotemp-*.whl)" --versions $(PYTHON_VERSIONS)

# Once, not per interpreter: the checkers target each supported version themselves.
typecheck: build-dev
	$(PY) -m mypy --strict python tests/python tests/cpython tests/run_matrix.py benches
	$(PY) -m mypy.stubtest ferrotemp --allowlist tests/stubtest_allowlist.txt
	$(PY) -m pytest -p no:cacheprovider -m typecheck

test: lint test-rust typecheck test-matrix

bench: build-dev
	$(PY) benches/bench.py

clean:
	rm -rf $(VENV) .venvs target python/ferrotemp/*.so
