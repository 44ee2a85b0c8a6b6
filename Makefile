# The developer's entry points. `make test` is what CI runs (.ci/run calls it).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MATURIN_VERSION := 1.16.0
# Every supported CPython: `make test` runs the suites on each, from pyenv, in its own venv
# (.venvs/<version>). A missing one fails the gate. Narrow it while iterating, not in CI.
PYTHON_VERSIONS ?= 3.10 3.11 3.12 3.13

# Cargo features of the extension crate (crates/ferrotemp-python) in the wheel that build-dev
# makes and every test runs: `bench` adds the benchmark's Rust syscall floor (two underscore
# functions that tests/python/test_bench.py and the stubs cover). A wheel built without it
# (`pip install .`, `BUILD_FEATURES= make build-dev`) is the released module; its
# `ferrotemp bench` reports the Python floor only.
BUILD_FEATURES ?= bench

HYBRID_DIST := dist/hybrid

.PHONY: venv build-dev check-install build-hybrid test-hybrid check-pyo3-pins lint lint-rust lint-python test test-rust test-python test-cpython test-matrix typecheck bench check-rlib clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# A venv made by hand gets maturin too.
$(VENV)/bin/maturin: | $(PY)
	$(PY) -m pip install -q maturin==$(MATURIN_VERSION)

venv: $(VENV)/bin/maturin

# Builds the abi3 wheel and installs it (not an editable install: the tests then run against
# exactly what users get, .pth hook included, and the native `ferrotemp` command the build
# backend puts in it), with the test dependencies.
build-dev: $(VENV)/bin/maturin
	rm -rf dist
	$(PY) build_backend/ferrotemp_build.py >/dev/null
	$(VENV)/bin/maturin build -q --release --out dist $(if $(BUILD_FEATURES),--features $(BUILD_FEATURES))
	$(PY) -m pip install -q --force-reinstall --no-deps dist/ferrotemp-*.whl
	$(PY) -m pip install -q --find-links dist "ferrotemp[test]"
	$(MAKE) --no-print-directory build-hybrid

# What a user's install gets, from the sdist (as pip builds it, through the build backend,
# in an isolated environment with maturin from PyPI): the wheel's `ferrotemp` script is the
# native command (an executable, not a script), which runs a job itself and hands `--version`
# to the Python command line installed beside it.
check-install: $(VENV)/bin/maturin
	@set -e; scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	mkdir -p target/wheel-data; \
	$(VENV)/bin/maturin sdist -o "$$scratch/sdist" >"$$scratch/sdist.log" 2>&1 \
		|| { cat "$$scratch/sdist.log"; exit 1; }; \
	$(PYTHON) -m venv "$$scratch/venv"; \
	"$$scratch/venv/bin/pip" install -q "$$scratch"/sdist/ferrotemp-*.tar.gz; \
	test "$$(head -c 2 "$$scratch/venv/bin/ferrotemp")" != "#!"; \
	"$$scratch/venv/bin/ferrotemp" run --dir "$$scratch" -- sh -c 'case "$$TMPDIR" in "$$0"/sh-*) test -d "$$TMPDIR";; *) exit 1;; esac' "$$scratch"; \
	env -u FERROTEMP_PYTHON "$$scratch/venv/bin/ferrotemp" --version; \
	test -z "$$(ls "$$scratch" | grep -v -e '^sdist' -e '^venv$$')"; \
	echo "check-install: the sdist installs the native ferrotemp command"

