# tlslens — `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := tests/vectors/captures/demo-tls12-tls13.pcapng
# The demo's own key log and the lab root it chains to: decryption, both Finished
# verified and a trusted chain, from the first command.
DEMO_ARGS := --keylog tests/vectors/captures/demo-tls12-tls13.keys --ca tests/vectors/pki/root.pem

PINS := constraints.txt
# The Rust core (tlslens._core): a change to any of these rebuilds it on the next make.
RUST_SOURCES := Cargo.toml Cargo.lock $(shell find crates -path '*/fuzz' -prune -o \( -name '*.rs' -o -name Cargo.toml \) -print)

.PHONY: bytecode demo test lint typecheck rust unit bench captures registry pins limbo fuzz adversarial clean

# Every package at the version constraints.txt names: a new release of a linter or a
# dependency cannot turn CI red on its own.
# pip builds the Rust core through maturin (pyproject's build-system) with cargo.
$(STAMP): pyproject.toml $(PINS) $(RUST_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(PINS) --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(PINS) -e '.[dev]'
	$(MAKE) bytecode
	touch $(STAMP)

# An editable install leaves src/ without bytecode, and where PYTHONDONTWRITEBYTECODE is set
# (as in many containers) every run would compile 70 modules again: 0.15 s of a 0.3 s start.
# pip compiles a regular install; this does it for ours (a stale file is only recompiled).
# demo and unit run it too: a source changed since the install (a pull, an edit) would
# otherwise be compiled again by every run (0.1 s when nothing changed).
bytecode:
	$(BIN)/python -m compileall -q src

demo: $(STAMP) bytecode
	$(BIN)/tlslens show $(DEMO) $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests tools bench
	$(BIN)/ruff format --check src tests tools bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) bytecode
	$(BIN)/python -bb -m pytest -q

# The Rust crates: formatted, no clippy warning, their unit tests and the fuzz corpus replayed.
rust:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings -W clippy::too_many_lines
	cargo test --workspace --quiet

test: lint typecheck rust unit

bench: $(STAMP) bytecode
	$(BIN)/python bench/bench_show.py
	$(BIN)/python bench/bench_decrypt.py

# The x509-limbo suite through tlslens' validation (tests/test_limbo.py asserts the figures).
limbo: $(STAMP)
	$(BIN)/python tools/limbo.py --out limbo-results.json

# Coverage-guided fuzzing of every parser, FUZZ_SECONDS per target (crashes go to
# tests/vectors/fuzz/, which tests/test_fuzz.py replays).
FUZZ_SECONDS ?= 60
# The core's cargo-fuzz targets too (cargo-fuzz installed if missing; RUSTC_BOOTSTRAP lets
# the stable toolchain take its sanitizer flags); new crashes go to the crate's
# fuzz/artifacts/, which `cargo test` replays with the corpus.
CORE_FUZZ_TARGETS := capture flows records session protection extensions handshake dtls quic_packet decrypt fingerprint content
fuzz: $(STAMP)
	$(BIN)/python tools/fuzz.py all --seconds $(FUZZ_SECONDS)
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	for target in $(CORE_FUZZ_TARGETS); do \
	  (cd crates/tlslens-core && RUSTC_BOOTSTRAP=1 cargo fuzz run $$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=8192) || exit 1; \
	done

# The adversarial capture set, built and checked (time against a normal capture, peak RSS).
adversarial: $(STAMP)
	$(BIN)/python tools/adversarial.py --out bench/work/adversarial --check

captures: $(STAMP)
	$(BIN)/python tools/record_captures.py

registry: $(STAMP)
	$(BIN)/python tools/gen_registry.py

# Re-resolve every dependency to its newest release and write the pins.
pins:
	rm -rf .venv-pins
	$(PYTHON) -m venv .venv-pins
	.venv-pins/bin/python -m pip install --quiet --upgrade pip
	.venv-pins/bin/python -m pip install --quiet '.[dev]'
	{ sed -n '/^#/p' $(PINS); .venv-pins/bin/python -m pip freeze --all --exclude tlslens \
	  --exclude setuptools | grep -v '^-e'; } > $(PINS).new
	mv $(PINS).new $(PINS)
	rm -rf .venv-pins build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