# The example Rust+Python hybrid (examples/hybrid: a PyO3 module of its own, linking its own
# copy of the core): an abi3 wheel, a debug build (its tests need no speed), installed beside
# ferrotemp; tests/python/test_hybrid.py tests it on every interpreter (`make test-matrix`).
build-hybrid: $(VENV)/bin/maturin
	rm -rf $(HYBRID_DIST)
	$(VENV)/bin/maturin build -q -m examples/hybrid/Cargo.toml --out $(HYBRID_DIST)
	$(PY) -m pip install -q --force-reinstall --no-deps $(HYBRID_DIST)/*.whl

# The hybrid's tests alone, on the default interpreter.
test-hybrid: build-dev
	$(PY) -m pytest -q -m "not typecheck" tests/python/test_hybrid.py

# The core alone (no pyo3 at all), the core as a hybrid extension takes it (`python`), then
# the whole workspace: the core as the extension crate uses it, and every feature of both.
lint-rust:
	cargo fmt --all --check
	cargo clippy -p ferrotemp --all-targets -- -D warnings
	cargo clippy -p ferrotemp --all-targets --features python -- -D warnings
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q -p ferrotemp
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q --workspace --all-features

lint-python: build-dev
	$(VENV)/bin/ruff check python tests benches examples/hybrid
	$(VENV)/bin/ruff format --check python tests benches examples/hybrid

lint: lint-rust lint-python

# The core crate alone (the root package: `cargo test` does not build the extension crate),
# then the `ferrotemp::python` example a hybrid would copy, compiled against pyo3.
test-rust: check-rlib check-pyo3-pins
	cargo test
	cargo test -q -p ferrotemp --features python --doc python

# A Rust crate that depends on ferrotemp (a scratch crate in a temporary directory, with the
# project's lock file) builds the rlib only: no shared library, no PyInit symbol, no pyo3.
check-rlib:
	@set -e; scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	mkdir "$$scratch/src"; cp Cargo.lock "$$scratch/"; \
	printf '[package]\nname = "rlib-check"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\nferrotemp = { path = "%s" }\n' "$(CURDIR)" >"$$scratch/Cargo.toml"; \
	printf 'fn main() {\n    drop(ferrotemp::TempDir::new());\n}\n' >"$$scratch/src/main.rs"; \
	cargo build -q --manifest-path "$$scratch/Cargo.toml"; \
	if cargo tree -q --manifest-path "$$scratch/Cargo.toml" | grep -q pyo3; then echo "check-rlib: pyo3 in the tree" >&2; exit 1; fi; \
	if find "$$scratch/target" -name '*.so' -o -name '*.dylib' -o -name '*.dll' | grep .; then echo "check-rlib: a shared library was built" >&2; exit 1; fi; \
	if nm "$$scratch/target/debug/rlib-check" | grep PyInit; then echo "check-rlib: PyInit symbol" >&2; exit 1; fi; \
	echo "check-rlib: a dependent crate builds ferrotemp as an rlib only"

# An extension that pins another patch release of pyo3 0.27 builds against ferrotemp (its
# `python` feature takes pyo3 as the range "0.27"): the example hybrid's code in a scratch
# crate, checked with each pin (0.27.2, the lock file's, is the workspace's own). The pins'
# builds share target/pyo3-pins; the first run fetches them from crates.io.
PYO3_PINS ?= 0.27.0 0.27.1
check-pyo3-pins:
	@set -e; scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	mkdir "$$scratch/src"; cp examples/hybrid/src/lib.rs "$$scratch/src/lib.rs"; \
	for pin in $(PYO3_PINS); do \
		printf '[package]\nname = "pyo3-pin-check"\nversion = "0.0.0"\nedition = "2021"\n\n[lib]\nname = "ferrotemp_hybrid_example"\ncrate-type = ["cdylib"]\n\n[dependencies]\nferrotemp = { path = "%s", features = ["python"] }\npyo3 = { version = "=%s", features = ["abi3-py310"] }\n\n[workspace]\n' "$(CURDIR)" "$$pin" >"$$scratch/Cargo.toml"; \
		rm -f "$$scratch/Cargo.lock"; \
		CARGO_TARGET_DIR="$(CURDIR)/target/pyo3-pins" cargo check -q --manifest-path "$$scratch/Cargo.toml"; \
		cargo tree -q --manifest-path "$$scratch/Cargo.toml" -i pyo3 --depth 0 | grep -qx "pyo3 v$$pin"; \
		echo "check-pyo3-pins: the example hybrid builds with pyo3 =$$pin"; \
	done

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
	$(PY) tests/run_matrix.py --wheel "$$(ls dist/ferrotemp-*.whl)" --extra-wheels $(HYBRID_DIST)/*.whl \
		--versions $(PYTHON_VERSIONS)

# Once, not per interpreter: the checkers target each supported version themselves.
typecheck: build-dev
	$(PY) -m mypy --strict python tests/python tests/cpython tests/run_matrix.py benches
	$(PY) -m mypy.stubtest ferrotemp --allowlist tests/stubtest_allowlist.txt
	$(PY) -m pytest -p no:cacheprovider -m typecheck

test: lint test-rust typecheck check-install test-matrix

bench: build-dev
	$(PY) benches/bench.py

clean:
	rm -rf $(VENV) .venvs target python/ferrotemp/*.so
